"""The signs people write in numbers, read by their shape and their place on the line.

A decimal point or comma ("3.14", "12,50"), a minus ("-5"), a date's slash ("12/04") and a time's colon
("13:45") lose what makes them what they are once framed as MNIST frames a digit: a point becomes a
blot, a minus a bar as wide as a digit, a slash a slanted 1. What tells them apart is their size and
place against the digits beside them:

  .   a small round blob sitting on the digits' foot, between two digits
  ,   a small blob or hook reaching well below the digits' foot, between two digits
  -   a short flat stroke about the middle of the digits' rows, before a digit
  /   a straight thin stroke leaning right, taller than the digits beside it (a 1 is as tall as they are)
      or leaning far over (as few 1s do), between two digits
  :   two small blobs one above the other, the lower on the foot, between two digits

Digits are the line's blobs of ink at least half as tall as its tallest. A small blob inside a digit's
outline, at its rows (a 5's floating bar, a dotted 7's dots), is a piece of that digit, not a sign; so is
a speck no thicker than the writer's pen lying within a pen's width of a digit (a stroke's end that broke
off where the ink thinned: "12 345" was read "12 34.5"). Anything that is no sign is left to the model.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np
from scipy import ndimage

from digitlab.reading.elements import ReadDigit, Token
from digitlab.reading.ink import stroke_width
from digitlab.reading.lines import TextLine

TALL = 0.55             # of the tallest blob: blobs at least this tall are digits (or a slash)
SMALL = 0.4             # in digit heights: a point or a colon's dot is no taller or wider
ROUND = 1.8             # ... and about as tall as wide (neither more than this many times the other)
FOOT = 0.62             # in digit heights from the digits' top: a point's middle lies below this
COMMA_DROP = 0.16       # in digit heights: a comma reaches this far below the digits' foot (a point does not) ...
COMMA_SIZE = (0.7, 0.5)  # ... and is at most this tall and wide
DASH = (0.25, 1.3)      # in digit heights: how long a minus is ...
DASH_ROWS = (0.25, 0.8)  # ... and between which rows (from the digits' top) its middle lies
FLAT = 1.8              # a minus is at least this many times wider than tall ...
OVER = 0.25             # ... and lies over a digit's columns for no more than this share of its length
SLASH_LEAN = 20.0       # degrees from upright: a slash leans at least this much and is taller than the digits ...
SLASH_HEIGHT = 1.1      # ... by this much (a 1 is as tall as they are) ...
FAR = 40.0              # ... unless it leans at least this much (as 1 in 200 of MNIST's 1s do)
THIN = 0.22             # a slash's spread across its axis, against its spread along it, at most
NEAR = 0.9              # in digit heights: a sign's digits are no further from it than this
BROKEN = (1.1, 1.0)     # in pen widths: a dot no thicker than the first, nearer a digit than the second, is a
                        # piece of that digit's stroke (a pen's dot is apart from the digits, or thicker than its
                        # strokes: the dots of tests/test_pages.py's pages are 1.2-1.75 pens thick, 0.8-3 apart)
SIGN_PROBABILITY = 1.0  # what a sign's "probability" reads: it is read by its shape, not by the model


@dataclass
class _Blob:
    label: int
    x0: int
    y0: int
    x1: int
    y1: int

    @property
    def width(self) -> int:
        return self.x1 - self.x0

    @property
    def height(self) -> int:
        return self.y1 - self.y0

    @property
    def middle(self) -> tuple[float, float]:
        return (self.x0 + self.x1) / 2, (self.y0 + self.y1) / 2


@dataclass
class _Ruler:
    """The digits of a line, against whose rows and columns a sign is measured."""
    top: float
    foot: float
    digits: list[_Blob]
    labels: np.ndarray
    blobs: list[_Blob] = field(default_factory=list)  # every blob of ink on the line, digits or not
    pen: float = 0.0                                  # the digits' stroke width, in pixels
    apart: np.ndarray = field(default=None, repr=False)  # each pixel's distance to the nearest digit ink

    def __post_init__(self):
        ink = np.isin(self.labels, [d.label for d in self.digits])
        self.pen = max(1.0, stroke_width(ink))
        self.apart = cv2.distanceTransform((~ink).astype(np.uint8), cv2.DIST_L2, 5)

    @property
    def height(self) -> float:
        return max(1.0, self.foot - self.top)

    def row(self, blob: _Blob) -> float:
        """Where the blob's middle lies, in digit heights from the digits' top."""
        return (blob.middle[1] - self.top) / self.height

    def inside_a_digit(self, blob: _Blob) -> bool:
        """Whether the blob's middle lies between a digit's leftmost and rightmost ink at the blob's rows."""
        x = blob.middle[0]
        for d in self.digits:
            if d.x0 <= x < d.x1:
                cols = np.flatnonzero((self.labels[blob.y0:blob.y1, d.x0:d.x1] == d.label).any(axis=0))
                if len(cols) and d.x0 + cols[0] <= x <= d.x0 + cols[-1]:
                    return True
        return False

    def broken_stroke(self, blob: _Blob) -> bool:
        """Whether a small blob is a piece of a digit's stroke: no thicker than the pen, and near a digit."""
        mask = self.labels[blob.y0:blob.y1, blob.x0:blob.x1] == blob.label
        thickness = 2 * float(ndimage.distance_transform_edt(np.pad(mask, 1)).max())
        gap = float(self.apart[blob.y0:blob.y1, blob.x0:blob.x1][mask].min())
        return thickness < BROKEN[0] * self.pen and gap < BROKEN[1] * self.pen

    def over_other_ink(self, blob: _Blob) -> bool:
        """Whether a flat stroke lies over other ink's columns for more than OVER of its length: a minus stands
        before its digit, a 5's bar broken off its stem stands over it ("12,50" was read "125-0", its 5 written
        half as tall as the digits beside it)."""
        return any(other is not blob and min(blob.x1, other.x1) - max(blob.x0, other.x0) > OVER * blob.width
                   for other in self.blobs)

    def _writing(self, blob: _Blob) -> list[_Blob]:
        """The ink a sign may stand beside: the digits, and other blobs too tall for a point (a digit written
        small, or a digit's part: "12,50" with its 5 half as tall as the rest)."""
        return [b for b in self.blobs if b is not blob and (b in self.digits or b.height > SMALL * self.height)]

    def digit_left(self, blob: _Blob) -> bool:
        return any(d.x0 < blob.x0 and blob.x0 - d.x1 <= NEAR * self.height for d in self._writing(blob))

    def digit_right(self, blob: _Blob) -> bool:
        return any(d.x1 > blob.x1 and d.x0 - blob.x1 <= NEAR * self.height for d in self._writing(blob))


def find_signs(line: TextLine) -> tuple[list[Token], np.ndarray]:
    """The signs on a line, as tokens, and the line's ink without them (for the model to read the rest)."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats((line.ink > 0).astype(np.uint8), connectivity=8)
    x, y, w, h = (stats[1:, i].astype(int) for i in range(4))
    blobs = [_Blob(k + 1, x[k], y[k], x[k] + w[k], y[k] + h[k]) for k in range(count - 1)]
    if not blobs:
        return [], line.ink
    leaning = {b.label: _lean(labels == b.label) for b in blobs}
    upright = [b for b in blobs if leaning[b.label] < SLASH_LEAN] or blobs
    tallest = max(b.height for b in upright)  # a slash reaching above and below the digits is no measure of them
    usual = float(np.median([b.height for b in upright if b.height >= TALL * tallest]))
    slashes = [b for b in blobs if b.height >= TALL * tallest and (
        leaning[b.label] >= FAR or (leaning[b.label] >= SLASH_LEAN and b.height >= SLASH_HEIGHT * usual))]
    tall = [b for b in blobs if b.height >= TALL * tallest or b in slashes]
    digits = [b for b in tall if b not in slashes]
    if not digits:
        return [], line.ink
    ruler = _Ruler(float(np.median([d.y0 for d in digits])), float(np.median([d.y1 for d in digits])), digits,
                   labels, blobs)
    small = [b for b in blobs if b not in tall and not ruler.inside_a_digit(b)]
    signs = [([b.label], "/") for b in slashes if ruler.digit_left(b) and ruler.digit_right(b)] + _colons(small, ruler)
    taken = {label for members, _ in signs for label in members}
    signs += [([b.label], char) for b in small if b.label not in taken for char in [_small_sign(b, ruler)] if char]
    ink = line.ink.copy()
    tokens = []
    for members, char in signs:
        mask = np.isin(labels, members)
        cols = np.flatnonzero(mask.any(axis=0))
        tokens.append(Token(ReadDigit(char, SIGN_PROBABILITY, line.box(mask), False, None, sign=True,
                                      alternatives=[{"digit": char, "probability": SIGN_PROBABILITY}]),
                            int(cols[0]), int(cols[-1]) + 1))
        ink[mask] = 0.0
    return tokens, ink


def _small_sign(blob: _Blob, ruler: _Ruler) -> str | None:
    """".", "," or "-" for a small blob beside the digits, or None."""
    h, w = blob.height / ruler.height, blob.width / ruler.height
    if w >= FLAT * h and DASH[0] <= w <= DASH[1] and h <= SMALL and DASH_ROWS[0] <= ruler.row(blob) <= DASH_ROWS[1]:
        return "-" if ruler.digit_right(blob) and not ruler.over_other_ink(blob) else None
    if not (ruler.digit_left(blob) and ruler.digit_right(blob)) or ruler.row(blob) < FOOT:
        return None
    drop = (blob.y1 - ruler.foot) / ruler.height
    if drop >= COMMA_DROP and h <= COMMA_SIZE[0] and w <= COMMA_SIZE[1] and blob.y0 < ruler.foot:
        return ","
    if (drop < COMMA_DROP and h <= SMALL and w <= SMALL and 1 / ROUND <= h / max(w, 1e-6) <= ROUND
            and not ruler.broken_stroke(blob)):
        return "."
    return None


def _colons(small: list[_Blob], ruler: _Ruler) -> list[tuple[list[int], str]]:
    """Pairs of small blobs one above the other, the lower on the foot of the line, between two digits."""
    found, used = [], set()
    dots = [b for b in small if b.height <= SMALL * ruler.height and b.width <= SMALL * ruler.height
            and not ruler.broken_stroke(b)]
    for upper in dots:
        for lower in dots:
            if upper is lower or upper.label in used or lower.label in used or lower.y0 < upper.y1:
                continue
            side = min(upper.x1, lower.x1) - max(upper.x0, lower.x0)
            pair = _Blob(-1, min(upper.x0, lower.x0), upper.y0, max(upper.x1, lower.x1), lower.y1)
            if (side >= 0.3 * min(upper.width, lower.width) and ruler.row(upper) < FOOT
                    and ruler.row(lower) >= FOOT - 0.1 and ruler.digit_left(pair) and ruler.digit_right(pair)):
                found.append(([upper.label, lower.label], ":"))
                used |= {upper.label, lower.label}
    return found


def _lean(mask: np.ndarray) -> float:
    """How far a thin straight stroke leans right of upright, in degrees (0 for a blob that is no such stroke:
    its spread across its axis is over THIN of its spread along it)."""
    ys, xs = np.nonzero(mask)
    if len(ys) < 8:
        return 0.0
    values, vectors = np.linalg.eigh(np.cov(np.stack([xs - xs.mean(), ys - ys.mean()])))
    if np.sqrt(max(values[0], 0.0) / max(values[1], 1e-9)) > THIN:
        return 0.0
    axis = vectors[:, 1] if vectors[1, 1] <= 0 else -vectors[:, 1]  # the way the stroke runs, up the picture
    return float(np.degrees(np.arctan2(axis[0], -axis[1])))  # > 0: its top leans right
