"""Turning the ink of a picture into an MNIST-style 28x28 digit.

MNIST itself was made this way: the digit's bounding box is scaled to fit a 20x20 box
(keeping its aspect ratio, anti-aliased), then pasted into 28x28 so that its centre of
mass sits at the centre. A model trained on MNIST sees digits only in that form, so
photos, scans and canvas drawings go through the same steps before prediction.
"""

from __future__ import annotations

import os

import numpy as np
from PIL import Image

from digitlab.errors import ImageError
from digitlab.reading.images import load_image, to_grey
from digitlab.reading.ink import MIN_CONTRAST, page_ink

INK_THRESHOLD = 0.2       # fraction of the ink's full strength that counts as ink for the bounding box
BOX_SIDE = 20             # MNIST's digits are scaled to fit a 20x20 box ...
CENTRE = 14               # ... and placed with their centre of mass on this pixel of the 28x28 image


def mnist_style(ink: np.ndarray) -> np.ndarray:
    """Ink strength in [0, 1] (0: paper, any size; see ink.separate_ink) -> uint8 28x28, light digit on black."""
    return mnist_framed(ink)[0]


def mnist_framed(ink: np.ndarray) -> tuple[np.ndarray, tuple[float, float, float]]:
    """mnist_style's 28x28, and where it lies in `ink`: (x0, y0, side), the square of ink pixels it shows."""
    if ink.ndim != 2 or min(ink.shape) < 1:
        raise ImageError(f"expected a 2-D ink image, got shape {ink.shape}")
    peak = float(ink.max())
    if peak < MIN_CONTRAST:
        raise ImageError("no digit found: the image is blank (no ink that stands out from the background)")

    strong = ink > INK_THRESHOLD * peak
    rows = np.flatnonzero(strong.any(axis=1))
    cols = np.flatnonzero(strong.any(axis=0))
    crop = ink[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1] / peak
    crop[crop < INK_THRESHOLD / 2] = 0.0  # drop faint noise that would pull the centre of mass (and the background)

    h, w = crop.shape
    scale = BOX_SIDE / max(h, w)
    new_h, new_w = max(1, round(h * scale)), max(1, round(w * scale))
    box = Image.fromarray(crop.astype(np.float32), mode="F").resize((new_w, new_h), Image.Resampling.LANCZOS)
    box = np.clip(np.asarray(box), 0.0, 1.0)

    # Place the box so that its centre of mass lands on pixel centre (14, 14) of the 28x28 image.
    row_mass, col_mass = box.sum(axis=1, dtype=np.float64), box.sum(axis=0, dtype=np.float64)
    mass = row_mass.sum()
    cy, cx = row_mass @ np.arange(new_h) / mass, col_mass @ np.arange(new_w) / mass
    top = int(np.clip(round(CENTRE - cy), 0, 28 - new_h))
    left = int(np.clip(round(CENTRE - cx), 0, 28 - new_w))
    out = np.zeros((28, 28), dtype=np.float32)
    out[top:top + new_h, left:left + new_w] = box
    frame = (cols[0] - left / scale, rows[0] - top / scale, 28 / scale)
    return np.round(out * 255).astype(np.uint8), frame


def read_as_mnist(grey: np.ndarray) -> tuple[np.ndarray, tuple[float, float, float]]:
    """Grey levels of a picture of a digit -> (its MNIST-style uint8 28x28, the square of the picture's pixels that
    28x28 shows: x0, y0, side): the ink found (read again around itself on a large page), then MNIST's steps."""
    ink, factor, top, left = page_ink(grey)
    input28, (x0, y0, side) = mnist_framed(ink)
    return input28, (left + x0 * factor, top + y0 * factor, side * factor)


def preprocess_image(source: str | os.PathLike | bytes | Image.Image) -> np.ndarray:
    """Path, bytes or PIL image -> MNIST-style uint8 28x28: ink separated from paper, then MNIST's steps."""
    image = source if isinstance(source, Image.Image) else load_image(source)
    try:
        return read_as_mnist(to_grey(image))[0]
    except ImageError as exc:
        if isinstance(source, (str, os.PathLike)):
            raise ImageError(f"{source}: {exc}") from None
        raise
