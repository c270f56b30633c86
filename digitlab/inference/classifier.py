"""What every predictor shares, whatever runs the model: file preprocessing, softmax, class names.

Kept free of torch so that the ONNX Runtime predictor runs without it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
from PIL import Image

from digitlab.data.folders import fit_picture
from digitlab.errors import ConfigError
from digitlab.reading.framing import preprocess_image
from digitlab.reading.images import load_image
from digitlab.reading.refusal import Refusal, refusal_index, verdicts


@dataclass
class Prediction:
    label: int                       # the best digit (class), never "not a digit"
    name: str
    probabilities: list[float]       # of every class the model has, "not a digit" included
    is_digit: bool = True            # False: the model says the picture is no digit at all
    digit_score: float | None = None  # log-odds that it is a digit; None when the model cannot refuse

    def top(self, k: int, classes: list[str]) -> list[dict]:
        order = np.argsort(self.probabilities)[::-1][:k]
        return [{"class": classes[i], "index": int(i), "probability": self.probabilities[i]} for i in order]


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


class Classifier:
    """A model's class names and input description; subclasses say how to get logits for uint8 images.

    `takes_pictures`: the model was trained on a folder of pictures, so image files are fitted
    to its size and channels; otherwise files are turned into MNIST-style 28x28 digits.
    A model trained with non-digits (`train --non-digits`) has a last class "not a digit": its
    answer is still the best digit, with is_digit False when digit_score (the log-odds of "digit"
    against "not a digit") is at or below the threshold training set on validation data.
    """

    def __init__(self, classes: list[str], in_channels: int, image_size: int, takes_pictures: bool,
                 refusal_threshold: float | None = None):
        self.classes, self.in_channels, self.image_size = list(classes), in_channels, image_size
        self.takes_pictures = takes_pictures
        index = refusal_index(self.classes)
        self.refusal = None if index is None else Refusal(index, refusal_threshold or 0.0)

    @property
    def reads_digits(self) -> bool:
        """Whether pictures become MNIST-style 28x28 digits for this model (what read and the board need)."""
        return not self.takes_pictures and (self.in_channels, self.image_size) == (1, 28)

    def logits(self, images: np.ndarray) -> np.ndarray:
        """uint8 (N, C, H, W) -> float logits (N, classes)."""
        raise NotImplementedError

    def predict_arrays(self, images: np.ndarray) -> list[Prediction]:
        """uint8 images (N, 28, 28) as MNIST stores them, or (N, C, H, W) -> one Prediction each."""
        images = np.ascontiguousarray(images, dtype=np.uint8)
        probs = softmax(self.logits(images[:, None] if images.ndim == 3 else images).astype(np.float64))
        answers = verdicts(probs, self.refusal)
        return [Prediction(int(best), self.classes[best], [float(x) for x in p], bool(is_digit),
                           None if answers.scores is None else float(answers.scores[i]))
                for i, (p, best, is_digit) in enumerate(zip(probs, answers.best, answers.is_digit))]

    def inputs(self, pictures: list[str | os.PathLike | Image.Image]) -> np.ndarray:
        """What the model reads for each file (or decoded picture): uint8 (N, 28, 28) digits, or (N, C, H, W)
        fitted pictures."""
        if self.takes_pictures:
            return np.stack([fit_picture(p if isinstance(p, Image.Image) else load_image(p), self.image_size,
                                         self.in_channels) for p in pictures])
        if (self.in_channels, self.image_size) != (1, 28):
            raise ConfigError(f"this model takes {self.in_channels}x{self.image_size}x{self.image_size} images; "
                              "digit preprocessing makes grey 28x28 digits")
        return np.stack([preprocess_image(p) for p in pictures])

    def predict_files(self, paths: list[str | os.PathLike]) -> list[Prediction]:
        return self.predict_arrays(self.inputs(paths))
