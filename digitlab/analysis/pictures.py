"""MNIST digits redrawn the way people's pictures of digits come: another pen, another paper,
another light, another scanner.

Each function takes one MNIST digit (uint8 28x28, light ink on black) and returns the picture a
person would hand to `digitlab predict`: dark ink on light paper, SIZE x SIZE pixels. Pen widths
are given in pixels at MNIST's 28x28 scale (a 1-pixel thicker stroke there is a marker). The
robustness study and benchmarks/robustness.py read every picture back through the same
preprocessing as `predict`, so what they measure is what a user gets.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image
from scipy import ndimage

SIZE = 112            # pixels of a redrawn picture: MNIST's 28x28 at 4x
SCALE = SIZE // 28


def _ink(digit: np.ndarray) -> np.ndarray:
    """The digit at SIZE x SIZE as ink strength in [0, 1] (bicubic, as a scanner would see it)."""
    image = Image.fromarray(np.asarray(digit, dtype=np.uint8)).resize((SIZE, SIZE), Image.Resampling.BICUBIC)
    return np.clip(np.asarray(image, dtype=np.float32) / 255, 0, 1)


def _on_paper(ink: np.ndarray, paper=(255, 255, 255), pen=(0, 0, 0)) -> np.ndarray:
    """Ink strength -> float RGB in [0, 255]: the pen's colour mixed over the paper's."""
    paper, pen = np.asarray(paper, np.float32), np.asarray(pen, np.float32)
    return paper * (1 - ink[..., None]) + pen * ink[..., None]


def _picture(rgb: np.ndarray) -> Image.Image:
    return Image.fromarray(np.clip(np.round(rgb), 0, 255).astype(np.uint8))


def _disk(radius: float) -> np.ndarray:
    r = int(np.ceil(radius))
    yy, xx = np.mgrid[-r:r + 1, -r:r + 1]
    return yy ** 2 + xx ** 2 <= radius ** 2 + 1e-6


def clean(digit: np.ndarray) -> Image.Image:
    """Black ink on white, 112x112: the reference every other picture is compared with."""
    return _picture(_on_paper(_ink(digit)))


def pen_width(digit: np.ndarray, pixels: float) -> Image.Image:
    """Strokes `pixels` thicker (negative: thinner) at 28x28 scale, drawn at SIZE: a grey dilation
    (erosion) of the ink by a disk of radius |pixels| / 2 at 28x28 scale on each side."""
    ink = _ink(digit)
    radius = abs(pixels) * SCALE / 2
    if radius >= 0.5:
        morphology = ndimage.grey_dilation if pixels > 0 else ndimage.grey_erosion
        ink = morphology(ink, footprint=_disk(radius))
    return _picture(_on_paper(ink))


def low_resolution(digit: np.ndarray, pixels: int) -> Image.Image:
    """Scanned at `pixels` x `pixels` (area average), then enlarged to SIZE (bicubic) as a viewer would."""
    small = Image.fromarray(np.asarray(digit, dtype=np.uint8)).resize((pixels, pixels), Image.Resampling.BOX)
    big = np.asarray(small.resize((SIZE, SIZE), Image.Resampling.BICUBIC), dtype=np.float32) / 255
    return _picture(_on_paper(np.clip(big, 0, 1)))


def blue_ink_jpeg(digit: np.ndarray, noise: float = 8.0, quality: int = 70, seed: int = 0) -> Image.Image:
    """Blue ballpoint on slightly warm paper, photographed with sensor noise (std in grey levels), saved as JPEG."""
    rgb = _on_paper(_ink(digit), paper=(246, 243, 236), pen=(25, 45, 150))
    rgb = rgb + np.random.default_rng(seed).normal(0, noise, rgb.shape)
    buffer = io.BytesIO()
    _picture(rgb).save(buffer, format="JPEG", quality=quality)
    return Image.open(io.BytesIO(buffer.getvalue()))


def side_light(digit: np.ndarray, darkest: float = 0.55) -> Image.Image:
    """A photo of the page lit from one side: every pixel's brightness scaled from `darkest` (left)
    to 1.0 (right), ink and paper alike."""
    light = np.linspace(darkest, 1.0, SIZE, dtype=np.float32)[None, :, None]
    return _picture(_on_paper(_ink(digit)) * light)


def ruled_paper(digit: np.ndarray, spacing: int = 48, offset: int = 30, colour=(120, 160, 225),
                width: int = 2, margin: int = 24) -> Image.Image:
    """Written on notebook paper: thin blue lines every `spacing` pixels across a page with `margin`
    pixels of paper around the digit, under the ink."""
    side = SIZE + 2 * margin
    paper = np.full((side, side, 3), 255, np.float32)
    for top in range(offset % spacing, side, spacing):
        paper[top:top + width] = colour
    ink = np.zeros((side, side, 1), np.float32)
    ink[margin:margin + SIZE, margin:margin + SIZE, 0] = _ink(digit)
    return _picture(paper * (1 - ink))


def blank_page(ruled: bool = False) -> Image.Image:
    """Paper with no digit on it (ruled or plain): what must be reported as no digit."""
    return ruled_paper(np.zeros((28, 28), np.uint8)) if ruled else clean(np.zeros((28, 28), np.uint8))


# The rows of benchmarks/robustness.py: (name, picture maker). Each maker takes one digit.
CONDITIONS = {
    "clean, 112x112, black on white": clean,
    "strokes 0.5 px thinner": lambda d: pen_width(d, -0.5),
    "strokes 0.5 px thicker": lambda d: pen_width(d, 0.5),
    "strokes 1 px thicker (a marker)": lambda d: pen_width(d, 1.0),
    "scanned at 10x10, then enlarged": lambda d: low_resolution(d, 10),
    "scanned at 8x8, then enlarged": lambda d: low_resolution(d, 8),
    "blue ink on white; JPEG with sensor noise": blue_ink_jpeg,
    "photo: paper lit from one side (0.55 -> 1.0)": side_light,
    "on ruled notebook paper (blue lines every 48 px)": ruled_paper,
}


def number_picture(digits: list[np.ndarray], gap: int = 4, light_on_dark: bool = False, scale: float = SCALE,
                   rng: np.random.Generator | None = None) -> tuple[Image.Image, list[list[int]]]:
    """MNIST digits written as one number: each cropped to its ink, placed left to right `gap` pixels
    apart at 28x28 scale (0: their boxes touch; negative: they overlap), each moved up or down by up
    to 2 pixels as a hand moves, on paper, enlarged by `scale`. (picture, each digit's [x0, y0, x1, y1])."""
    rng = rng or np.random.default_rng(0)
    crops = []
    for digit in digits:
        d = np.asarray(digit, np.float32) / 255
        cols = np.flatnonzero(d.max(axis=0) > 0.15)
        crops.append(d[:, cols[0]:cols[-1] + 1] if len(cols) else d[:, 12:16])
    margin = 8
    width = sum(c.shape[1] for c in crops) + gap * (len(crops) - 1) + 2 * margin
    ink = np.zeros((28 + 2 * margin, max(width, 2 * margin + 1)), np.float32)
    boxes, x = [], margin
    for crop in crops:
        y = margin + int(rng.integers(-2, 3))
        region = ink[y:y + 28, x:x + crop.shape[1]]
        np.maximum(region, crop, out=region)
        rows = np.flatnonzero(crop.max(axis=1) > 0.15)
        top, bottom = (rows[0], rows[-1] + 1) if len(rows) else (0, 28)
        boxes.append([round(x * scale), round((y + top) * scale), round((x + crop.shape[1]) * scale),
                      round((y + bottom) * scale)])
        x += crop.shape[1] + gap
    big = Image.fromarray(np.uint8(np.clip(ink, 0, 1) * 255)).resize(
        (round(ink.shape[1] * scale), round(ink.shape[0] * scale)), Image.Resampling.BICUBIC)
    strength = np.asarray(big, np.float32) / 255
    return _picture(255 * strength if light_on_dark else _on_paper(strength)), boxes


# -- a photo of a page of handwritten numbers --------------------------------------------------------------------------

PAPERS = ("ruled", "squared", "plain")
INKS = {"blue": (30, 50, 150), "black": (25, 25, 30)}


@dataclass
class PagePhoto:
    """A photo of a page: the picture, each line's text (numbers joined by one space) top to bottom, and each
    line's box [x0, y0, x1, y1] in the photo's pixels."""
    picture: Image.Image
    lines: list[str]
    boxes: list[list[int]]


@dataclass
class PageStyle:
    """How a page is written and photographed; `random_page_style` draws one."""
    size: tuple[int, int] = (2400, 1800)   # the photo's (width, height)
    digit_height: float = 100.0            # pixels
    line_spacing: float = 2.2              # baseline to baseline, in digit heights
    paper: str = "ruled"
    ink: str = "blue"
    tilt: float = 0.0                      # degrees, anticlockwise
    curve: float = 0.0                     # how far a line's middle sags below its ends, in digit heights
    darkest: float = 1.0                   # the light: brightness of the page's darkest corner (1: even light)
    noise: float = 0.0                     # sensor noise, grey levels
    jpeg: int | None = None                # JPEG quality; None: no JPEG


def random_page_style(rng: np.random.Generator, size: tuple[int, int] = (2400, 1800), lines: int = 4) -> PageStyle:
    """A phone photo of a page: uneven light, ruled, squared or plain paper, blue or black ink, JPEG noise, up to
    5 degrees of tilt and lines that are not quite straight."""
    digit_height = float(rng.uniform(0.045, 0.07) * min(size))
    room = (size[1] * 0.85) / max(lines, 1) / digit_height  # the spacing that still fits every line
    return PageStyle(size=size, digit_height=digit_height, line_spacing=float(min(rng.uniform(1.6, 2.6), room)),
                     paper=str(rng.choice(PAPERS, p=[0.45, 0.3, 0.25])), ink=str(rng.choice(list(INKS))),
                     tilt=float(rng.uniform(-5, 5)), curve=float(rng.uniform(-0.3, 0.3)),
                     darkest=float(rng.uniform(0.45, 0.8)), noise=float(rng.uniform(2, 6)),
                     jpeg=int(rng.integers(60, 90)))


def _digit_ink(digit: np.ndarray, height: float) -> np.ndarray:
    """An MNIST digit cropped to its ink and scaled so that MNIST's 20-pixel box is `height` pixels."""
    d = np.asarray(digit, np.float32) / 255
    rows, cols = np.flatnonzero(d.max(axis=1) > 0.15), np.flatnonzero(d.max(axis=0) > 0.15)
    crop = d[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1] if len(rows) else d[12:16, 12:16]
    scale = height / 20
    size = (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale)))
    return np.clip(np.asarray(Image.fromarray(crop).resize(size, Image.Resampling.BICUBIC)), 0, 1)


def _write_line(ink: np.ndarray, text: str, digits: dict, x: float, baseline, height: float,
                rng: np.random.Generator, hand) -> list[float]:
    """Write `text` on `ink` from x along `baseline(x)`, real digits for digits and template strokes for signs;
    the line's box [x0, y0, x1, y1]."""
    from digitlab.data.handwriting import SIGNS, render
    signs = {g.char: g for g in SIGNS}
    box = [np.inf, np.inf, -np.inf, -np.inf]
    for char in text:
        if char == " ":
            x += height * rng.uniform(0.9, 2.2)
            continue
        if char.isdigit():
            glyph = _digit_ink(digits[int(char)][rng.integers(len(digits[int(char)]))], height)
            top = baseline(x) - glyph.shape[0] + height * rng.normal(0, 0.03)
            left = x
        else:
            glyph, (mx, my) = render(signs[char], height, hand, rng)
            left = x + signs[char].width * height / 2 - mx + 0.5 * height * hand.slant
            top = baseline(x) - 0.5 * height - my
        y0, x0 = int(round(top)), int(round(left))
        region = ink[y0:y0 + glyph.shape[0], x0:x0 + glyph.shape[1]]
        np.maximum(region, glyph[:region.shape[0], :region.shape[1]], out=region)
        rows, cols = np.nonzero(glyph > 0.3)
        if len(rows):
            box = [min(box[0], x0 + cols.min()), min(box[1], y0 + rows.min()), max(box[2], x0 + cols.max() + 1),
                   max(box[3], y0 + rows.max() + 1)]
        x = left + glyph.shape[1] + height * rng.uniform(0.05, 0.3)
    return box


def _paper(shape: tuple[int, int], style: PageStyle, baselines: list[float], rng: np.random.Generator) -> np.ndarray:
    """Float RGB paper with its rulings: lines under the writing (and between), or a grid of squares."""
    paper = np.empty((*shape, 3), np.float32)
    paper[:] = np.array([250, 247, 240], np.float32) - rng.uniform(0, 12, 3)
    colour = np.array([150, 180, 230], np.float32)
    thickness = int(rng.integers(2, 4))
    if style.paper == "ruled":
        step = style.line_spacing * style.digit_height / int(rng.integers(1, 3))
        first = baselines[0] + 0.04 * style.digit_height
        for y in np.arange(first - step * int(first // step), shape[0], step):
            paper[int(y):int(y) + thickness] = colour
        if rng.random() < 0.5:  # a margin line
            x = int(shape[1] * 0.07)
            paper[:, x:x + thickness] = (225, 120, 120)
    elif style.paper == "squared":
        step = style.digit_height * rng.uniform(0.5, 0.65)
        grid = np.array([190, 200, 215], np.float32)
        for y in np.arange(rng.uniform(0, step), shape[0], step):
            paper[int(y):int(y) + thickness - 1] = grid
        for x in np.arange(rng.uniform(0, step), shape[1], step):
            paper[:, int(x):int(x) + thickness - 1] = grid
    return paper


def page_photo(texts: list[str], digits: dict[int, np.ndarray], rng: np.random.Generator,
               style: PageStyle | None = None) -> PagePhoto:
    """A photo of a page on which each of `texts` is written on its own line, top to bottom.

    Digits are real handwritten ones (`digits`: label -> uint8 (N, 28, 28), e.g. MNIST test digits), signs
    (. , - / :) are drawn from stroke templates (data/handwriting.py); a space is the gap between two numbers.
    """
    from digitlab.data.handwriting import Hand
    style = style or random_page_style(rng, lines=len(texts))
    width, height = style.size
    pad = int(0.12 * max(width, height))  # written larger than the photo, turned, then cropped: no blank corners
    shape = (height + 2 * pad, width + 2 * pad)
    h = style.digit_height
    first = pad + 0.5 * (height - (len(texts) - 1) * style.line_spacing * h) + 0.5 * h
    baselines = [first + k * style.line_spacing * h for k in range(len(texts))]
    ink = np.zeros(shape, np.float32)
    hand = Hand.random(rng, wobble=(0.005, 0.02), pen=(0.11, 0.15))
    boxes = []
    for text, base in zip(texts, baselines):
        start = pad + width * rng.uniform(0.06, 0.16)
        sag, slope = style.curve * h, rng.normal(0, 0.01)

        def baseline(x, base=base, sag=sag, slope=slope):
            u = (x - pad) / width - 0.5
            return base + sag * (1 - 4 * u * u) + slope * (x - pad - width / 2)
        boxes.append(_write_line(ink, text, digits, start, baseline, h, rng, hand))
    paper = _paper(shape, style, baselines, rng)
    colour = np.array(INKS[style.ink], np.float32) + rng.normal(0, 6, 3).astype(np.float32)
    # the page turned in the photo (OpenCV: anticlockwise for a positive angle, as Pillow's rotate), then cropped
    turn = cv2.getRotationMatrix2D((shape[1] / 2, shape[0] / 2), style.tilt, 1.0)
    turn[:, 2] -= pad
    paper = cv2.warpAffine(paper, turn, (width, height), flags=cv2.INTER_LINEAR)
    ink = cv2.warpAffine(ink, turn, (width, height), flags=cv2.INTER_LINEAR)[..., None]
    rgb = (paper * (1 - ink) + colour * ink) * _light((height, width), style.darkest, rng)[..., None]
    if style.noise:
        rgb += rng.standard_normal(rgb.shape, dtype=np.float32) * np.float32(style.noise)
    picture = Image.fromarray(np.clip(rgb, 0, 255, out=rgb).astype(np.uint8))
    if style.jpeg:
        buffer = io.BytesIO()
        picture.save(buffer, format="JPEG", quality=style.jpeg)
        picture = Image.open(io.BytesIO(buffer.getvalue()))
    return PagePhoto(picture, list(texts), [_turned_box(b, style.tilt, shape, pad) if np.isfinite(b).all() else
                                            [0, 0, 0, 0] for b in boxes])


def _light(shape: tuple[int, int], darkest: float, rng: np.random.Generator) -> np.ndarray:
    """Brightness across the photo: light falling off from one side to the opposite corner, down to `darkest`."""
    angle = rng.uniform(0, 2 * np.pi)
    xs = (np.arange(shape[1], dtype=np.float32) / shape[1] - 0.5) * np.float32(np.cos(angle))
    ys = (np.arange(shape[0], dtype=np.float32) / shape[0] - 0.5) * np.float32(np.sin(angle))
    along = ys[:, None] + xs[None, :]
    along = (along - along.min()) / max(float(along.max() - along.min()), 1e-6)
    return (darkest + (1 - darkest) * along ** rng.uniform(0.6, 1.6)).astype(np.float32)


def _turned_box(box: list[float], tilt: float, shape: tuple[int, int], pad: int) -> list[int]:
    """A box on the written page -> the box around it in the photo (the page turned by `tilt` about its centre,
    then cropped by `pad`)."""
    cx, cy = shape[1] / 2, shape[0] / 2
    a = np.radians(tilt)
    xs, ys = np.array([box[0], box[2], box[2], box[0]]) - cx, np.array([box[1], box[1], box[3], box[3]]) - cy
    # PIL's rotate turns the picture anticlockwise by `tilt`: a point moves by the same rotation on screen
    tx, ty = xs * np.cos(a) + ys * np.sin(a) + cx - pad, -xs * np.sin(a) + ys * np.cos(a) + cy - pad
    return [int(tx.min()), int(ty.min()), int(np.ceil(tx.max())), int(np.ceil(ty.max()))]


DESKS = ("wood", "dark", "light", "patterned", "cloth")


@dataclass
class DeskPhoto:
    """A phone photo of a page lying on a desk: the picture, each line's text and its box in the photo's pixels
    (around the line's box on the page, carried by the perspective), the page's corners in the photo (top left,
    top right, bottom right, bottom left of the page as written; some may lie outside the frame) and how far the
    photo was turned from the right way up (degrees, anticlockwise: 0, 90, 180 or 270)."""
    picture: Image.Image
    lines: list[str]
    boxes: list[list[int]]
    corners: np.ndarray
    turn: int = 0


def desk_photo(page: PagePhoto, rng: np.random.Generator, size: tuple[int, int] = (4000, 3000),
               desk: str | None = None, corner_out: bool = False, turn: int = 0, clutter: bool | None = None,
               jpeg: int | None = None) -> DeskPhoto:
    """`page` (a picture that is all paper, evenly lit: page_photo with darkest=1, noise=0, jpeg=None) lying on a
    desk and photographed from a little off-centre: the page fills 45-75% of the frame's height, turned up to
    12 degrees, each corner pushed by up to 10% of the page (perspective); a desk of wood grain, dark, light,
    patterned or cloth; sometimes a hand or a second sheet at the edge of the frame; a shadow across part of the
    photo, light falling off, sensor noise, JPEG. `corner_out`: one corner of the page lies outside the frame.
    `turn`: the photo is turned by that many degrees (a phone held sideways, no EXIF)."""
    width, height = size
    desk = desk or str(rng.choice(DESKS))
    rgb = _desk(desk, (height, width), rng)
    if clutter if clutter is not None else rng.random() < 0.4:
        _clutter(rgb, rng)
    pw, ph = page.picture.size
    fill = rng.uniform(0.45, 0.75) * height / ph
    angle = np.radians(rng.uniform(-12, 12))
    centre = np.array([width / 2, height / 2]) + rng.uniform(-0.08, 0.08, 2) * (width, height)
    square = np.array([[-pw, -ph], [pw, -ph], [pw, ph], [-pw, ph]], np.float64) / 2 * fill
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    corners = square @ rotation.T + centre + rng.uniform(-0.1, 0.1, (4, 2)) * (pw * fill, ph * fill)
    if corner_out:  # the page slid towards a corner of the frame until its own corner there is cut off
        k = int(rng.integers(4))
        frame = np.array([[0, 0], [width, 0], [width, height], [0, height]], np.float64)
        outward = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], np.float64)
        corners += frame[k] + outward[k] * rng.uniform(0.01, 0.04) * min(size) - corners[k]
        corners += _back_in_frame(page.boxes, corners, (pw, ph), size)  # the writing stays in the frame
    source = np.array([[0, 0], [pw, 0], [pw, ph], [0, ph]], np.float32)
    warp = cv2.getPerspectiveTransform(source, corners.astype(np.float32))
    paper = cv2.warpPerspective(np.asarray(page.picture.convert("RGB"), np.float32), warp, (width, height),
                                flags=cv2.INTER_AREA if fill < 1 else cv2.INTER_LINEAR)
    inside = cv2.warpPerspective(np.ones((ph, pw), np.float32), warp, (width, height), flags=cv2.INTER_LINEAR)
    rgb = rgb * (1 - inside[..., None]) + paper * inside[..., None]
    rgb *= (_light((height, width), rng.uniform(0.6, 0.9), rng) * _shadow((height, width), rng))[..., None]
    rgb += rng.standard_normal(rgb.shape, dtype=np.float32) * np.float32(rng.uniform(2, 5))
    boxes = []
    for x0, y0, x1, y1 in page.boxes:
        quad = cv2.perspectiveTransform(np.array([[[x0, y0], [x1, y0], [x1, y1], [x0, y1]]], np.float32), warp)[0]
        boxes.append([int(quad[:, 0].min()), int(quad[:, 1].min()), int(np.ceil(quad[:, 0].max())),
                      int(np.ceil(quad[:, 1].max()))])
    picture = Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8))
    if turn:
        picture, boxes, corners = _turned_photo(picture, boxes, corners, turn)
    buffer = io.BytesIO()
    picture.save(buffer, format="JPEG", quality=jpeg or int(rng.integers(75, 93)))
    return DeskPhoto(Image.open(io.BytesIO(buffer.getvalue())), list(page.lines), boxes, corners, turn)


def _back_in_frame(boxes: list[list[int]], corners: np.ndarray, page_size: tuple[int, int],
                   size: tuple[int, int]) -> np.ndarray:
    """How far to move the page so that every box written on it lies inside the frame, 2% from its edges."""
    pw, ph = page_size
    warp = cv2.getPerspectiveTransform(np.array([[0, 0], [pw, 0], [pw, ph], [0, ph]], np.float32),
                                       corners.astype(np.float32))
    points = np.array([[[x, y] for x0, y0, x1, y1 in boxes for x, y in ((x0, y0), (x1, y1), (x0, y1), (x1, y0))]],
                      np.float32)
    placed = cv2.perspectiveTransform(points, warp)[0]
    low, high = 0.02 * np.array(size), 0.98 * np.array(size)
    return np.maximum(low - placed.min(axis=0), 0) - np.maximum(placed.max(axis=0) - high, 0)


def _desk(kind: str, shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """Float RGB of a desk: drawn at a quarter of the size (textures are coarse) and scaled up."""
    h, w = max(8, shape[0] // 4), max(8, shape[1] // 4)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    noise = ndimage.gaussian_filter(rng.standard_normal((h, w)).astype(np.float32), rng.uniform(1, 4))
    noise /= max(float(noise.std()), 1e-6)
    if kind == "wood":  # grain: stretched noise warping stripes along the planks
        a = rng.uniform(0, np.pi)
        along, across = xx * np.cos(a) + yy * np.sin(a), -xx * np.sin(a) + yy * np.cos(a)
        warp = ndimage.gaussian_filter(rng.standard_normal((h, w)).astype(np.float32), (2, 30)) * 40
        grain = 0.5 + 0.5 * np.sin(across / rng.uniform(2, 6) + warp + 0.02 * along)
        base = np.array([rng.uniform(110, 190), rng.uniform(70, 125), rng.uniform(35, 80)], np.float32)
        plank = (np.floor(across / rng.uniform(40, 90)) % 2)[..., None] * rng.uniform(-20, 20)
        rgb = base * (0.75 + 0.35 * grain[..., None]) + plank + 6 * noise[..., None]
    elif kind == "dark":
        rgb = np.array([rng.uniform(20, 70)] * 3, np.float32) + rng.uniform(-8, 8, 3) + 8 * noise[..., None]
        rgb = np.broadcast_to(rgb, (h, w, 3)).copy()
    elif kind == "light":  # a pale table: nearly as light as the paper, a little tinted
        level = rng.uniform(175, 225)
        rgb = np.array([level] * 3, np.float32) + rng.uniform(-15, 10, 3) + 5 * noise[..., None]
        rgb = np.broadcast_to(rgb, (h, w, 3)).copy()
    elif kind == "patterned":  # tiles or checks of two colours with a grout line
        step = rng.uniform(15, 60)
        cells = (np.floor(xx / step) + np.floor(yy / step)) % 2
        colours = rng.uniform(40, 230, (2, 3)).astype(np.float32)
        rgb = colours[cells.astype(int)] + 5 * noise[..., None]
        grout = (np.minimum(xx % step, yy % step) < 1.5)[..., None]
        rgb = np.where(grout, rng.uniform(60, 200), rgb)
    else:  # cloth: a fine weave of one colour
        colour = rng.uniform(30, 200, 3).astype(np.float32)
        weave = 0.5 + 0.25 * (np.sin(xx * 2.1) + np.sin(yy * 2.1))
        rgb = colour * (0.8 + 0.3 * weave[..., None]) + 6 * noise[..., None]
    return cv2.resize(rgb.astype(np.float32), (shape[1], shape[0]), interpolation=cv2.INTER_LINEAR)


def _clutter(rgb: np.ndarray, rng: np.random.Generator) -> None:
    """A hand (a skin-toned blob) or a second sheet reaching in from one edge of the frame."""
    h, w = rgb.shape[:2]
    mask = np.zeros((h, w), np.uint8)
    edge = int(rng.integers(4))
    cx, cy = [(rng.uniform(0.2, 0.8) * w, 0), (w, rng.uniform(0.2, 0.8) * h), (rng.uniform(0.2, 0.8) * w, h),
              (0, rng.uniform(0.2, 0.8) * h)][edge]
    if rng.random() < 0.5:  # a hand
        cv2.ellipse(mask, (int(cx), int(cy)), (int(0.12 * w), int(0.18 * h)), float(rng.uniform(0, 180)), 0, 360, 1, -1)
        colour = np.array([rng.uniform(150, 235), rng.uniform(100, 180), rng.uniform(80, 150)], np.float32)
    else:  # a second sheet, mostly out of the frame
        box = cv2.boxPoints(((cx, cy), (0.35 * w, 0.3 * h), float(rng.uniform(0, 90))))
        cv2.fillPoly(mask, [box.astype(np.int32)], 1)
        colour = np.array([rng.uniform(225, 250)] * 3, np.float32)
    mask = cv2.GaussianBlur(mask.astype(np.float32), (0, 0), 2)[..., None]
    rgb *= 1 - mask
    rgb += colour * mask


def _shadow(shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """A soft shadow (the phone's, the photographer's) across part of the photo: brightness 1 outside it."""
    h, w = shape
    small = np.ones((max(8, h // 8), max(8, w // 8)), np.float32)
    if rng.random() < 0.7:
        sh, sw = small.shape
        x = np.array([rng.uniform(0, sw), rng.uniform(0, sw), rng.uniform(0, sw)])
        y = np.array([0, rng.uniform(0, sh), sh]) if rng.random() < 0.5 else np.array([sh, rng.uniform(0, sh), 0])
        polygon = np.array([[0, y[0]], [x[1], y[1]], [x[2], y[2]], [0, y[2]]], np.int32)
        cv2.fillPoly(small, [polygon], float(rng.uniform(0.55, 0.8)))
        small = cv2.GaussianBlur(small, (0, 0), max(2.0, 0.03 * sw))
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def _turned_photo(picture: Image.Image, boxes: list[list[int]], corners: np.ndarray,
                  turn: int) -> tuple[Image.Image, list[list[int]], np.ndarray]:
    """The photo turned anticlockwise by `turn` degrees (90, 180, 270), with its boxes and the page's corners."""
    steps = (turn // 90) % 4

    def point(x: float, y: float) -> tuple[float, float]:
        w, h = picture.size
        for _ in range(steps):  # a quarter turn anticlockwise: (x, y) -> (y, width - x), and width and height swap
            x, y, w, h = y, w - x, h, w
        return x, y

    turned = picture.transpose([None, Image.Transpose.ROTATE_90, Image.Transpose.ROTATE_180,
                                Image.Transpose.ROTATE_270][steps]) if steps else picture
    new_boxes = []
    for x0, y0, x1, y1 in boxes:
        xs, ys = zip(point(x0, y0), point(x1, y1))
        new_boxes.append([int(min(xs)), int(min(ys)), int(max(xs)), int(max(ys))])
    return turned, new_boxes, np.array([point(x, y) for x, y in corners])
