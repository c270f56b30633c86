"""Separating ink from paper, the way document tools do, before a picture becomes an MNIST digit.

A photo of a page is not a drawing on a clean canvas: the light falls off across it, the paper
is tinted, ruled lines cross it, and the sensor adds specks. Each step below removes one of
these, with scikit-image, SciPy's and OpenCV's morphology rather than hand-written filters (OpenCV
for the two steps every drawing pays, the grey closing and the connected components: the same
pixels as SciPy's, in less time):

1. polarity: the paper is what the border mostly shows; light ink on dark paper is inverted;
2. background: the paper's brightness, estimated by a grey closing larger than any stroke (the
   strokes vanish, the light and shadows stay), smoothed — one number where the paper is evenly
   lit; the ink is what is darker than it, relative to it, so uneven light and tinted paper
   divide out;
3. threshold: Otsu's threshold on that background-free contrast, never below a fifth of the
   ink's strength, decides what is ink, and fainter ink connected to it (a tenth and up: the
   strokes' anti-aliased edges) is kept with it, as MNIST keeps it (hysteresis);
4. ruled and grid lines: thin rows (or columns) of ink that cross the whole picture (on a page: long
   straight runs, at slants of up to SLANTS) are removed, except where a stroke crosses them; on a page,
   they also give its tilt (page_tilt) — every rule about rulings lives here;
5. specks: blobs far smaller than the digit's strokes are dropped.

What is left is the ink strength in [0, 1] (0: paper) with its anti-aliased edges; an empty
page, or a page of ruled lines only, has none and is reported as holding no digit.
"""

from __future__ import annotations

import warnings

import cv2
import numpy as np
from PIL import Image
from scipy import ndimage
from skimage.filters import threshold_otsu
from skimage.morphology import skeletonize

from digitlab.errors import ImageError

# OpenCV would spread each of these small steps over every core; a picture is one task, and the server's workers
# are one process per core already: threads here only wait on each other
cv2.setNumThreads(1)

WORK_SIDE = 192             # larger pictures are averaged down to at most this many pixels across first: the
                            # digit ends up 20 pixels tall, and every step below costs per pixel
MIN_CONTRAST = 0.1          # ink must be at least this much darker than the paper, relative to it
MIN_INK_FRACTION = 0.2      # of the ink's full strength: the weakest level that counts as ink
FAINT_INK_FRACTION = 0.1    # ... and the weakest kept at the edge of a stroke (anti-aliasing), as MNIST keeps it
BACKGROUND_SIDE = 96        # the paper's brightness is estimated on a copy this many pixels across
PAPER_WINDOW = 0.3          # ... by a closing this share of the picture wide: far wider than a stroke, and narrow
                            # enough to follow light falling steeply across the page (a closing lifts the paper by
                            # up to half its width at the picture's dark edge)
EVEN_WINDOW = 0.5           # the paper is evenly lit (one brightness) when a closing this wide is flat: wider than
                            # the blob a small scan blurs a loop into once enlarged, which PAPER_WINDOW's closing
                            # would keep as dark "paper"; evidence: benchmarks/robustness.py, 8x8 scans
LINE_SPAN = 0.85            # a ruled line crosses at least this share of the picture
LINE_MAX_THICKNESS = 0.5    # ... and is at most this share of the strokes' width thick
SPECK_SHARE = 0.02          # blobs smaller than this share of the largest one, and thinner than a stroke, are specks
RULE_LENGTH = 3.0           # on a page, in text heights: a straight run of ink this long is a ruling, not writing
LINE_SLACK = 2              # ... allowing it to wander this many pixels across (a page straightened not quite flat)
LINE_GAP = 5                # ... and to be broken by gaps this many pixels long (a faint line in a noisy photo);
FAINT_LINE = 0.7            # ... it is a ruling if no darker than this share of the writing's ink, or thin, ...
RULING_SPAN = 0.4           # ... or one of RULED or more crossing this share of the picture
RULED = 3
SLANTS = (-3.0, -1.5, 0.0, 1.5, 3.0)  # degrees off the rows (or columns): long runs are looked for along each (a page
                            # flattened with a corner out of the frame fans out: its rulings' slants differ by a few)
MAX_TILT = 6.0              # degrees: the most a page is turned straight (page_tilt)
MIN_TILT = 0.2              # degrees: a page turned less than this is left as it is
THIN_LINE = 5               # pixels, on a page's small copy: rulings are looked for among dark lines thinner than
                            # this ...
LINE_NOISE = 6.0            # ... and darker than this many times the paper's noise (evidence: benchmarks/pages.py)
HOUGH_STEP = 0.25           # degrees: the Hough transform's angle step (the row profile refines it tenfold)
CROP_MARGIN = 0.25          # paper kept around the ink, as a share of its larger side, when a large picture is read
                            # again cropped to its ink (page_ink)


def paper_is_dark(grey: np.ndarray) -> bool:
    """Whether the paper is darker than the ink (chalk on a board, a negative): the border shows the paper."""
    border = np.concatenate([grey[0], grey[-1], grey[:, 0], grey[:, -1]])
    return bool(np.median(border) < 0.5)


def paper_up(grey: np.ndarray) -> np.ndarray:
    """The picture with light paper and dark ink, whichever it had."""
    return 1.0 - grey if paper_is_dark(grey) else grey


def contrast_to_paper(grey: np.ndarray, paper: np.ndarray | float) -> np.ndarray:
    """How much darker than the paper each pixel is, relative to the paper's brightness there: 0 (paper) to 1."""
    return np.clip((paper - grey) / np.maximum(paper, 0.05), 0.0, 1.0).astype(np.float32, copy=False)


def otsu_level(contrast: np.ndarray) -> float | None:
    """Otsu's threshold between ink and paper on a contrast map, or between paper and desk on a photo's paper
    score (paper.py): every other pixel of a large one, the histogram needs no more; None where it is the same
    everywhere."""
    sample = contrast[::2, ::2] if contrast.size > 4096 else contrast
    return float(threshold_otsu(sample)) if sample.std() > 0 else None


def paper_brightness(grey: np.ndarray) -> np.ndarray | float:
    """The paper's brightness at every pixel: a grey closing wider than any stroke, then smoothed.

    Worked out on a copy BACKGROUND_SIDE pixels across (light changes slowly) and scaled back;
    evenly lit paper (a drawing, a scan: a closing EVEN_WINDOW wide is flat) is one number, so that
    a blurred blob of ink is never taken for a shadow there.
    """
    h, w = grey.shape
    step = max(1, int(np.ceil(max(h, w) / BACKGROUND_SIDE)))
    small = np.ascontiguousarray(grey[::step, ::step])
    even = _grey_closing(small, _window(EVEN_WINDOW, small.shape))
    if even.max() - even.min() < 0.02:
        return float(np.median(even))
    size = _window(PAPER_WINDOW, small.shape)
    closed = _grey_closing(small, size)
    paper = np.maximum(ndimage.uniform_filter(closed, size=size, mode="nearest"), closed)
    if step == 1:
        return paper
    return np.asarray(Image.fromarray(paper.astype(np.float32), mode="F").resize((w, h), Image.Resampling.BILINEAR))


def _grey_closing(grey: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """ndimage.grey_closing(grey, size, mode="nearest"), pixel for pixel (a square window's maxima and minima
    need no arithmetic), in OpenCV, which is faster (see _label)."""
    kernel = np.ones(size, np.uint8)
    return cv2.morphologyEx(grey, cv2.MORPH_CLOSE, kernel, borderType=cv2.BORDER_REPLICATE)


def _label(mask: np.ndarray) -> tuple[np.ndarray, int]:
    """ndimage.label(mask, 8-connected): (labels, count), in OpenCV, which is faster on a board's drawing. Both
    number the blobs in raster order; the uses here need only the same blobs (areas, the largest, which ones a seed
    reaches). tests/test_preprocess.py pins both helpers to SciPy's definitions."""
    count, labels = cv2.connectedComponents(np.ascontiguousarray(mask, dtype=np.uint8), connectivity=8,
                                            ltype=cv2.CV_32S)
    return labels, count - 1


def _window(share: float, shape: tuple[int, ...]) -> tuple[int, int]:
    """A square window `share` of the picture's longer side wide (odd, at least 3 pixels)."""
    side = max(3, int(round(share * max(shape))) | 1)
    return side, side


def stroke_width(mask: np.ndarray) -> float:
    """The typical width of the strokes in a binary ink mask, in pixels: twice the median distance
    from the skeleton to the paper."""
    if not mask.any():
        return 0.0
    skeleton = skeletonize(mask)
    return float(2 * np.median(ndimage.distance_transform_edt(mask)[skeleton])) if skeleton.any() else 1.0


def _spanning_rows(mask: np.ndarray) -> np.ndarray:
    """Rows that are ink across (nearly) the whole picture."""
    return mask.mean(axis=1) >= LINE_SPAN


def _thin_bands(rows: np.ndarray, width: float) -> list[tuple[int, int]]:
    """(first, last) of each run of True rows no thicker than a ruled line may be next to strokes `width` wide."""
    bands, start = [], None
    for y, on in enumerate([*rows, False]):
        if on and start is None:
            start = y
        elif not on and start is not None:
            if y - start <= max(2.0, LINE_MAX_THICKNESS * width):
                bands.append((start, y - 1))
            start = None
    return bands


def ruled_lines(mask: np.ndarray) -> np.ndarray:
    """The pixels of the ruled (rows) and grid (columns) lines in an ink mask, each with a margin as
    thick as itself for its faint edges, except where a stroke crosses a line."""
    bands = {}  # "rows"/"columns" -> (first, last) of each thin band of ink across the picture
    on_a_line = np.zeros_like(mask)
    for name, view, lines in (("rows", mask, on_a_line), ("columns", mask.T, on_a_line.T)):
        spanning = _spanning_rows(view)
        bands[name] = _thin_bands(spanning, stroke_width(view & ~spanning[:, None])) if spanning.any() else []
        for first, last in bands[name]:
            lines[first:last + 1] = True
    strokes = mask & ~on_a_line  # ink on no line: what may cross one (another line does not)
    erased = np.zeros_like(mask)
    for name, view, gone in (("rows", strokes, erased), ("columns", strokes.T, erased.T)):
        for first, last in bands[name]:
            above = view[first - 1] if first > 0 else np.zeros(view.shape[1], bool)
            below = view[last + 1] if last + 1 < view.shape[0] else np.zeros(view.shape[1], bool)
            crossing = ndimage.binary_dilation(above & below, iterations=1)  # a stroke runs through the line here
            margin = last - first + 1
            gone[max(0, first - margin):last + 1 + margin, ~crossing] = True
    return erased


def remove_specks(mask: np.ndarray) -> np.ndarray:
    """`mask` without the blobs that are far smaller than the largest and thinner than its strokes."""
    labels, count = _label(mask)
    if count <= 1:
        return mask
    areas = np.bincount(labels.ravel())
    areas[0] = 0
    width = stroke_width(labels == int(areas.argmax()))
    keep = (areas >= SPECK_SHARE * areas.max()) | (areas >= width ** 2)
    keep[0] = False
    return keep[labels]


def separate_ink(grey: np.ndarray, work_side: int = WORK_SIDE, text_height: float | None = None) -> np.ndarray:
    """Grey levels in [0, 1] of any picture of a digit -> ink strength in [0, 1], paper at 0, averaged
    down by shrink_factor(grey.shape, work_side) first.

    `text_height` (pixels, once averaged down): the picture is a page of writing whose digits are about that
    tall; its rulings and grid lines are then found as long straight runs of ink (long_lines), which a page
    turned or bent a little leaves across many rows, rather than as rows that cross the whole picture.

    Raises ImageError when there is no ink: an empty page, or one with only ruled lines or specks.
    """
    if grey.ndim != 2 or min(grey.shape) < 1:
        raise ImageError(f"expected a 2-D grey image, got shape {grey.shape}")
    grey = paper_up(shrink(grey.astype(np.float32, copy=False), work_side))
    contrast = contrast_to_paper(grey, paper_brightness(grey))
    if strongest_patch(contrast) < MIN_CONTRAST:
        raise ImageError("no digit found: the image is blank (no ink that stands out from the background)")
    peak = float(contrast.max())
    level = MIN_INK_FRACTION * peak
    otsu = otsu_level(contrast)
    if otsu is not None:
        level = max(level, min(otsu, 0.5 * peak))
    if text_height is not None:  # a page: most of it is paper, whose noise alone must never pass for ink
        level = max(level, MIN_CONTRAST)
    # lines are looked for among all the ink, faint included: a light blue ruling is fainter than a pen
    faint_ink = contrast > FAINT_INK_FRACTION * peak
    lines = ruled_lines(faint_ink) if text_height is None else long_lines(faint_ink, contrast, level, text_height)
    strokes = remove_specks((contrast > level) & ~lines)
    if not strokes.any():
        raise ImageError("no digit found: only lines or specks, no strokes")
    strength = _percentile(contrast[strokes], 95)  # of the strokes themselves: lines and specks are gone
    # the strokes' faint, anti-aliased edges: weaker ink connected to them (hysteresis), not on an erased line
    faint = (contrast > FAINT_INK_FRACTION * strength) & ~lines
    ink = _connected_to(strokes, faint | strokes)
    return np.clip(np.where(ink, contrast, 0.0) / strength, 0.0, 1.0).astype(np.float32)


def long_lines(mask: np.ndarray, contrast: np.ndarray, level: float, text_height: float) -> np.ndarray:
    """The pixels of a page's rulings, grid lines and underlines in an ink mask: straight horizontal or vertical
    runs at least RULE_LENGTH text heights long, with a pixel of margin for their faint edges; but not where a
    stroke crosses them, nor a stroke written along a ruling and darker than it (the foot of a 2 on its line).

    A line a little off the horizontal (a page straightened to a fraction of a degree, a page that bends) is a
    staircase of short runs, and a faint one is broken where noise took pixels away: the runs are looked for in
    the mask thickened by LINE_SLACK pixels across them and with gaps of up to LINE_GAP pixels along them closed.
    """
    length = max(8, int(RULE_LENGTH * text_height))
    marks = mask.astype(np.uint8)
    slack = 2 * LINE_SLACK + 1
    found = []
    for axis, (run, across, gap) in enumerate((((1, length), (slack, 1), (1, LINE_GAP)),
                                               ((length, 1), (1, slack), (LINE_GAP, 1)))):
        runs = np.zeros_like(marks)
        for slant in SLANTS:
            sheared = _sheared(marks, slant, axis)
            thick = cv2.morphologyEx(cv2.dilate(sheared, np.ones(across, np.uint8)), cv2.MORPH_CLOSE,
                                     np.ones(gap, np.uint8))
            opened = cv2.dilate(cv2.morphologyEx(thick, cv2.MORPH_OPEN, np.ones(run, np.uint8)),
                                np.ones(across, np.uint8))
            runs |= _sheared(opened, slant, axis, back=True)
        found.append(runs.astype(bool))
    if not (found[0].any() or found[1].any()):
        return found[0]
    # a ruling is thinner or fainter than the writing's strokes; a row of 7s whose bars nearly meet is neither
    writing = mask & ~(found[0] | found[1]) & (contrast > level)
    most = max(2.0, LINE_MAX_THICKNESS * stroke_width(writing))
    faint = FAINT_LINE * (_percentile(contrast[writing], 95) if writing.any() else 1.0)
    horizontal, vertical = (_rulings(band, mask, contrast, axis, most, faint) & mask for axis, band in enumerate(found))
    lines = horizontal | vertical
    if not lines.any():
        return lines
    strokes = mask & ~lines & (contrast > level)
    reach = max(2, int(round(0.08 * text_height)))  # a ruling is thinner than this; strokes on both sides cross it
    crossing = (horizontal & _on_both_sides(strokes, reach, axis=0)) | (vertical & _on_both_sides(strokes, reach, 1))
    on_line, ink = float(np.median(contrast[lines])), _percentile(contrast[strokes], 95) if strokes.any() else 1.0
    darker = contrast > (on_line + ink) / 2 if on_line < 0.75 * ink else np.zeros_like(lines)
    keep = crossing | (darker & lines)
    grown = cv2.dilate(horizontal.astype(np.uint8), np.ones((3, 1), np.uint8)).astype(bool)
    grown |= cv2.dilate(vertical.astype(np.uint8), np.ones((1, 3), np.uint8)).astype(bool)
    return grown & ~cv2.dilate(keep.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)


def _sheared(marks: np.ndarray, slant: float, axis: int, back: bool = False) -> np.ndarray:
    """A mask sheared so that lines running `slant` degrees off its rows (axis 0) or columns (axis 1) run along
    them; `back`: the shear undone."""
    if not slant:
        return marks
    h, w = marks.shape
    t = np.tan(np.radians(slant))
    matrix = np.float32([[1, 0, 0], [t, 1, -t * w / 2]]) if axis == 0 else np.float32([[1, t, -t * h / 2], [0, 1, 0]])
    flags = cv2.INTER_NEAREST | (cv2.WARP_INVERSE_MAP if back else 0)
    return cv2.warpAffine(marks, matrix, (w, h), flags=flags, borderMode=cv2.BORDER_CONSTANT)


def _rulings(bands: np.ndarray, mask: np.ndarray, contrast: np.ndarray, axis: int, most: float,
             faint: float) -> np.ndarray:
    """The bands (running across `axis`) that are rulings: their ink in `mask` no thicker than `most` pixels
    along most of their length (the median over their columns, or rows for upright bands: writing crossing a
    ruling here and there does not make it thick), or no darker on average than `faint`; or, whatever their
    ink, one of RULED or more bands across most of the picture (a page's rulings come in families; a row of
    digits whose strokes meet is one band)."""
    bands, mask, contrast = (bands, mask, contrast) if axis == 0 else (bands.T, mask.T, contrast.T)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(bands.astype(np.uint8), connectivity=8)
    if count <= 1:
        return np.zeros_like(bands if axis == 0 else bands.T)
    columns = np.broadcast_to(np.arange(bands.shape[1]), bands.shape)
    per_column = np.bincount(labels[mask] * bands.shape[1] + columns[mask],
                             minlength=count * bands.shape[1]).reshape(count, bands.shape[1]).astype(np.float64)
    ink = per_column.sum(axis=1)
    per_column[per_column == 0] = np.nan  # columns the band has no ink in (a gap in a faint line)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a band with no ink at all: nanmedian warns, gives NaN
        thickness = np.nan_to_num(np.nanmedian(per_column, axis=1), nan=np.inf)
        darkness = np.bincount(labels[mask], weights=contrast[mask], minlength=count) / np.maximum(ink, 1)
    across = stats[:, cv2.CC_STAT_WIDTH] >= RULING_SPAN * bands.shape[1]
    keep = (thickness <= most) | (darkness <= faint) | (across if across[1:].sum() >= RULED else False)
    keep[0] = False
    rulings = keep[labels]
    return rulings if axis == 0 else rulings.T


def _on_both_sides(strokes: np.ndarray, reach: int, axis: int) -> np.ndarray:
    """Pixels with stroke pixels within `reach` before them and after them along `axis`."""
    before, after = np.zeros_like(strokes), np.zeros_like(strokes)
    n = strokes.shape[axis]
    for d in range(1, min(reach, n - 1) + 1):
        head = [slice(None)] * 2
        tail = [slice(None)] * 2
        head[axis], tail[axis] = slice(d, None), slice(None, n - d)
        before[tuple(head)] |= strokes[tuple(tail)]
        after[tuple(tail)] |= strokes[tuple(head)]
    return before & after


def thin_lines(grey: np.ndarray) -> np.ndarray:
    """Thin dark lines, however faint (a ruling averaged down): pixels darker than a grey closing THIN_LINE
    pixels wide by far more than the paper's own noise (the median and spread of that difference)."""
    lines = cv2.morphologyEx(grey, cv2.MORPH_BLACKHAT, np.ones((THIN_LINE, THIN_LINE), np.uint8))
    lines /= np.maximum(paper_brightness(grey), 0.05)
    middle = float(np.median(lines))
    spread = 1.4826 * float(np.median(np.abs(lines - middle)))
    return lines > middle + LINE_NOISE * spread


def page_tilt(mask: np.ndarray) -> float:
    """How far the page's rulings or grid lines are turned (degrees, anticlockwise on the screen); 0 for a page
    without them, whose writing is left as it lies (each line is straightened on its own).

    Rulings are found as long straight runs of ink by a Hough transform (at least RULING_SPAN of the picture
    across, within MAX_TILT of level): three or more that agree give the tilt, which the row profile of the
    ink then makes exact (the angle at which the rows are sharpest, the sum of their squares, within a
    Hough step of it).
    """
    w = mask.shape[1]
    found = cv2.HoughLinesP(mask.astype(np.uint8), 1, np.radians(HOUGH_STEP), int(RULING_SPAN * w / 2),
                            minLineLength=int(RULING_SPAN * w), maxLineGap=max(2, w // 50))
    angles = [np.degrees(np.arctan2(y0 - y1, x1 - x0)) for x0, y0, x1, y1 in
              (found.reshape(-1, 4) if found is not None else [])]
    angles = np.array([a for a in angles if abs(a) <= MAX_TILT])
    if not len(angles):
        return 0.0
    agree = [angles[np.abs(angles - a) <= 2 * HOUGH_STEP] for a in angles]  # the largest group that agrees
    angles = max(agree, key=len)
    if len(angles) < 3:
        return 0.0
    ys, xs = np.nonzero(mask)
    xs = xs - w / 2

    def sharpness(angle: float) -> float:
        rows = np.round(ys + xs * np.tan(np.radians(angle))).astype(np.int64)  # flat rows of a page turned by `angle`
        counts = np.bincount(rows - rows.min())
        return float(counts @ counts.astype(np.float64))

    guess = float(np.median(angles))
    tilt = max(np.arange(guess - 2 * HOUGH_STEP, guess + 2 * HOUGH_STEP + 1e-9, HOUGH_STEP / 10), key=sharpness)
    return round(float(tilt), 2) if abs(tilt) >= MIN_TILT else 0.0


def page_ink(grey: np.ndarray, work_side=lambda shape: WORK_SIDE) -> tuple[np.ndarray, int, int, int]:
    """(ink, picture pixels per ink pixel, top, left): separate_ink of `grey`, or of a crop around its ink
    whose top left corner lies at (top, left) in `grey`; `work_side(shape)` is the side a picture of that
    shape is averaged down to.

    A phone photo of a page is thousands of pixels across and its digits a few dozen tall: averaged down
    as a whole, a digit would be left a few pixels tall. So the ink found on that small copy is read again
    from a crop around it, with CROP_MARGIN of paper, unless the picture is less than three times its
    work side across (a canvas, a scan of one digit: a digit filling a third of it keeps 20 pixels or
    more) or the crop would not be read at least twice as finely.

    Raises ImageError when the picture holds no ink (as separate_ink).
    """
    side = work_side(grey.shape)
    factor = shrink_factor(grey.shape, side)
    ink = separate_ink(grey, side)  # pixel (r, c) of it covers rows r*factor ... (r+1)*factor-1 of grey
    if factor < 3:
        return ink, factor, 0, 0
    rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    top, bottom, left, right = rows[0] * factor, (rows[-1] + 1) * factor, cols[0] * factor, (cols[-1] + 1) * factor
    margin = int(CROP_MARGIN * max(bottom - top, right - left)) + factor
    top, left = max(0, top - margin), max(0, left - margin)
    bottom, right = min(grey.shape[0], bottom + margin), min(grey.shape[1], right + margin)
    if 2 * shrink_factor((bottom - top, right - left), side) > factor:
        return ink, factor, 0, 0
    crop = grey[top:bottom, left:right]
    side = work_side(crop.shape)
    return separate_ink(crop, side), shrink_factor(crop.shape, side), int(top), int(left)


# The drawing board sends every drawing as it is drawn, so each step here is paid per stroke: the helpers below
# compute what np.percentile and ndimage.binary_propagation do, in less time on a board's drawing
# (benchmarks/load.py).

def _percentile(values: np.ndarray, q: float) -> float:
    """np.percentile(values, q) (linear interpolation), by partial sorting."""
    rank = q / 100 * (len(values) - 1)
    low = int(rank)
    high = min(low + 1, len(values) - 1)
    ordered = np.partition(values, [low, high])
    return float(ordered[low] + (rank - low) * (ordered[high] - ordered[low]))


def _connected_to(seeds: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The pixels of `mask` 8-connected to a seed (seeds lie in mask): one labelling, not repeated dilations."""
    labels, count = _label(mask)
    reached = np.zeros(count + 1, bool)
    reached[labels[seeds]] = True
    reached[0] = False
    return reached[labels]


def shrink_factor(shape: tuple[int, ...], side: int = WORK_SIDE) -> int:
    """The whole factor that brings a picture of `shape` to at most `side` pixels across."""
    return max(1, min(int(np.ceil(max(shape) / side)), min(shape)))  # a strip stays at least a pixel thick


def shrink(grey: np.ndarray, side: int = WORK_SIDE) -> np.ndarray:
    """`grey` averaged down by shrink_factor (as it is if already small enough)."""
    return average_down(grey, shrink_factor(grey.shape, side))


def average_down(grey: np.ndarray, factor: int) -> np.ndarray:
    """`grey` averaged down by a whole `factor` (as it is for 1)."""
    return grey if factor <= 1 else _block_means(grey, factor)


def _block_means(grey: np.ndarray, factor: int) -> np.ndarray:
    """Means of `factor` x `factor` blocks (a partial last row or column of blocks is left out)."""
    h, w = grey.shape[0] // factor * factor, grey.shape[1] // factor * factor
    # float32, always: Pillow's "F" images read the buffer as 32-bit floats, and given float64 they saw the
    # first half of the picture only (a digit drawn low on an evenly lit canvas was "blank")
    values = np.ascontiguousarray(grey[:h, :w], dtype=np.float32)
    return np.asarray(Image.fromarray(values, mode="F").reduce(factor))


def strongest_patch(contrast: np.ndarray) -> float:
    """The contrast of the darkest 2x2 patch: a lone dark pixel (sensor noise) is not ink."""
    if min(contrast.shape) < 2:
        return float(contrast.max())
    return float(_block_means(contrast, 2).max())
