"""Reading the digits of one line of writing, left to right, with their boxes.

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
from typing import Protocol

import numpy as np

from digitlab.errors import ImageError
from digitlab.reading.elements import ReadDigit, Token
from digitlab.reading.framing import mnist_style
from digitlab.reading.segment import MAX_SEGMENT_WIDTH, Cuts

# A cut through strokes costs as much as reading a digit at e^-1 = 37% instead of 100%: a 0 is not read as its two
# halves ("67") nor a 9 as "63" unless the halves read far better than the whole.
CUT_PENALTY = 1.0  # log-probability per stroke a kept cut goes through; evidence: benchmarks/whole_numbers.py
ALTERNATIVES = 3   # readings of each character given with their probabilities


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


def _joined(left: Token, right: Token) -> Token:
    """Two neighbouring refused marks as one: the union of their boxes, the guess of the more digit-like."""
    a, b = left.read, right.read
    guess = max(a, b, key=lambda d: d.digit_score)
    box = [min(a.box[0], b.box[0]), min(a.box[1], b.box[1]), max(a.box[2], b.box[2]), max(a.box[3], b.box[3])]
    return Token(ReadDigit(guess.digit, guess.probability, box, False, guess.digit_score,
                           alternatives=guess.alternatives), left.left, right.right, left.input28,
                 left.kept * right.kept)


def _likeliest(probabilities: Sequence[float], count: int = ALTERNATIVES) -> list[dict]:
    """The `count` likeliest digits of a digit model's answer (classes 0-9 first, then maybe "not a digit")."""
    digits = np.asarray(probabilities[:10], np.float64)
    return [{"digit": str(i), "probability": round(float(digits[i]), 4)} for i in np.argsort(-digits)[:count]]


def _kept_probabilities(spans: list[tuple[int, int]], scores: list[float], count: int) -> np.ndarray:
    """For each segment, the share of all the line's readings (every way of keeping cuts, each weighted by
    e^score) that keep it whole: 1 where no other cutting comes near, 0.5 where cutting it in two reads as well.
    Forward and backward sums over the same lattice as the best reading (spans come ordered by their first cut)."""
    forward, backward = np.full(count, -np.inf), np.full(count, -np.inf)
    forward[0] = backward[-1] = 0.0
    for (first, last), score in zip(spans, scores):
        forward[last] = np.logaddexp(forward[last], forward[first] + score)
    for (first, last), score in zip(reversed(spans), reversed(scores)):
        backward[first] = np.logaddexp(backward[first], score + backward[last])
    total = forward[-1]
    if not np.isfinite(total):
        return np.zeros(len(spans))
    return np.array([np.exp(min(0.0, forward[first] + score + backward[last] - total))
                     for (first, last), score in zip(spans, scores)])


def _same_ink(kept: np.ndarray, inks: list[np.ndarray], predictions: dict) -> np.ndarray:
    """A segment's share of the readings counted with every other segment of the same ink columns: cuts that
    differ only by a sliver too faint to read, or by blank space, cut the digits alike."""
    columns = {index: _columns(inks[index]) for index in predictions}
    share: dict[tuple[int, int], float] = {}
    for index, key in columns.items():
        share[key] = share.get(key, 0.0) + kept[index]
    return np.array([min(1.0, share[columns[i]]) if i in columns else kept[i] for i in range(len(kept))])


def _columns(ink: np.ndarray) -> tuple[int, int]:
    cols = np.flatnonzero(ink.any(axis=0))
    return int(cols[0]), int(cols[-1]) + 1


def read_line(classifier: Classifier, cuts: Cuts) -> list[Token]:
    """The digits of a line (and the marks on it that are no digit), left to right."""
    spans, inks, images = _segments(cuts)
    framed = [i for i, image in enumerate(images) if image is not None]
    predictions: dict[int, Answer] = {}
    if framed:
        answers = classifier.predict_arrays(np.stack([images[i] for i in framed]))
        predictions = dict(zip(framed, answers))

    scores = []  # each segment's score: the log-probability of its digit, less the strokes its right cut crosses
    for index, (_, last) in enumerate(spans):
        p = predictions.get(index)
        scores.append((np.log(max(p.probabilities[p.label], 1e-12)) if p else 0.0) - CUT_PENALTY * cuts.strokes[last])

    # best[k]: the likeliest reading of the ink left of cut k, as (log-probability, segments chosen)
    count = len(cuts.seams)
    best: list[tuple[float, list[int]]] = [(0.0, [])] + [(-np.inf, [])] * (count - 1)
    for index, (first, last) in enumerate(spans):
        if best[first][0] == -np.inf:
            continue
        score = best[first][0] + scores[index]
        if score > best[last][0]:
            best[last] = (score, best[first][1] + ([index] if index in predictions else []))
    kept = _same_ink(_kept_probabilities(spans, scores, count), inks, predictions)

    tokens: list[Token] = []
    for index in best[-1][1]:
        p = predictions[index]
        read = ReadDigit(p.name, round(p.probabilities[p.label], 4), cuts.line.box(inks[index]), p.is_digit,
                         None if p.digit_score is None else round(p.digit_score, 3),
                         alternatives=_likeliest(p.probabilities))
        token = Token(read, *_columns(inks[index]), images[index], float(kept[index]))
        if tokens and not (read.is_digit or tokens[-1].read.is_digit):  # marks side by side that are no digit: one
            tokens[-1] = _joined(tokens[-1], token)
        else:
            tokens.append(token)
    return tokens


def _segments(cuts: Cuts) -> tuple[list[tuple[int, int]], list[np.ndarray], list[np.ndarray | None]]:
    """Every run of pieces between two cuts that a digit could fill: (first cut, last cut), its ink, and its
    MNIST-style 28x28 (None for a sliver too faint to be ink)."""
    spans, inks, images = [], [], []
    count = len(cuts.seams)
    for first in range(count - 1):
        for last in range(first + 1, count):
            if last > first + 1 and cuts.wide[last - 1]:  # blank space wider than a gap within a digit
                break
            ink = cuts.segment(first, last)
            width = cuts.width(ink)
            if width > MAX_SEGMENT_WIDTH * cuts.height and last > first + 1:
                break
            try:
                image = mnist_style(ink) if width else None
            except ImageError:
                image = None
            spans.append((first, last))
            inks.append(ink)
            images.append(image)
    return spans, inks, images
