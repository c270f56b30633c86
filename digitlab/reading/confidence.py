"""How sure a reading is: for each number, the probability that it was read exactly, and whether a person
should look at it.

A number is read wrong when one of its digits is (the model's probability of the digit tells how likely),
when it was cut wrong (two digits read as one, one as two: the share of the line's readings that cut
it as it was cut, line.py), when a mark in it was refused that was a digit, or when one of its signs is no
sign. These are the features; a logistic regression on them, fitted on pages read with their truth known
(held-out pages, none of the benchmark's: benchmarks/confidence.py fits and prints COEFFICIENTS), turns
them into the probability of being exact, so that of the numbers given 0.9, nine in ten are right
(the reliability diagram in docs/benchmarks.md, "How sure a number is"; ECE 0.015 on the check pages).

A line's confidence is that all its numbers are right: the product of theirs.
"""

from __future__ import annotations

import numpy as np

from digitlab.reading.elements import Token

FEATURES = ("digits", "cuts", "refused marks", "least margin")
# Fitted by benchmarks/confidence.py (the default model; 1,159 numbers on 160 held-out pages); the intercept last.
COEFFICIENTS = np.array([0.8333, 0.0862, -1.597, 0.9646, 1.416])
# A number under this confidence is flagged for review: the least at which at most 0.5% of the numbers at or above
# it were wrong on benchmarks/confidence.py's check pages (it flags 89% of them: docs/reading.md says why).
REVIEW_BELOW = 0.996
FLOOR = 1e-6  # probabilities are taken no lower than this before their logarithm
MARGIN_CAP = 10.0  # the log-ratio of a character's two likeliest readings above which it is plain


def features(tokens: list[Token]) -> np.ndarray:
    """FEATURES of one number's characters: the log-probabilities of its digits summed, the log-probability of
    its cuts (line.py: the share of the line's readings that cut its characters so), how many of its marks were
    refused as no digit, and the least log-ratio of a digit's first reading to its second."""
    digits = [t for t in tokens if t.read.is_digit and not t.read.sign]
    return np.array([sum(np.log(max(t.read.probability, FLOOR)) for t in digits),
                     sum(np.log(max(t.kept, FLOOR)) for t in tokens),
                     sum(not (t.read.is_digit or t.read.sign) for t in tokens),
                     min((_margin(t.read.alternatives) for t in digits), default=MARGIN_CAP)], np.float64)


def _margin(alternatives: list[dict]) -> float:
    """How much likelier a character's reading is than its second: the log of their ratio, capped."""
    if len(alternatives) < 2:
        return MARGIN_CAP
    first, second = (max(a["probability"], FLOOR) for a in alternatives[:2])
    return float(min(np.log(first / second), MARGIN_CAP))


def number_confidence(tokens: list[Token]) -> tuple[float, np.ndarray]:
    """The probability that a number was read exactly, and its features. A "number" of marks all refused as no
    digit reads as nothing: its confidence is that none of them is a digit (from their digit_scores, log-odds)."""
    evidence = features(tokens)
    if not any(t.read.text for t in tokens):
        return float(np.prod([_sigmoid(-(t.read.digit_score or 0.0)) for t in tokens])), evidence
    return float(calibrated(evidence[None])[0]), evidence


def calibrated(rows: np.ndarray, coefficients: np.ndarray = COEFFICIENTS) -> np.ndarray:
    """The probability of being read exactly for feature rows (N, len(FEATURES))."""
    return _sigmoid(np.asarray(rows, np.float64) @ coefficients[:-1] + coefficients[-1])


def _sigmoid(z):
    """Log-odds -> probability (clipped so that no exp overflows)."""
    return 1.0 / (1.0 + np.exp(-np.clip(z, -50, 50)))


def fit(rows: np.ndarray, right: np.ndarray, l2: float = 1e-3, steps: int = 50) -> np.ndarray:
    """Logistic regression by Newton's method (features (N, F), right (N,) bool) -> COEFFICIENTS' shape: F
    weights, then the intercept. A small L2 penalty keeps it finite where the features separate the classes."""
    x = np.hstack([np.asarray(rows, np.float64), np.ones((len(rows), 1))])
    y = np.asarray(right, np.float64)
    w = np.zeros(x.shape[1])
    penalty = l2 * len(x) * np.eye(x.shape[1])
    penalty[-1, -1] = 0.0  # the intercept goes unpenalised
    for _ in range(steps):
        p = _sigmoid(x @ w)
        gradient = x.T @ (p - y) + penalty @ w
        hessian = (x * (p * (1 - p))[:, None]).T @ x + penalty
        step = np.linalg.solve(hessian, gradient)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return w
