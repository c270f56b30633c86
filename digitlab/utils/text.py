"""Comparing what was read with what was written."""

from __future__ import annotations


def edit_distance(a: str, b: str) -> int:
    """The fewest characters to insert, delete or change to turn `a` into `b` (Levenshtein)."""
    row = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        previous, row[0] = row[0], i
        for j, cb in enumerate(b, 1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, previous + (ca != cb))
    return row[-1]
