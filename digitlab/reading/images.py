"""Pictures in: image files and bytes decoded safely, and their grey levels.

Every picture digitlab reads — a file for `predict` or `read`, a drawing the board receives, a
folder of photos — is opened here: oversize pictures and decompression bombs are refused before
they are decoded, and any decoding failure becomes one ImageError naming the source.
"""

from __future__ import annotations

import io
import os
import warnings

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from digitlab.errors import ImageNotFound, ImageTooLarge, NotAnImage

MAX_PIXELS = 4096 * 4096  # larger images (or decompression bombs) are refused


def load_photo(source: str | os.PathLike | bytes, max_pixels: int = MAX_PIXELS) -> tuple[Image.Image, float]:
    """A photo to read, and how many of its pixels each pixel of the picture returned stands for: a JPEG larger
    than `max_pixels` (a 48 MP phone photo) is decoded at a half, a quarter or an eighth of its size (JPEG's
    draft mode: the decoder skips the detail, never the whole image held in memory); any other format over the
    limit is refused as load_image refuses it."""
    scale = [1.0]

    def reduce(image: Image.Image) -> None:
        if image.format == "JPEG" and image.width * image.height > max_pixels:
            for factor in (2, 4, 8):
                if image.width * image.height <= max_pixels * factor * factor:
                    break
            before = image.width
            image.draft(image.mode, (image.width // factor, image.height // factor))
            scale[0] = before / image.width
    picture = load_image(source, max_pixels, before_load=reduce)
    return picture, scale[0]


def load_image(source: str | os.PathLike | bytes, max_pixels: int = MAX_PIXELS,
               before_load=None) -> Image.Image:
    """Open a PNG/JPEG/... from a path or bytes, refusing oversize images before decoding them."""
    name = "image data" if isinstance(source, (bytes, bytearray)) else str(source)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(source) if isinstance(source, (bytes, bytearray)) else source)
            if before_load is not None:
                before_load(image)
            if image.width * image.height > max_pixels:
                raise ImageTooLarge(f"{name}: image is {image.width}x{image.height}, larger than the "
                                    f"{max_pixels:,}-pixel limit")
            image.load()
    except FileNotFoundError:
        raise ImageNotFound(f"{name}: no such file") from None
    except IsADirectoryError:
        raise ImageNotFound(f"{name}: is a folder, not an image") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageTooLarge(f"{name}: not a readable image ({type(exc).__name__})") from None
    except UnidentifiedImageError as exc:
        raise NotAnImage(f"{name}: not a readable image ({type(exc).__name__})") from None
    except (OSError, ValueError, SyntaxError) as exc:
        raise NotAnImage(f"{name}: cannot decode image ({exc})") from None
    return ImageOps.exif_transpose(image)


def to_grey(image: Image.Image) -> np.ndarray:
    """Float grey levels in [0, 1]; transparency is flattened onto a contrasting background.

    Pillow computes the grey levels (ITU-R 601 weights, as for an RGB image) and checks the alpha
    channel: a browser canvas is an opaque RGBA PNG, and doing this in float arrays was most of
    the time that preprocessing one drawing from the page took (benchmarks/drawn_digits.py).
    """
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image if image.mode == "RGBA" else image.convert("RGBA")
        alpha, image = np.asarray(rgba.getchannel("A")), rgba.convert("L")
        if alpha.min() < 255:
            # Strokes on a transparent canvas: put them on the background they contrast with.
            grey, alpha = np.asarray(image, dtype=np.float32) / 255, alpha / np.float32(255)
            opaque = alpha > 0.5
            ink_level = grey[opaque].mean() if opaque.any() else 0.0
            background = 0.0 if ink_level > 0.5 else 1.0
            return alpha * grey + (1 - alpha) * background
    grey = np.array(image if image.mode == "L" else image.convert("L"), dtype=np.float32)
    grey /= 255
    return grey
