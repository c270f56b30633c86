"""Where the paper is in a photo: a page lying on a desk, at an angle, flattened by its perspective.

People photograph a page lying on a table, some of the table around it, one corner nearer the lens than the
others. Lines are sought on the paper alone and straight, so the paper is found first:

1. the photo is looked at small (WORK_SIDE pixels across) in CIELAB: paper is light and nearly colourless, so
   every pixel gets a paper score, lightness less twice its chroma; Otsu's threshold on that score gives a first
   guess of paper and surroundings (a wooden, dark, coloured or patterned desk, a hand);
2. GrabCut (OpenCV) refines that guess with colour models of both and a smoothness term, so that a grey shadow
   across the page stays paper and a pale table stays table where its colour differs;
3. the largest region of paper is the page: its convex outline is simplified to a polygon whose sides along the
   frame's edges are not the page's (a corner cut off by the frame); the page's four sides are the polygon's
   others, and its corners where they meet, inside the frame or outside it;
4. the page is flattened by the homography that takes those corners to an upright rectangle as large as the
   page's sides (cv2.warpPerspective), and every box read on it is carried back to the photo by the inverse.

A picture that is all paper (a scan, a canvas, a photo cropped to the page) has no such outline, or one that
fills the frame: it is read as it is. So is a photo in which nothing passes for paper. Where it fails: a page
on a table of its own colour and lightness with no shadow at its edges (nothing tells them apart), and a page
mostly out of the frame (fewer than two sides of its own, or over ON_FRAME of its outline along the frame).
docs/reading.md, "A page on a desk".
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image

from digitlab.reading.ink import otsu_level

FLAT_BORDER = 2.0   # grey levels: a picture whose border varies less than this (no sensor noise, no light falling
                    # off) is a canvas or a clean scan, all paper: the board's drawings skip the ~20-35 ms below
WORK_SIDE = 256     # pixels: the photo is looked at this size to find its paper (a page's outline needs no more)
CHROMA_WEIGHT = 2.0  # paper score: CIELAB lightness less this many times the chroma
GRABCUT_ROUNDS = 3  # GrabCut's iterations (evidence: benchmarks/pages.py, desk rows)
MIN_AREA = 0.08     # of the frame: a smaller region of paper is no page
ALL_PAPER = 0.88    # of the frame: an outline this large is the whole picture (a scan): read as it is
FRAME_BAND = 0.015  # of the frame's side: a side of the outline this close to the frame's edge is the frame's
ON_FRAME = 0.6     # of the outline's perimeter: at most this much of it runs along the frame (a page cut off on two
                   # sides), and at least two of its sides are the page's own
SIMPLIFY = 0.02     # of the outline's perimeter: how far the polygon may stray from it
SOLID = 0.8         # the region fills at least this share of the quadrilateral found, else it is no page
PAPER_LEVEL = 90    # percentile of the flattened page's grey levels taken for its paper (the ink is far fewer)
INSET = 0.03        # of the page's side: left out along each edge when the page is flattened
EDGE_LOW, EDGE_HIGH = 0.5, 1.0  # Canny's thresholds, as shares of a third of the photo's median grey level
BAND = 0.02         # of the work photo's side: the bands inside and outside a page's edges that are compared ...
LIGHTER = 8.0       # ... grey levels: the page is at least this much lighter just inside its edges than outside ...
SIDE_STEP = 4.0     # ... and lighter or more like paper (_paper_score) by this much across each of its own sides (a
                    # ruling between two bands of one paper: 0-2)
MIN_ANGLE = 40.0    # degrees: every corner of a page seen at an angle is between this and 180 less this


@dataclass
class Paper:
    """The page in a photo: its corners in the photo's pixels (top left, top right, bottom right, bottom left;
    a corner cut off by the frame lies outside it) and the size of the flattened page."""
    corners: np.ndarray
    size: tuple[int, int]

    @property
    def homography(self) -> np.ndarray:
        """Photo pixels -> flattened page pixels. The flattened page leaves out INSET of each side: the page's
        edge, a pixel or two of desk where a corner is found a little off, and the shadow along an edge would
        otherwise read as strokes (a "1" at the end of every line)."""
        w, h = self.size
        mx, my = INSET * w, INSET * h
        flat = np.array([[-mx, -my], [w + mx, -my], [w + mx, h + my], [-mx, h + my]], np.float32)
        return cv2.getPerspectiveTransform(self.corners.astype(np.float32), flat)

    def flatten(self, grey: np.ndarray) -> np.ndarray:
        """The page alone, upright and flat: grey levels of the photo warped by the homography, scaled so that its
        paper is white. The paper was found as the light stuff of the photo; a page in a dim room or in the
        phone's shadow can be darker than mid-grey all over, and would be taken for dark paper with light ink."""
        flat = cv2.warpPerspective(grey, self.homography, self.size, flags=cv2.INTER_AREA,
                                   borderMode=cv2.BORDER_REPLICATE)
        paper = float(np.percentile(flat[::4, ::4], PAPER_LEVEL))
        return np.clip(flat / max(paper, 1e-3), 0.0, 1.0).astype(np.float32, copy=False)

    def to_photo(self, points: np.ndarray) -> np.ndarray:
        """Points (N, 2) on the flattened page -> the photo's pixels."""
        inverse = np.linalg.inv(self.homography)
        return cv2.perspectiveTransform(np.asarray(points, np.float64).reshape(1, -1, 2), inverse)[0]

    def to_dict(self) -> dict:
        return {"corners": [[round(float(x), 1), round(float(y), 1)] for x, y in self.corners],
                "size": list(self.size)}


def find_paper(picture: Image.Image) -> Paper | None:
    """The page in a photo of a page lying on something else, or None where the picture is all paper (or holds
    no paper at all): then it is read as it is."""
    rgb = np.asarray(picture.convert("RGB"))
    height, width = rgb.shape[:2]
    scale = WORK_SIDE / max(width, height)
    if scale >= 1 or min(width, height) < 32:
        return None
    border = np.concatenate([rgb[0], rgb[-1], rgb[:, 0], rgb[:, -1]]).astype(np.float32)
    if border.std(axis=0).max() < FLAT_BORDER:  # no photo has a border this even: a canvas, a clean scan
        return None
    small = cv2.resize(rgb, (max(1, round(width * scale)), max(1, round(height * scale))),
                       interpolation=cv2.INTER_AREA)
    found = []
    for find in (_paper_region, _edged_region):  # by colour, and by its edges where colour does not tell
        region = find(small)
        corners = None if region is None else _corners(region)
        if corners is not None and _lighter_than_around(small, corners):
            found.append(corners)
    if not found:
        return None
    # the page whose corners the frame cuts least (a pale desk taken for paper reaches the frame's corners),
    # then the larger
    corners = max(found, key=lambda c: (-_on_the_frame(c, small.shape), cv2.contourArea(c.astype(np.float32))))
    corners = corners / scale
    sides = np.linalg.norm(corners - np.roll(corners, -1, axis=0), axis=1)  # top, right, bottom, left
    keep = 1 - 2 * INSET
    size = (int(round(max(sides[0], sides[2]) * keep)), int(round(max(sides[1], sides[3]) * keep)))
    return Paper(corners, size) if min(size) >= 32 else None


def _paper_region(small: np.ndarray) -> np.ndarray | None:
    """The largest region of paper in a small RGB photo (bool mask), or None where it is nothing like a page:
    too small, or the whole frame."""
    score = cv2.GaussianBlur(_paper_score(small), (5, 5), 0)
    low, high = np.percentile(score, (1, 99))
    if high - low < 20:  # one colour and light across the frame: all paper, or all desk
        return None
    level = otsu_level(score)
    mask = np.where(score > level, cv2.GC_PR_FGD, cv2.GC_PR_BGD).astype(np.uint8)
    background, foreground = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    try:
        cv2.grabCut(small, mask, None, background, foreground, GRABCUT_ROUNDS, cv2.GC_INIT_WITH_MASK)
    except cv2.error:  # a GMM with no samples: one side of the guess was empty
        return None
    paper = ((mask == cv2.GC_FGD) | (mask == cv2.GC_PR_FGD)).astype(np.uint8)
    paper = cv2.morphologyEx(paper, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    count, labels, stats, _ = cv2.connectedComponentsWithStats(paper, connectivity=4)
    if count < 2:
        return None
    biggest = 1 + int(stats[1:, cv2.CC_STAT_AREA].argmax())
    area = stats[biggest, cv2.CC_STAT_AREA] / paper.size
    if not MIN_AREA <= area < ALL_PAPER:
        return None
    return labels == biggest


def _paper_score(small: np.ndarray) -> np.ndarray:
    """How much like paper each pixel of an RGB photo is: light and colourless (CIELAB lightness less
    CHROMA_WEIGHT times the chroma, OpenCV's 8-bit scale)."""
    lab = cv2.cvtColor(small, cv2.COLOR_RGB2LAB).astype(np.float32)
    return lab[..., 0] - CHROMA_WEIGHT * np.hypot(lab[..., 1] - 128, lab[..., 2] - 128)


def _on_the_frame(corners: np.ndarray, shape: tuple[int, ...]) -> int:
    """How many corners lie on the frame's edge or beyond it."""
    h, w = shape[:2]
    return sum(bool(_frame_edges(corner, w, h)) for corner in corners)


def _frame_edges(point: np.ndarray, w: int, h: int) -> set[str]:
    """The frame's edges a point lies on (within FRAME_BAND) or beyond."""
    band = FRAME_BAND * max(w, h) + 1
    x, y = point
    return {side for side, near in (("left", x <= band), ("right", x >= w - 1 - band), ("top", y <= band),
                                    ("bottom", y >= h - 1 - band)) if near}


def _edged_region(small: np.ndarray) -> np.ndarray | None:
    """The largest closed outline of sharp edges (Canny) in a small RGB photo, filled: a page on a table of
    nearly its own lightness, where a shadow across both is a stronger step in light than the page's edge but a
    soft one, and the page's edge a small step but a sharp one."""
    grey = cv2.GaussianBlur(cv2.cvtColor(small, cv2.COLOR_RGB2GRAY), (3, 3), 0)
    middle = float(np.median(grey))
    edges = cv2.Canny(grey, 0.33 * middle * EDGE_LOW, 0.33 * middle * EDGE_HIGH)
    edges = cv2.dilate(edges, np.ones((3, 3), np.uint8))
    # every outline, the insides of rings too: a page's edge is a ring whose inside is the page alone, where its
    # outside may have the desk's grain or a shadow's ragged edge run into it
    contours, _ = cv2.findContours(edges, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
    quads = [q for q in (cv2.approxPolyDP(c, SIMPLIFY * cv2.arcLength(c, True), True) for c in contours)
             if len(q) == 4 and cv2.isContourConvex(q)
             and MIN_AREA <= cv2.contourArea(q) / grey.size < ALL_PAPER]
    region = np.zeros(grey.shape, np.uint8)
    if quads:
        cv2.fillPoly(region, [max(quads, key=cv2.contourArea)], 1)
    elif contours:
        cv2.drawContours(region, [cv2.convexHull(max(contours, key=cv2.contourArea))], -1, 1, -1)
    area = region.mean()
    return region.astype(bool) if MIN_AREA <= area < ALL_PAPER else None


def _lighter_than_around(small: np.ndarray, corners: np.ndarray) -> bool:
    """Whether the quadrilateral is lighter just inside its edges than just outside them (where outside is in the
    frame), and the paper does not go on beyond any of its sides, as light and colourless (_paper_score) as inside.
    A page on a desk is; a block of writing found on a page that fills the picture is not, nor a piece of a page
    that one of its rulings closes off."""
    grey = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY).astype(np.float32)
    looks = (grey, _paper_score(small))
    quad = np.zeros(small.shape[:2], np.uint8)
    cv2.fillPoly(quad, [np.round(corners).astype(np.int32)], 1)
    band = max(2, int(round(BAND * max(quad.shape))))
    kernel = np.ones((2 * band + 1, 2 * band + 1), np.uint8)
    inside = (quad > 0) & (cv2.erode(quad, kernel) == 0)
    outside = (cv2.dilate(quad, kernel) > 0) & (quad == 0)
    if inside.sum() < 10 or outside.sum() < 10:
        return True  # nothing of the frame outside it: nothing to compare
    if float(np.median(grey[inside])) - float(np.median(grey[outside])) < LIGHTER:
        return False
    h, w = quad.shape
    for k in range(4):
        a, b = corners[k], corners[(k + 1) % 4]
        side = np.zeros(quad.shape, np.uint8)
        cv2.line(side, tuple(int(v) for v in np.round(a)), tuple(int(v) for v in np.round(b)), 1, 2 * band + 1)
        near, beyond = inside & (side > 0), outside & (side > 0)
        if (not _on_frame(a, b, w, h) and min(near.sum(), beyond.sum()) >= 10
                and all(float(np.median(look[near])) - float(np.median(look[beyond])) < SIDE_STEP for look in looks)):
            return False
    return True


def _corners(region: np.ndarray) -> np.ndarray | None:
    """The page's four corners (top left first, clockwise) from its region, or None where the region's outline is
    no quadrilateral seen at an angle."""
    contours, _ = cv2.findContours(region.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    hull = cv2.convexHull(max(contours, key=cv2.contourArea))
    polygon = cv2.approxPolyDP(hull, SIMPLIFY * cv2.arcLength(hull, True), True)[:, 0, :].astype(np.float64)
    if len(polygon) < 3:
        return None
    h, w = region.shape
    edges = [(polygon[k], polygon[(k + 1) % len(polygon)]) for k in range(len(polygon))]
    own = [not _on_frame(a, b, w, h) for a, b in edges]
    along_frame = sum(np.linalg.norm(b - a) for (a, b), mine in zip(edges, own) if not mine)
    sides = [e for e, mine in zip(edges, own) if mine]
    if along_frame > ON_FRAME * sum(np.linalg.norm(b - a) for a, b in edges) or len(sides) < 2:
        return None  # more frame than page: a pale desk or a wall taken for paper, not a page with a corner cut
    if len(sides) < 4:  # corners cut off: the frame's edges stand in for the page's sides there
        sides = edges
    if len(sides) > 4:  # the four longest, in order round the outline
        longest = sorted(np.argsort([-np.linalg.norm(b - a) for a, b in sides])[:4])
        sides = [sides[k] for k in longest]
    if len(sides) != 4:
        return None
    corners = np.array([_meet(sides[k - 1], sides[k]) for k in range(4)])
    if not np.isfinite(corners).all() or np.abs(corners).max() > 3 * max(w, h):
        return None
    corners = _clockwise_from_top_left(corners)
    quad_area = cv2.contourArea(corners.astype(np.float32))
    if quad_area <= 0 or region.sum() / quad_area < SOLID or quad_area >= ALL_PAPER * w * h * 1.05:
        return None
    return corners if _angles_ok(corners) else None


def _on_frame(a: np.ndarray, b: np.ndarray, w: int, h: int) -> bool:
    """Whether the edge a-b runs along one of the frame's four edges: both its ends lie on that edge."""
    return bool(_frame_edges(a, w, h) & _frame_edges(b, w, h))


def _meet(first: tuple[np.ndarray, np.ndarray], second: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """Where the lines through two edges cross (inf where they are parallel)."""
    (p, q), (r, s) = first, second
    d1, d2 = q - p, s - r
    cross = d1[0] * d2[1] - d1[1] * d2[0]
    if abs(cross) < 1e-9:
        return np.array([np.inf, np.inf])
    t = ((r[0] - p[0]) * d2[1] - (r[1] - p[1]) * d2[0]) / cross
    return p + t * d1


def _clockwise_from_top_left(corners: np.ndarray) -> np.ndarray:
    centre = corners.mean(axis=0)
    order = np.argsort(np.arctan2(corners[:, 1] - centre[1], corners[:, 0] - centre[0]))  # clockwise on screen
    corners = corners[order]
    first = int(np.argmin(corners.sum(axis=1)))
    return np.roll(corners, -first, axis=0)


def _angles_ok(corners: np.ndarray) -> bool:
    for k in range(4):
        a, b = corners[k - 1] - corners[k], corners[(k + 1) % 4] - corners[k]
        cosine = np.dot(a, b) / max(np.linalg.norm(a) * np.linalg.norm(b), 1e-9)
        if not MIN_ANGLE <= np.degrees(np.arccos(np.clip(cosine, -1, 1))) <= 180 - MIN_ANGLE:
            return False
    return True
