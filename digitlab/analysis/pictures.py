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
