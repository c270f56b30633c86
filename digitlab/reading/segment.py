"""Where a handwritten number could be cut into digits: the geometry of reading a whole number.

Digits of a number touch, overlap a little, or are drawn in several strokes (a 4 or 5 in two,
a dotted 7), so "one blob = one digit" is wrong both ways. Instead the line of ink is cut at
every place a cut is plausible, and the reader (line.py) lets the classifier choose
which of those cuts to keep (segmentation by recognition):

1. the line's own ink comes from the page it is on (lines.py): separated from the paper, straightened,
   its digits about lines.TEXT_HEIGHT pixels tall;
2. candidate cuts are the columns where the ink is thinnest: every gap between strokes, and every
   local minimum of the ink's column profile inside a blob (where two digits touch);
3. each cut through ink follows the cheapest path from top to bottom (a seam, as in seam carving)
   within a band around its column, so it slips between two digits that overlap a little instead
   of slicing through a stroke;
4. a segment is the ink between two cuts.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from scipy import ndimage

from digitlab.reading.lines import TextLine, digit_height

MIN_CUT_SPACING = 0.1    # of the digits' height: two candidate cuts are at least this far apart; closer cuts find
                         # the place where two touching digits meet more often, for more read time
                         # (evidence: benchmarks/whole_numbers.py, touching digits)
SEAM_BAND = 0.25         # of the digits' height: how far a seam may wander from its column
TIGHT_BAND = 0.05        # of the digits' height: the band of a second, nearly straight seam, kept beside one that
                         # wandered over half the cut spacing from its column (a 1 whose right edge touches a 9 along
                         # its height: the wide seam escapes round the 1, and the cut between them would be missing)
MAX_SEGMENT_WIDTH = 1.6  # of the digits' height: no digit is wider than this (handwritten digits are rarely
                         # wider than tall). The only bound on the pieces one digit may span: a bound on their
                         # number would keep a round 0, which more cuts cross, from ever being read whole
WIDE_GAP = 0.3           # of the digits' height: blank space this wide always separates two digits
EDGE_STRENGTH = 0.5      # of a segment's strongest ink: a piece of it that never gets this strong is the blurred
                         # edge of a neighbour's stroke that a seam hugging it left behind, not a stroke of its own


@dataclass
class Cuts:
    """A line's ink ready to be cut: where it may be cut, and how (its pixels are the line's, lines.TextLine)."""

    line: TextLine
    seams: np.ndarray      # int (cuts, H): for each cut, the first column right of it on every row
    wide: np.ndarray       # bool (cuts,): the cut is in blank space WIDE_GAP wide or wider (no digit spans it)
    strokes: np.ndarray    # int (cuts,): how many strokes each cut goes through (0 in blank space)
    height: float          # the line's height (that of its digits), in its pixels

    @property
    def ink(self) -> np.ndarray:
        return self.line.ink

    def segment(self, first: int, last: int) -> np.ndarray:
        """The ink between cut `first` and cut `last` (indices into seams), elsewhere zero, less the faint
        edges of neighbours' strokes (EDGE_STRENGTH): they would stretch its box and shift its framing."""
        left, right = self.seams[first], self.seams[last]
        lo, hi = int(left.min()), int(right.max())  # the columns it may reach: the work is done there alone
        cols = np.arange(lo, hi)[None, :]
        inside = (cols >= left[:, None]) & (cols < right[:, None])
        part = np.where(inside, self.ink[:, lo:hi], 0.0)
        pieces, count = ndimage.label(part > 0)
        if count > 1:  # a piece stays if any of its pixels is strong enough
            strong = np.zeros(count + 1, bool)
            strong[pieces[part >= EDGE_STRENGTH * part.max()]] = True
            part *= strong[pieces]
        ink = np.zeros_like(self.ink, dtype=part.dtype)
        ink[:, lo:hi] = part
        return ink

    def width(self, ink: np.ndarray) -> int:
        cols = np.flatnonzero(ink.any(axis=0))
        return int(cols[-1] - cols[0] + 1) if len(cols) else 0


def cut_line(line: TextLine, ink: np.ndarray | None = None) -> Cuts:
    """Every plausible cut of a line's ink (or of `ink`, the line's with some of it taken away: its signs)."""
    ink = line.ink if ink is None else ink
    height = digit_height(ink > 0)
    profile = ink.sum(axis=0)
    centres, wide = _cut_columns(profile, height)
    spacing = _cut_spacing(height)
    paths = []  # (where the seam runs, seam, in a wide gap)
    for c, is_wide in zip(centres, wide):
        seam = _seam(ink, c, max(1, int(SEAM_BAND * height)))
        paths.append((np.median(seam), seam, is_wide))
        if abs(paths[-1][0] - c) > spacing / 2:
            tight = _seam(ink, c, max(1, int(TIGHT_BAND * height)))
            paths.append((np.median(tight), tight, is_wide))
    paths.sort(key=lambda path: path[0])
    seams = [np.zeros(ink.shape[0], np.int64)]
    for _, seam, _ in paths:
        seams.append(np.maximum(seam, seams[-1]))
    seams.append(np.full(ink.shape[0], ink.shape[1], np.int64))
    for k in range(len(seams) - 2, 0, -1):  # seams never cross: each stays left of the next
        seams[k] = np.minimum(seams[k], seams[k + 1])
    seams = np.stack(seams)
    return Cuts(replace(line, ink=ink), seams, np.array([True, *(w for _, _, w in paths), True]),
                _strokes_crossed(ink, seams), height)


def _cut_spacing(height: float) -> int:
    """The least distance between two candidate cuts, in work pixels."""
    return max(2, int(MIN_CUT_SPACING * height))


def _cut_columns(profile: np.ndarray, height: float) -> tuple[list[int], list[bool]]:
    """Columns worth cutting at: the middle of every gap in the ink, and the local minima of the column
    profile, the thinnest first, at least MIN_CUT_SPACING * height apart; and whether each is a wide gap."""
    inked = np.flatnonzero(profile > 0)
    if not len(inked):
        return [], []
    first, last = int(inked[0]), int(inked[-1])
    spacing = _cut_spacing(height)
    gaps, wide, candidates = [], set(), []
    empty = profile[first:last + 1] == 0
    runs = ndimage.find_objects(ndimage.label(empty)[0])
    for run in runs:
        gaps.append(first + (run[0].start + run[0].stop - 1) // 2)
        if run[0].stop - run[0].start >= WIDE_GAP * height:
            wide.add(gaps[-1])
    smooth = ndimage.uniform_filter1d(profile, 3)
    inner = np.arange(first + spacing, last - spacing + 1)
    if len(inner):
        lowest = (smooth[inner] <= smooth[inner - 1]) & (smooth[inner] <= smooth[inner + 1])
        minima = inner[lowest & (profile[inner] > 0)]
        candidates = sorted(minima.tolist(), key=lambda c: smooth[c])
    chosen = list(gaps)
    for c in candidates:
        if all(abs(c - k) >= spacing for k in chosen):
            chosen.append(c)
    chosen.sort()
    return chosen, [c in wide for c in chosen]


def _strokes_crossed(ink: np.ndarray, seams: np.ndarray) -> np.ndarray:
    """For each seam, the number of separate runs of ink (> 0.5) it goes through from top to bottom."""
    inside = seams < ink.shape[1]
    rows = np.arange(ink.shape[0])[None, :]
    inked = inside & (ink[rows, np.minimum(seams, ink.shape[1] - 1)] > 0.5)
    return inked[:, 0] + (inked[:, 1:] & ~inked[:, :-1]).sum(axis=1)


def _seam(ink: np.ndarray, column: int, band: int) -> np.ndarray:
    """The path from top to bottom, one column per row, moving at most one column a row and within
    `band` of `column`, that crosses the least ink: per row, the first column right of it."""
    h, w = ink.shape
    lo, hi = max(0, column - band), min(w, column + band + 1)
    cost = ink[:, lo:hi] + 1e-3 * np.abs(np.arange(lo, hi) - column)[None, :]  # straight when it costs nothing
    total = cost.copy()
    step = np.zeros_like(cost, dtype=np.int8)
    for y in range(1, h):
        prev = total[y - 1]
        options = np.stack([np.r_[np.inf, prev[:-1]], prev, np.r_[prev[1:], np.inf]])
        step[y] = options.argmin(axis=0) - 1
        total[y] += options.min(axis=0)
    path = np.zeros(h, np.int64)
    path[-1] = int(total[-1].argmin())
    for y in range(h - 1, 0, -1):
        path[y - 1] = path[y] + step[y, path[y]]
    return path + lo
