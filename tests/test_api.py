"""digitlab from Python (digitlab/api.py): every kind of picture, one or a list, the same answers as the command
line, and digitlab's own exceptions for what a user can get wrong."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image

import digitlab
from digitlab.analysis.pictures import PageStyle, number_picture, page_photo
from digitlab.data import load_dataset
from digitlab.errors import CheckpointError, ConfigError, DigitlabError, ImageNotFound, NotAnImage
from tests.helpers import run_cli


@pytest.fixture(scope="module")
def reader(reader_run):
    return digitlab.load(reader_run)


@pytest.fixture(scope="module")
def pictures(tmp_path_factory):
    """A number (PNG) and a page photo (JPEG) as files."""
    folder = tmp_path_factory.mktemp("pictures")
    test = load_dataset("mnist-5k").test
    digits, labels = test.images[:, 0].numpy(), test.labels.numpy()
    number, _ = number_picture([digits[0], digits[1], digits[2]], gap=6, scale=3)
    number.save(folder / "number.png")
    page = page_photo(["31 27", "4.5"], {d: digits[labels == d] for d in range(10)}, np.random.default_rng(1),
                      PageStyle(size=(900, 600), digit_height=50, paper="ruled"))
    page.picture.save(folder / "page.jpg", quality=90)
    return {"number": folder / "number.png", "page": folder / "page.jpg"}


def _every_kind(path):
    """The same picture as a path, bytes, a binary file, a PIL image, NumPy arrays (grey uint8, RGB float)."""
    data = path.read_bytes()
    image = Image.open(io.BytesIO(data))
    image.load()
    return {"path": str(path), "bytes": data, "file": io.BytesIO(data), "pil": image,
            "grey uint8": np.asarray(image.convert("L")), "rgb float": np.asarray(image.convert("RGB")) / 255.0}


def _without_image(answer: dict) -> dict:
    return {k: v for k, v in answer.items() if k != "image"}


def test_predict_on_every_kind_of_picture_answers_as_the_command_does(reader_run, reader, pictures):
    cli = json.loads(run_cli("predict", "--checkpoint", str(reader_run), str(pictures["number"]), "--json").stdout)
    for kind, picture in _every_kind(pictures["number"]).items():
        result = reader.predict(picture)
        assert isinstance(result, digitlab.DigitResult), kind
        assert result.prediction == max(result.probabilities, key=result.probabilities.get) or not result.is_digit
        if kind in ("path", "bytes", "file", "pil"):  # the same pixels: the same answer to the digit
            assert _without_image(result.to_dict()) == _without_image(cli[0]), kind
        else:  # a grey or RGB array of the picture: the same reading, probabilities to rounding
            assert result.prediction == cli[0]["prediction"] and result.is_digit == cli[0]["is_digit"], kind
    assert reader.predict(str(pictures["number"])).to_dict() == cli[0]  # the image's path included


def test_read_on_every_kind_of_picture_answers_as_the_command_does(reader_run, reader, pictures):
    cli = json.loads(run_cli("read", "--checkpoint", str(reader_run), str(pictures["page"]), "--json").stdout)[0]
    assert cli["text"] == "31 27\n4.5"
    for kind, picture in _every_kind(pictures["page"]).items():
        result = reader.read(picture)
        assert isinstance(result, digitlab.PageResult) and result.text == cli["text"], kind
        assert [line.text for line in result.lines] == ["31 27", "4.5"] and len(result.digits) == 7
        if kind in ("path", "bytes", "file", "pil", "rgb float"):
            assert _without_image(result.to_dict()) == _without_image(cli), kind
    assert reader.read(str(pictures["page"])).to_dict() == cli


def test_one_picture_gives_one_result_and_a_list_a_list(reader, pictures):
    one = reader.predict(str(pictures["number"]))
    both = reader.predict([str(pictures["number"]), pictures["number"].read_bytes()])
    assert isinstance(both, list) and len(both) == 2 and both[0].to_dict() == one.to_dict()
    assert both[1].image is None and both[0].image == str(pictures["number"])
    pages = reader.read([str(pictures["page"]), str(pictures["number"])])
    assert [p.text for p in pages] == ["31 27\n4.5", reader.read(str(pictures["number"])).text]


def test_what_a_user_gets_wrong_raises_digitlabs_own_exceptions(reader, tmp_path):
    with pytest.raises(ImageNotFound, match="no such file") as missing:
        reader.predict(str(tmp_path / "nope.png"))
    assert isinstance(missing.value, FileNotFoundError) and isinstance(missing.value, DigitlabError)
    cases = [b"not a picture", np.zeros((2, 3, 5)), np.full((20, 20), 3.0), np.full((20, 20), np.nan), 42,
             open(__file__)]  # noqa: SIM115 - a text file object is the mistake under test
    for case in cases:
        with pytest.raises(NotAnImage):
            reader.read(case)
    cases[-1].close()
    with pytest.raises(ConfigError, match="top must be at least 1"):
        reader.predict(np.zeros((28, 28), np.uint8), top=0)
    with pytest.raises(CheckpointError):
        digitlab.load(tmp_path / "no-such-run")
    with pytest.raises(ConfigError, match="not both"):
        digitlab.load(tmp_path / "a", model=tmp_path / "b.onnx")
