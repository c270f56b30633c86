"""Saying "not a digit": the rule every answer goes through.

A digit model trained with non-digits (data/non_digits.py) has an eleventh class, "not a digit".
Its answer for a picture is still the best of the ten digits, and beside it a verdict: the
picture's digit_score, the log-odds of "a digit" against "not a digit", and is_digit, true when
that score is above the model's refusal threshold. Training sets the threshold on validation
non-digits (training/calibration.py) and the checkpoint keeps it; a model without the class
answers every picture as a digit, with no score.

`verdicts` is the one place that rule is applied: `predict`, `read`, the board, `evaluate`, the
report and the robustness study all answer through it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

NOT_A_DIGIT = "not a digit"          # the class name after a refusing model's ten digits
THRESHOLD_KEY = "refusal_threshold"  # where a checkpoint (or an exported model's metadata) keeps it


@dataclass(frozen=True)
class Refusal:
    """How a model says "not a digit": the index of that class, and the digit_score at or below which a picture
    is refused (0: the model's own odds, "not a digit" likelier than all digits together)."""
    index: int
    threshold: float = 0.0

    def scores(self, probabilities: np.ndarray) -> np.ndarray:
        """digit_score of each row of class probabilities (N, classes)."""
        p = np.clip(np.asarray(probabilities, np.float64)[..., self.index], 1e-12, 1 - 1e-12)
        return np.log1p(-p) - np.log(p)

    def refuses(self, scores: np.ndarray) -> np.ndarray:
        return np.asarray(scores) <= self.threshold


@dataclass
class Verdicts:
    """The answers for N pictures: the best digit of each (never "not a digit"), whether it is a digit at all,
    and its digit_score (None when the model cannot refuse)."""
    best: np.ndarray                # int (N,)
    is_digit: np.ndarray            # bool (N,)
    scores: np.ndarray | None       # float (N,)

    def classes(self, refusal: Refusal | None) -> np.ndarray:
        """The class each picture is counted as: its best digit, or "not a digit" where refused."""
        return self.best if refusal is None else np.where(self.is_digit, self.best, refusal.index)


def verdicts(probabilities: np.ndarray, refusal: Refusal | None) -> Verdicts:
    """Class probabilities (N, classes) -> the answer for each picture under `refusal` (None: cannot refuse)."""
    probabilities = np.asarray(probabilities)
    if refusal is None:
        return Verdicts(probabilities.argmax(axis=1), np.ones(len(probabilities), bool), None)
    digits = probabilities.copy()
    digits[:, refusal.index] = -1.0
    scores = refusal.scores(probabilities)
    return Verdicts(digits.argmax(axis=1), ~refusal.refuses(scores), scores)


def refusal_index(classes: list[str]) -> int | None:
    """The index of the class "not a digit" in a model's classes, or None: the model cannot refuse."""
    return list(classes).index(NOT_A_DIGIT) if NOT_A_DIGIT in classes else None


def refusal_of(record: dict) -> Refusal | None:
    """The Refusal a checkpoint's record (or an exported model's metadata) describes; None: it cannot refuse.
    Records written before thresholds were set on validation data refuse at the model's own odds."""
    index = refusal_index(record["classes"])
    return None if index is None else Refusal(index, float(record.get(THRESHOLD_KEY) or 0.0))
