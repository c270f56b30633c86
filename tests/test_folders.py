"""Image folders (`folder:DIR`): reading, skipping bad files, staying inside DIR, training, predicting names."""

import json
import logging

import numpy as np
import pytest
from PIL import Image

from digitlab.data import load_dataset
from digitlab.data.folders import fit_picture
from digitlab.errors import DataError
from tests.helpers import make_picture_folder, run_cli


@pytest.fixture(scope="module")
def pictures(tmp_path_factory):
    root = make_picture_folder(tmp_path_factory.mktemp("pictures") / "sun-vs-stripes", per_class=150)
    (root / "sun" / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    (root / "stripes" / "empty.png").write_bytes(b"")
    (root / "sun" / "notes.txt").write_text("not a picture: ignored, not counted as bad")
    return root


def test_folder_reads_classes_splits_and_skips_bad_pictures(pictures, tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger="digitlab"):
        data = load_dataset(f"folder:{pictures}", data_dir=tmp_path, image_size=40)
    assert data.classes == ["stripes", "sun"]
    assert len(data.train) + len(data.test) == 300  # the two bad files are skipped, the text file ignored
    assert len(data.test) == 60
    assert data.train.images.shape[1:] == (3, 40, 40)  # colour: some pictures are colour
    assert "skipped 2 unreadable picture(s)" in caplog.text
    assert len(data.mean) == len(data.std) == 3


def test_second_load_comes_from_the_cache_and_a_changed_file_invalidates_it(pictures, tmp_path, caplog):
    first = load_dataset(f"folder:{pictures}", data_dir=tmp_path, image_size=24)
    with caplog.at_level(logging.INFO, logger="digitlab"):
        again = load_dataset(f"folder:{pictures}", data_dir=tmp_path, image_size=24)
    assert "read from the cache" in caplog.text
    assert np.array_equal(first.train.images.numpy(), again.train.images.numpy())
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="digitlab"):
        load_dataset(f"folder:{pictures}", data_dir=tmp_path, image_size=32)  # another size: decoded anew
    assert "read from the cache" not in caplog.text
    for cached in (tmp_path / "folders").glob("*.npz"):
        cached.write_bytes(cached.read_bytes()[:1000])  # a cache file cut short (disk full, killed copy)
    damaged = load_dataset(f"folder:{pictures}", data_dir=tmp_path, image_size=24)
    assert np.array_equal(first.train.images.numpy(), damaged.train.images.numpy())  # decoded again


def test_grey_folder_gives_one_channel_and_train_test_layout_is_kept(tmp_path):
    for split, n in (("train", 6), ("test", 3)):
        for cls, level in (("dark", 30), ("light", 220)):
            (tmp_path / "d" / split / cls).mkdir(parents=True)
            for i in range(n):
                Image.new("L", (50 + i, 30), level).save(tmp_path / "d" / split / cls / f"{i}.png")
    data = load_dataset(f"folder:{tmp_path / 'd'}", data_dir=tmp_path / "cache", image_size=16)
    assert (len(data.train), len(data.test)) == (12, 6)
    assert data.train.images.shape[1:] == (1, 16, 16)
    assert data.classes == ["dark", "light"]


def test_links_leading_outside_the_folder_are_refused(tmp_path):
    root = make_picture_folder(tmp_path / "d", per_class=4)
    secret = tmp_path / "secret.png"
    Image.new("RGB", (30, 30), (1, 2, 3)).save(secret)
    (root / "sun" / "link.png").symlink_to(secret)
    data = load_dataset(f"folder:{root}", data_dir=tmp_path / "cache", image_size=16)
    assert len(data.train) + len(data.test) == 8  # the link is not read

    (root / "outside").symlink_to(tmp_path, target_is_directory=True)
    with pytest.raises(DataError, match="leads outside the data folder"):
        load_dataset(f"folder:{root}", data_dir=tmp_path / "cache", image_size=16)


def test_bad_folders_are_one_line_errors(tmp_path):
    (tmp_path / "one" / "only").mkdir(parents=True)
    assert run_cli("train", "--dataset", f"folder:{tmp_path / 'missing'}").stderr.strip().endswith("no such folder")
    single = run_cli("train", "--dataset", f"folder:{tmp_path / 'one'}")
    assert single.returncode == 2 and "at least two class folders" in single.stderr
    assert "Traceback" not in single.stderr
    (tmp_path / "unreadable" / "a").mkdir(parents=True)
    (tmp_path / "unreadable" / "b").mkdir()
    (tmp_path / "unreadable" / "a" / "x.png").write_bytes(b"junk")
    bad = run_cli("train", "--dataset", f"folder:{tmp_path / 'unreadable'}", "--data-dir", str(tmp_path / "c"))
    assert bad.returncode == 2 and "no readable pictures for class(es) a, b" in bad.stderr
    sized = run_cli("train", "--dataset", "mnist-5k", "--image-size", "32")
    assert sized.returncode == 2 and "--image-size applies to folder: data sets" in sized.stderr


def test_fit_picture_keeps_the_aspect_ratio():
    wide = np.zeros((20, 60, 3), np.uint8)
    wide[:, :20] = (255, 0, 0)
    wide[:, 20:40] = (0, 255, 0)
    wide[:, 40:] = (0, 0, 255)
    fitted = fit_picture(Image.fromarray(wide), 10)
    assert fitted.shape == (3, 10, 10)
    assert fitted[1].min() > 200 and fitted[0].max() < 50  # the centre third (green) fills the square


def test_zoo_model_learns_the_folder_and_predict_prints_class_names(pictures, tmp_path):
    run = tmp_path / "run"
    result = run_cli("train", "--dataset", f"folder:{pictures}", "--image-size", "32", "--model", "digitnet",
                     "--epochs", "4", "--out", str(run), "--data-dir", str(tmp_path / "cache"), "--json",
                     "--no-progress")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["test_accuracy"] > 0.95
    files = [pictures / "sun" / "0003.png", pictures / "stripes" / "0004.jpg"]
    predicted = run_cli("predict", "--checkpoint", str(run), *map(str, files))
    assert predicted.returncode == 0, predicted.stderr
    assert predicted.stdout.splitlines()[0].split()[1] == "sun"
    assert predicted.stdout.splitlines()[1].split()[1] == "stripes"
    assert run_cli("export", "--checkpoint", str(run), "--out", str(tmp_path / "m.onnx")).returncode == 0
    by_onnx = run_cli("predict", "--model", str(tmp_path / "m.onnx"), *map(str, files))
    assert [line.split()[1] for line in by_onnx.stdout.splitlines()] == ["sun", "stripes"]
    served = run_cli("serve", "--checkpoint", str(run), "--port", "0", "--db", str(tmp_path / "s.sqlite"))
    assert served.returncode == 2 and "serves digit models" in served.stderr  # the board draws digits only
