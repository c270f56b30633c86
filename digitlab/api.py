"""digitlab from Python: the digits and pages in pictures, read in two lines.

    import digitlab
    reader = digitlab.load()                      # the default model (trained once, cached), or load("runs/x/")
    reader.predict("digit.png").prediction        # '7'
    reader.read("page.jpg").text                  # '12/04 13:45\\n3.14 -5'

A picture is a path, bytes, a binary file object, a PIL image or a NumPy array (grey (H, W) or colour
(H, W, 3|4), uint8 or float in [0, 1], as OpenCV and Pillow give them: RGB, not BGR); one picture gives one
result, a list gives a list. Results are dataclasses whose `to_dict()` is exactly what `digitlab predict
--json` and `digitlab read --json` print: the command line is built on this module. Problems a user can cause
raise digitlab's own exceptions (digitlab.errors: ImageNotFound, NotAnImage, ImageTooLarge, CheckpointError,
...), never SystemExit.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
from PIL import Image

from digitlab.errors import ConfigError, NotAnImage
from digitlab.reading.confidence import REVIEW_BELOW
from digitlab.reading.elements import ReadDigit, ReadLine, ReadPage
from digitlab.reading.images import load_image, load_photo
from digitlab.reading.page import read_page

Picture = str | os.PathLike | bytes | bytearray | BinaryIO | Image.Image | np.ndarray


@dataclass
class DigitResult:
    """What `predict` says of one picture (`digitlab predict --json`, one item)."""
    image: str | None          # the file's path, None for a picture given in memory
    prediction: str            # the best class (for a digit model, the best digit even when is_digit is False)
    probabilities: dict[str, float]
    top: list[dict]
    is_digit: bool
    digit_score: float | None  # log-odds that it is a digit at all; None for a model that cannot refuse
    input: np.ndarray | None = field(default=None, repr=False)  # what the model read (uint8 28x28 for digits)

    def to_dict(self) -> dict:
        return {"image": self.image, "prediction": self.prediction, "top": self.top, "is_digit": self.is_digit,
                "digit_score": self.digit_score, "probabilities": self.probabilities}


@dataclass
class PageResult:
    """What `read` says of one picture (`digitlab read --json`, one item): its lines, numbers and characters."""
    image: str | None
    page: ReadPage = field(repr=False)

    @property
    def text(self) -> str:
        return self.page.text

    @property
    def lines(self) -> list[ReadLine]:
        return self.page.lines

    @property
    def digits(self) -> list[ReadDigit]:
        return self.page.digits

    @property
    def turn(self) -> int:
        return self.page.turn

    def to_dict(self) -> dict:
        return {"image": self.image, **self.page.to_dict()}


class Reader:
    """A model that reads: `predict` for single digits (or a picture model's classes), `read` for pages."""

    def __init__(self, predictor, source: str):
        self.predictor, self.source = predictor, source

    @property
    def classes(self) -> list[str]:
        return self.predictor.classes

    def predict(self, pictures: Picture | list[Picture], top: int = 3):
        """The class of each picture: a DigitResult, or a list of them for a list."""
        if top < 1:
            raise ConfigError(f"top must be at least 1, not {top}")
        many = isinstance(pictures, (list, tuple))
        opened = [_open(p, photo=False) for p in (pictures if many else [pictures])]
        inputs = self.predictor.inputs([picture for picture, _, _ in opened])
        answers = self.predictor.predict_arrays(inputs)
        results = [DigitResult(name, a.name, dict(zip(self.classes, a.probabilities)), a.top(top, self.classes),
                               a.is_digit, a.digit_score, array)
                   for (_, _, name), a, array in zip(opened, answers, inputs)]
        return results if many else results[0]

    def read(self, pictures: Picture | list[Picture], signs: bool = True, upright: bool = True,
             review_below: float = REVIEW_BELOW):
        """The lines of numbers in each picture: a PageResult, or a list of them for a list. `signs`: read
        . , - / : too; `upright`: turn a page photographed sideways or upside down; `review_below`: flag the
        numbers read with less confidence than this for a person to check ("review": true)."""
        if not 0.0 <= review_below <= 1.0:
            raise ConfigError(f"review_below is a probability, between 0 and 1, not {review_below}")
        if not self.predictor.reads_digits:
            raise ConfigError("read needs a digit model (grey 28x28); this one classifies pictures")
        many = isinstance(pictures, (list, tuple))
        results = []
        for picture in pictures if many else [pictures]:
            image, scale, name = _open(picture, photo=True)
            results.append(PageResult(name, read_page(self.predictor, image, signs=signs, upright=upright,
                                                      scale=scale, review_below=review_below)))
        return results if many else results[0]


def load(checkpoint: str | os.PathLike | None = None, device: str = "auto", model: str | os.PathLike | None = None,
         data_dir: str | os.PathLike | None = None, progress: bool = True) -> Reader:
    """A Reader: `checkpoint` (a checkpoint file or run folder), or `model` (an exported .onnx file, run by ONNX
    Runtime), or neither: the default model, trained once on first use and cached (training/default_model.py)."""
    if checkpoint is not None and model is not None:
        raise ConfigError("give a checkpoint or an ONNX model, not both")
    if model is not None:
        if Path(model).suffix.lower() != ".onnx":
            raise ConfigError(f"model takes an exported .onnx file, not {model} (a checkpoint goes to checkpoint)")
        if not Path(model).is_file():
            raise ConfigError(f"{model}: no such file")
        from digitlab.inference.onnx_runtime import OnnxPredictor
        return Reader(OnnxPredictor(model), str(model))
    if checkpoint is None:
        from digitlab.training.default_model import default_checkpoint
        checkpoint = default_checkpoint(data_dir, progress=progress)
    from digitlab.inference.predictor import Predictor
    return Reader(Predictor.from_checkpoint(checkpoint, device), str(checkpoint))


def _open(picture: Any, photo: bool) -> tuple[Image.Image, float, str | None]:
    """Any picture -> (PIL image, photo pixels per its pixel, its file name or None); photo: a JPEG over the pixel
    limit is decoded at reduced size (read), where predict refuses it."""
    decode = load_photo if photo else (lambda source: (load_image(source), 1.0))
    if isinstance(picture, (str, os.PathLike)):
        return (*decode(picture), str(picture))
    if isinstance(picture, (bytes, bytearray)):
        return (*decode(bytes(picture)), None)
    if isinstance(picture, Image.Image):
        return picture, 1.0, None
    if isinstance(picture, np.ndarray):
        return _from_array(picture), 1.0, None
    if hasattr(picture, "read"):
        data = picture.read()
        if not isinstance(data, (bytes, bytearray)):
            raise NotAnImage("a file object opened as text: open pictures in binary mode ('rb')")
        name = getattr(picture, "name", None)  # a file opened by path has its path; an in-memory one none
        return (*decode(bytes(data)), name if isinstance(name, str) else None)
    raise NotAnImage(f"not a picture: {type(picture).__name__} (give a path, bytes, a binary file, a PIL image "
                     "or a NumPy array)")


def _from_array(array: np.ndarray) -> Image.Image:
    """A NumPy picture: grey (H, W) or colour (H, W, 3|4) RGB(A), uint8, or float in [0, 1]."""
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (1, 3, 4)) or min(array.shape[:2]) < 1:
        raise NotAnImage(f"a picture array is (H, W) or (H, W, 3|4), not {array.shape}")
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[..., 0]
    if array.dtype != np.uint8:
        if not np.issubdtype(array.dtype, np.number) or not np.isfinite(array).all():
            raise NotAnImage(f"a picture array of {array.dtype} must hold finite numbers")
        if array.min() < 0 or array.max() > 1:
            raise NotAnImage(f"a picture array of {array.dtype} holds values in [0, 1] (uint8 for 0-255), "
                             f"not [{array.min():g}, {array.max():g}]")
        array = np.round(array * 255).astype(np.uint8)
    return Image.fromarray(np.ascontiguousarray(array), mode={2: "L", 3: "RGB", 4: "RGBA"}[
        2 if array.ndim == 2 else array.shape[2]])
