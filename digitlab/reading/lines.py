"""Finding the lines of writing on a page: a phone photo of a list, a form, a receipt; a scan; the board.

A page is not a line: it is turned a little in the photo, lit from one side, ruled or squared, and its
lines of writing drift up or down as a hand moves across. The steps:

1. the page is looked at small (COARSE_SIDE pixels across): its polarity, its tilt (ink.page_tilt: the angle
   at which its rulings fall into the sharpest rows, a projection profile, as document scanners deskew),
   and the height of its writing (the median height of its blobs of ink once rulings are gone);
2. the page is turned straight and averaged down so that its digits are about TEXT_HEIGHT pixels tall, and
   its ink separated from the paper there (ink.separate_ink for a page: rulings and grid lines are long
   straight runs of ink);
3. the ink is smeared along rows, one text height wide, so that the digits and signs of a number, and the
   numbers of a line, run into one another; each smeared blob is a piece of a line (a blob as tall as two
   lines is two lines whose ink touches, split at its thinnest row), and pieces whose rows overlap, left to
   right, are one line — so a line may bend, and two lines may nearly touch;
4. each line's own ink (nothing of its neighbours') is cut out and straightened: each column is moved up or
   down so that the middles of the line's digits lie on one row.

Projection profiles and blobs grouped along their rows need no training and follow a bent line; a learned
detector would need pages to learn from, which digitlab does not have (docs/reading.md, "A page").
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from digitlab.errors import ImageError
from digitlab.reading.ink import (
    FAINT_INK_FRACTION,
    MAX_TILT,
    MIN_CONTRAST,
    RULE_LENGTH,
    average_down,
    contrast_to_paper,
    otsu_level,
    page_tilt,
    paper_brightness,
    paper_is_dark,
    separate_ink,
    shrink,
    stroke_width,
    strongest_patch,
    thin_lines,
)

COARSE_SIDE = 640       # pixels across the page is first looked at: its tilt and the height of its writing
TEXT_HEIGHT = 40        # pixels: lines are read with their digits about this tall
MAX_WORK_PIXELS = 3_000_000  # ... unless the page would then be larger than this
SMEAR = 1.0             # in text heights: ink this close along a row belongs to one line
TWO_LINES = 1.8         # in text heights: a blob this tall is two lines whose ink touches
ROW_OVERLAP = 0.5       # of the smaller: pieces whose rows overlap this much, side by side, are one line
PART = 0.6              # in text heights: a line is at least this tall (shorter ones are parts of their neighbours)
STRAIGHTEN = 0.15       # in text heights: a line whose digits drift up or down by this much is straightened ...
CURVED = 8              # ... along a curve when it has this many digits or more (else a straight line)


@dataclass
class TextLine:
    """One line of writing: its own ink, straightened, and how its pixels map back to the picture's."""
    ink: np.ndarray          # float (h, w) in [0, 1], 0 = paper
    height: float            # its digits' height, in its pixels
    shifts: np.ndarray       # int (w,): row r of column c of `ink` is row r + shifts[c] of the page crop
    origin: tuple[int, int]  # (x, y) of the crop's top left corner on the straightened page, in work pixels
    page: Page

    def box(self, ink: np.ndarray) -> list[int]:
        """[x0, y0, x1, y1] in the picture's pixels of this ink (in the line's pixels; x1, y1 exclusive)."""
        rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
        if not len(rows):
            return [0, 0, 0, 0]
        shifts = self.shifts[cols[0]:cols[-1] + 1]
        x0, x1 = cols[0] + self.origin[0], cols[-1] + 1 + self.origin[0]
        y0, y1 = rows[0] + shifts.min() + self.origin[1], rows[-1] + 1 + shifts.max() + self.origin[1]
        return self.page.to_picture(x0, y0, x1, y1)


@dataclass
class Page:
    """How the straightened, averaged-down page maps back to the picture."""
    scale: int                   # picture pixels per work pixel
    tilt: float                  # degrees the picture was turned (anticlockwise) to straighten it
    size: tuple[int, int]        # the picture's (width, height)

    def to_picture(self, x0: float, y0: float, x1: float, y1: float) -> list[int]:
        """A box on the straightened page (work pixels) -> the box around it in the picture."""
        xs = np.array([x0, x1, x1, x0], np.float64) * self.scale
        ys = np.array([y0, y0, y1, y1], np.float64) * self.scale
        if self.tilt:
            cx, cy = self.size[0] / 2, self.size[1] / 2
            c, s = np.cos(np.radians(self.tilt)), np.sin(np.radians(self.tilt))  # back: turned by -tilt
            xs, ys = (xs - cx) * c - (ys - cy) * s + cx, (xs - cx) * s + (ys - cy) * c + cy
        w, h = self.size
        return [int(np.clip(np.floor(xs.min()), 0, w)), int(np.clip(np.floor(ys.min()), 0, h)),
                int(np.clip(np.ceil(xs.max()), 0, w)), int(np.clip(np.ceil(ys.max()), 0, h))]


def find_lines(grey: np.ndarray) -> list[TextLine]:
    """Grey levels in [0, 1] of a picture of writing -> its lines, top to bottom (none on a blank page, or on a
    page of rulings alone)."""
    grey = np.asarray(grey, np.float32)
    if grey.ndim != 2 or min(grey.shape) < 1:
        raise ImageError(f"expected a 2-D grey image, got shape {grey.shape}")
    coarse = shrink(grey, COARSE_SIDE)
    if paper_is_dark(coarse):
        grey, coarse = 1.0 - grey, 1.0 - coarse
    contrast = _contrast(coarse)
    if contrast is None:
        return []
    tilt = -page_tilt(thin_lines(coarse))
    if tilt:
        grey = _turned(grey, tilt, cv2.BORDER_REPLICATE)
        coarse = shrink(grey, COARSE_SIDE)
        contrast = _contrast(coarse)
    height = _writing_height(contrast) if contrast is not None else None
    if height is None:
        return []
    height *= grey.shape[0] / coarse.shape[0]  # in the picture's pixels
    scale = max(1, int(height // TEXT_HEIGHT), int(np.ceil(np.sqrt(grey.size / MAX_WORK_PIXELS))))
    page = Page(scale, tilt, (grey.shape[1], grey.shape[0]))
    work = average_down(grey, scale)
    try:
        ink = separate_ink(work, max(work.shape), text_height=height / scale)
    except ImageError:  # nothing but rulings, or specks
        return []
    if tilt:  # what the turn brought in from beyond the picture's edges is no writing
        inside = _turned(np.ones(work.shape, np.float32), tilt, cv2.BORDER_CONSTANT)
        ink = np.where(cv2.erode(inside, np.ones((5, 5), np.uint8)) > 0.99, ink, 0.0)
    return _lines_of(ink, height / scale, page)


def _contrast(grey: np.ndarray) -> np.ndarray | None:
    """How much darker than the paper each pixel is, relative to it; None: there is no ink at all."""
    contrast = contrast_to_paper(grey, paper_brightness(grey))
    return contrast if strongest_patch(contrast) >= MIN_CONTRAST else None


def _turned(grey: np.ndarray, tilt: float, border: int) -> np.ndarray:
    """`grey` turned by `tilt` degrees anticlockwise about its centre; beyond its edges, `border` (OpenCV's)."""
    h, w = grey.shape
    matrix = cv2.getRotationMatrix2D((w / 2, h / 2), tilt, 1.0)
    return cv2.warpAffine(grey, matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=border)


def _writing_height(contrast: np.ndarray) -> float | None:
    """The height of the page's digits in its pixels: the median height of its blobs of ink, rulings and grid
    lines left out, and those under half as tall as the tallest tenth (dots, dashes, pieces of a digit).

    Rulings are first taken as runs across half the page (a grid joins all its writing into one blob), which
    may also take a digit's long stroke on a picture of one number; then, the height known, as runs
    RULE_LENGTH digits long, as separate_ink takes them.
    """
    ink = contrast > max(MIN_CONTRAST, otsu_level(contrast) or MIN_CONTRAST, FAINT_INK_FRACTION * float(contrast.max()))
    height = _blob_height(ink, (contrast.shape[0] // 2, contrast.shape[1] // 2)) or _blob_height(ink, None)
    if height is None:
        return None
    length = int(RULE_LENGTH * height)
    return _blob_height(ink, (length, length)) or height


def _blob_height(ink: np.ndarray, lengths: tuple[int, int] | None) -> float | None:
    """The median height of the taller blobs of `ink` once vertical and horizontal runs of (at least) `lengths`
    pixels are taken away (None: nothing taken); None if no blob is left. The blobs are those of the ink grown by
    half a stroke width all round (less that growth): the dots of a dotted digit, the pieces of a broken one,
    join up."""
    marks = ink.astype(np.uint8)
    if lengths is not None:
        for kernel, across in ((np.ones((1, max(8, lengths[1])), np.uint8), np.ones((3, 1), np.uint8)),
                               (np.ones((max(8, lengths[0]), 1), np.uint8), np.ones((1, 3), np.uint8))):
            runs = cv2.dilate(cv2.morphologyEx(cv2.dilate(marks, across), cv2.MORPH_OPEN, kernel), across)
            marks = marks & (1 - runs)
    grow = int(round(stroke_width(marks.astype(bool)) / 2))
    if grow:
        marks = cv2.dilate(marks, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow + 1, 2 * grow + 1)))
    count, _, stats, _ = cv2.connectedComponentsWithStats(marks, connectivity=8)
    heights = stats[1:, cv2.CC_STAT_HEIGHT][stats[1:, cv2.CC_STAT_AREA] >= 4 + 4 * grow * grow] - 2 * grow
    if not len(heights):
        return None
    tall = heights[heights >= 0.5 * np.percentile(heights, 90)]
    return float(max(1.0, np.median(tall)))


def _lines_of(ink: np.ndarray, height: float, page: Page) -> list[TextLine]:
    """The page's ink (work pixels) grouped into lines, top to bottom."""
    labels, pieces = _pieces(ink > 0, height)
    lines = _group(pieces, height, _slope(ink, labels, pieces, height))
    found = []
    for members in lines:
        own = np.isin(labels, [p.label for p in members]) & (ink > 0)
        rows, cols = np.flatnonzero(own.any(axis=1)), np.flatnonzero(own.any(axis=0))
        if not len(rows):  # pieces that are all smear, no ink (a cut through a blob two lines tall can leave one)
            continue
        crop = np.where(own, ink, 0.0)[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
        straight, shifts = _straightened(crop, height)
        found.append(TextLine(straight, digit_height(straight > 0), shifts, (int(cols[0]), int(rows[0])), page))
    return found


def _slope(ink: np.ndarray, labels: np.ndarray, pieces: list[_Piece], height: float) -> float:
    """How the page's writing runs (rows down per column across): the median, weighted by width, of the slopes
    of the pieces at least two text heights wide (a line through the middle of each column's ink); 0 if none."""
    slopes, weights = [], []
    for piece in pieces:
        if piece.x1 - piece.x0 < 2 * height:
            continue
        mine = (labels[piece.y0:piece.y1, piece.x0:piece.x1] == piece.label) & (ink[piece.y0:piece.y1,
                                                                                      piece.x0:piece.x1] > 0)
        cols = np.flatnonzero(mine.any(axis=0))
        middles = np.array([np.flatnonzero(mine[:, c]).mean() for c in cols])
        slopes.append(float(np.polyfit(cols, middles, 1)[0]))
        weights.append(piece.x1 - piece.x0)
    if not slopes:
        return 0.0
    order = np.argsort(slopes)
    cumulative = np.cumsum(np.array(weights)[order])
    return slopes[order[np.searchsorted(cumulative, cumulative[-1] / 2)]]


@dataclass
class _Piece:
    label: int
    x0: int
    y0: int
    x1: int
    y1: int

    def overlap(self, other: _Piece, slope: float = 0.0) -> float:
        """How much the two pieces' rows overlap, as a share of the shorter one's, once `other` is moved along the
        writing's slope to where this one is."""
        drop = slope * ((self.x0 + self.x1) - (other.x0 + other.x1)) / 2
        shared = min(self.y1, other.y1 + drop) - max(self.y0, other.y0 + drop)
        return shared / max(1, min(self.y1 - self.y0, other.y1 - other.y0))


def _pieces(mask: np.ndarray, height: float) -> tuple[np.ndarray, list[_Piece]]:
    """The ink smeared along rows into pieces of lines: (labels of the smeared ink, the pieces). A piece as tall
    as two lines is cut at its thinnest row between them first."""
    smeared = cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_CLOSE, np.ones((1, max(3, int(SMEAR * height))),
                                                                               np.uint8))
    for _ in range(8):  # each round cuts every blob that is still two lines tall
        count, labels, stats, _ = cv2.connectedComponentsWithStats(smeared, connectivity=8)
        tall = [k for k in range(1, count) if stats[k, cv2.CC_STAT_HEIGHT] > TWO_LINES * height]
        if not tall:
            break
        for k in tall:
            x, y, w, h = (int(v) for v in stats[k, :4])
            rows = (labels[y:y + h, x:x + w] == k).sum(axis=1)
            middle = slice(int(0.25 * h), max(int(0.25 * h) + 1, int(0.75 * h)))
            cut = y + middle.start + int(np.argmin(rows[middle]))
            smeared[cut, x:x + w][labels[cut, x:x + w] == k] = 0
    else:
        count, labels, stats, _ = cv2.connectedComponentsWithStats(smeared, connectivity=8)
    pieces = [_Piece(k, int(stats[k, 0]), int(stats[k, 1]), int(stats[k, 0] + stats[k, 2]),
                     int(stats[k, 1] + stats[k, 3])) for k in range(1, count)
              if stats[k, cv2.CC_STAT_AREA] >= max(4, (0.1 * height) ** 2)]
    return labels, pieces


def _group(pieces: list[_Piece], height: float, slope: float) -> list[list[_Piece]]:
    """Pieces side by side whose rows overlap (along the writing's `slope`), left to right, as lines; top to
    bottom."""
    lines: list[list[_Piece]] = []
    for piece in sorted(pieces, key=lambda p: p.x0):
        best, best_overlap = None, ROW_OVERLAP
        for line in lines:
            nearest = min(line, key=lambda p: max(0, piece.x0 - p.x1, p.x0 - piece.x1))  # the closest along the row
            # straight across, or along the slope: a slope measured on a few short numbers is as much the shape of
            # their digits as the drift of the hand (a 5's high bar), and alone split "12   345" into two lines
            overlap = max(piece.overlap(nearest, slope), piece.overlap(nearest))
            if overlap >= best_overlap:
                best, best_overlap = line, overlap
        if best is None:
            lines.append([piece])
        else:
            best.append(piece)
    return sorted(_with_their_parts(lines, height), key=lambda line: float(np.mean([(p.y0 + p.y1) / 2 for p in line])))


def _with_their_parts(lines: list[list[_Piece]], height: float) -> list[list[_Piece]]:
    """Lines of pieces all shorter than PART of a text height are no lines: a stroke of a digit above or below
    (a 5's foot drawn apart), a dot of a dotted digit, a speck. Each joins the line just above or below it that
    it lies across, if any; the rest join up where they lie within PART of a text height of one another (the
    dots of a digit drawn in dots), and are a line if that makes them tall enough."""
    whole = [line for line in lines if _extent(line)[3] - _extent(line)[1] >= PART * height]
    loose = []
    for line in lines:
        if line in whole:
            continue
        x0, y0, x1, y1 = _extent(line)
        near = [other for other in whole if _gap(_extent(other), (x0, y0, x1, y1))[0] < 0
                and _gap(_extent(other), (x0, y0, x1, y1))[1] < PART * height]
        if near:
            min(near, key=lambda other: abs(sum(_extent(other)[1::2]) - (y0 + y1)) / 2).extend(line)
        else:
            loose.append(list(line))
    boxes = [_extent(part) for part in loose]
    group = list(range(len(loose)))  # union-find: parts that lie close together are one

    def root(k: int) -> int:
        while group[k] != k:
            group[k] = group[group[k]]
            k = group[k]
        return k

    for a in range(len(loose)):
        for b in range(a + 1, len(loose)):
            if max(_gap(boxes[a], boxes[b])) < PART * height:
                group[root(a)] = root(b)
    joined: dict[int, list[_Piece]] = {}
    for k, part in enumerate(loose):
        joined.setdefault(root(k), []).extend(part)
    return whole + [part for part in joined.values() if _extent(part)[3] - _extent(part)[1] >= PART * height]


def _extent(pieces: list[_Piece]) -> tuple[int, int, int, int]:
    return min(p.x0 for p in pieces), min(p.y0 for p in pieces), max(p.x1 for p in pieces), max(p.y1 for p in pieces)


def _gap(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> tuple[int, int]:
    """The blank between two boxes across and down (negative where they overlap)."""
    return max(a[0] - b[2], b[0] - a[2]), max(a[1] - b[3], b[1] - a[3])


def _straightened(ink: np.ndarray, height: float) -> tuple[np.ndarray, np.ndarray]:
    """The line's ink with each column moved up or down so that its digits' middles lie on one row, when they
    drift by STRAIGHTEN of a text height or more along it: a line (a curve, for CURVED blobs or more) through
    the middles of its blobs of ink, fitted by least squares; (ink, each column's shift)."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats((ink > 0).astype(np.uint8), connectivity=8)
    big = [k for k in range(1, count) if stats[k, cv2.CC_STAT_HEIGHT] >= 0.7 * height]
    unmoved = np.zeros(ink.shape[1], np.int64)
    xs = np.array([stats[k, 0] + stats[k, 2] / 2 for k in big])
    if len(big) < 2 or xs.max() - xs.min() < 2 * height:  # blobs side by side, not one over another
        return ink, unmoved
    ys = np.array([stats[k, 1] + stats[k, 3] / 2 for k in big])
    curve = np.polyval(np.polyfit(xs, ys, 2 if len(big) >= CURVED else 1), np.arange(ink.shape[1]))
    steepest = np.abs(np.diff(curve)).max() if len(curve) > 1 else 0.0
    if curve.max() - curve.min() < STRAIGHTEN * height or steepest > np.tan(np.radians(2 * MAX_TILT)):
        return ink, unmoved
    shifts = np.round(curve - curve.min()).astype(np.int64)
    out = np.zeros((ink.shape[0] + int(shifts.max()), ink.shape[1]), ink.dtype)
    rows = np.arange(ink.shape[0])[:, None] + (shifts.max() - shifts)[None, :]
    out[rows, np.arange(ink.shape[1])[None, :]] = ink
    keep = np.flatnonzero(out.any(axis=1))
    top = int(keep[0])
    return out[top:int(keep[-1]) + 1], shifts - shifts.max() + top


def digit_height(mask: np.ndarray) -> float:
    """The digits' height: that of the line of ink, from its highest to its lowest inked row (the blobs
    are no guide: a 5's bar, a dotted 7's dots and a broken 4's strokes are each shorter than the digit)."""
    rows = np.flatnonzero(mask.any(axis=1))
    return float(rows[-1] - rows[0] + 1) if len(rows) else 1.0
