"""Reading a whole handwritten number: the digits of a line, left to right, with their boxes.

The line is cut at every plausible place (segment.py); every run of pieces between two cuts,
no wider than a digit can be, is framed like a digit and classified in one batch; then a dynamic
programme keeps the cuts whose digits are likeliest together (the sum of the log-probabilities of
each chosen digit, less CUT_PENALTY for every stroke a kept cut goes through). Touching digits are
split where both halves read well; a digit in several strokes stays whole because its pieces read
badly alone, and a whole digit is not cut in two because its halves would have to read far better
than it does; a model trained with non-digits scores a box holding two digits low, which keeps two
digits from being read as one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Protocol

import numpy as np
from PIL import Image

from digitlab.errors import ImageError
from digitlab.reading.framing import mnist_style
from digitlab.reading.images import to_grey
from digitlab.reading.segment import MAX_SEGMENT_WIDTH, find_line

# A cut through strokes costs as much as reading a digit at e^-1 = 37% instead of 100%: a 0 is not read as its two
# halves ("67") nor a 9 as "63" unless the halves read far better than the whole.
CUT_PENALTY = 1.0  # log-probability per stroke a kept cut goes through; evidence: benchmarks/whole_numbers.py


class Answer(Protocol):
    """What a classifier answers for one 28x28 (inference.classifier.Prediction)."""
    label: int
    name: str
    probabilities: list[float]
    is_digit: bool
    digit_score: float | None


class Classifier(Protocol):
    """Anything that reads MNIST-style 28x28 digits: a checkpoint's Predictor, an ONNX model."""
    def predict_arrays(self, images: np.ndarray) -> Sequence[Answer]: ...


@dataclass
class ReadDigit:
    digit: str
    probability: float
    box: list[int]                 # [x0, y0, x1, y1] in the picture's pixels
    is_digit: bool = True
    digit_score: float | None = None


@dataclass
class ReadNumber:
    text: str                      # the digits read (those refused as no digit left out)
    digits: list[ReadDigit] = field(default_factory=list)
    inputs: np.ndarray | None = None  # uint8 (digits, 28, 28): what the model read for each digit

    def to_dict(self) -> dict:
        return {"text": self.text, "digits": [asdict(d) for d in self.digits]}


def _joined(left: ReadDigit, right: ReadDigit) -> ReadDigit:
    """Two neighbouring refused marks as one: the union of their boxes, the guess of the more digit-like."""
    guess = max(left, right, key=lambda d: d.digit_score)
    box = [min(left.box[0], right.box[0]), min(left.box[1], right.box[1]),
           max(left.box[2], right.box[2]), max(left.box[3], right.box[3])]
    return ReadDigit(guess.digit, guess.probability, box, False, guess.digit_score)


def read_number(classifier: Classifier, picture: Image.Image) -> ReadNumber:
    """The number written in `picture` (a line of digits, either polarity, any size); "" if no ink."""
    try:
        line = find_line(to_grey(picture))
    except ImageError:
        return ReadNumber("", [], np.zeros((0, 28, 28), np.uint8))
    cuts = len(line.seams)
    spans, inks, images = [], [], []
    for first in range(cuts - 1):
        for last in range(first + 1, cuts):
            if last > first + 1 and line.wide[last - 1]:  # blank space wider than a gap within a digit
                break
            ink = line.segment(first, last)
            width = line.width(ink)
            if width > MAX_SEGMENT_WIDTH * line.height and last > first + 1:
                break
            try:
                image = mnist_style(ink) if width else None
            except ImageError:  # a sliver too faint to be ink
                image = None
            spans.append((first, last))
            inks.append(ink)
            images.append(image)
    framed = [i for i, image in enumerate(images) if image is not None]
    predictions: dict[int, Answer] = {}
    if framed:
        answers = classifier.predict_arrays(np.stack([images[i] for i in framed]))
        predictions = dict(zip(framed, answers))

    # best[k]: the likeliest reading of the ink left of cut k, as (log-probability, segments chosen)
    best: list[tuple[float, list[int]]] = [(0.0, [])] + [(-np.inf, [])] * (cuts - 1)
    for index, (first, last) in enumerate(spans):
        if best[first][0] == -np.inf:
            continue
        p = predictions.get(index)
        score = best[first][0] + (np.log(max(p.probabilities[p.label], 1e-12)) if p else 0.0)
        score -= CUT_PENALTY * line.strokes[last]  # 0 for the last cut, the picture's right edge
        if score > best[last][0]:
            best[last] = (score, best[first][1] + ([index] if p else []))

    digits, inputs = [], []
    for index in best[-1][1]:
        p = predictions[index]
        read = ReadDigit(p.name, round(p.probabilities[p.label], 4), line.box(inks[index]), p.is_digit,
                         None if p.digit_score is None else round(p.digit_score, 3))
        if digits and not (read.is_digit or digits[-1].is_digit):  # marks side by side that are no digit: one
            digits[-1] = _joined(digits[-1], read)
            continue
        digits.append(read)
        inputs.append(images[index])
    text = "".join(d.digit for d in digits if d.is_digit)
    return ReadNumber(text, digits, np.stack(inputs) if inputs else np.zeros((0, 28, 28), np.uint8))
