"""Pictures that are not digits, framed as MNIST frames digits: the "not a digit" class.

A digit model only knows ten answers, so a smiley or a letter gets a confident wrong one. Trained
with an eleventh class made of these, it can say "not a digit" instead (reading/refusal.py). Each kind
stands for something people draw or photograph that is no digit:

  letters    printed letters (Pillow's own font, plus any TrueType fonts given), slanted, rotated,
             thinner or bolder; letters that look like digits (O, I, l, S, Z, B, g, q, ...) are left out
  scribbles  long random pen paths that turn and cross themselves
  shapes     smileys, stars, houses, suns, spirals, grids, triangles, squares
  pairs      two digits side by side, touching or overlapping: one box holding a number is not a digit
             (this also teaches the number reader where one digit ends)
  clothes    Fashion-MNIST's *training* pictures, when they are at hand (never its test split; training
             takes the first FASHION_CLOTHES, benchmarks/whole_numbers.py the others)
  blots      smudges and blotches of ink
  signs      signs that are no digit and none of those a number holds when read: + = x * % # ? < > $, and a
             minus or a colon alone (data/handwriting.py); not a slash, a comma or a point, which alone look
             like a 1 or a blot of a 0

Everything is drawn as ink strength on a canvas and framed by reading.framing.mnist_style, the step
every picture goes through before the model sees it.
"""

from __future__ import annotations

import functools
import logging
import math
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from digitlab.data.datasets import DIGITS, DigitDataset, Split, load_dataset
from digitlab.errors import ConfigError, DataError
from digitlab.reading.framing import mnist_style
from digitlab.reading.refusal import NOT_A_DIGIT

LOOK_LIKE_DIGITS = set("BbDGgIiJjlOoQqSsTtZz")  # letters a person could read as 0, 1, 2, 5, 6, 8 or 9
LETTERS = "".join(c for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz" if c not in LOOK_LIKE_DIGITS)
KINDS = {"letters": 0.25, "scribbles": 0.15, "shapes": 0.15, "pairs": 0.2, "clothes": 0.15, "blots": 0.05,
         "signs": 0.1}
FASHION_CLOTHES = 50_000  # Fashion-MNIST training pictures that may become non-digits; the rest are for testing
CANVAS = 64  # pixels across the canvas each non-digit is drawn on before framing

log = logging.getLogger("digitlab")


def system_fonts(limit: int = 40) -> list[str]:
    """TrueType fonts installed on this machine (none is required)."""
    found = []
    for root in (Path("/usr/share/fonts"), Path("/usr/local/share/fonts"), Path.home() / ".fonts"):
        if root.is_dir():
            found += sorted(str(p) for p in root.rglob("*.ttf"))
    return found[:limit]


def _canvas() -> tuple[Image.Image, ImageDraw.ImageDraw]:
    image = Image.new("L", (CANVAS, CANVAS), 0)
    return image, ImageDraw.Draw(image)


def _framed(image: Image.Image | np.ndarray) -> np.ndarray:
    ink = np.asarray(image, dtype=np.float32) / 255
    return mnist_style(ink) if ink.max() > 0.1 else np.zeros((28, 28), np.uint8)


def _pen(rng: np.random.Generator) -> int:
    return int(rng.integers(2, 7))


def letter(rng: np.random.Generator, fonts: list[str]) -> np.ndarray:
    text = LETTERS[rng.integers(len(LETTERS))]
    font_file = fonts[rng.integers(len(fonts))] if fonts and rng.random() < 0.7 else None
    size = int(rng.integers(36, 50))
    font = ImageFont.truetype(font_file, size) if font_file else ImageFont.load_default(size)
    image, draw = _canvas()
    draw.text((CANVAS / 2, CANVAS / 2), text, fill=255, font=font, anchor="mm", stroke_width=int(rng.integers(0, 3)),
              stroke_fill=255)
    shear = rng.uniform(-0.3, 0.3)
    image = image.transform(image.size, Image.Transform.AFFINE, (1, shear, -shear * CANVAS / 2, 0, 1, 0),
                            Image.Resampling.BILINEAR)
    return _framed(image.rotate(rng.uniform(-15, 15), Image.Resampling.BILINEAR))


def scribble(rng: np.random.Generator) -> np.ndarray:
    image, draw = _canvas()
    point, heading = rng.uniform(16, 48, 2), rng.uniform(0, 2 * math.pi)
    path = [tuple(point)]
    turn = rng.uniform(-0.6, 0.6)
    for _ in range(int(rng.integers(25, 60))):
        turn = np.clip(turn + rng.normal(0, 0.35), -1.0, 1.0)
        heading += turn
        point = np.clip(point + 4 * np.array([math.cos(heading), math.sin(heading)]), 4, CANVAS - 4)
        path.append(tuple(point))
    draw.line(path, fill=255, width=_pen(rng), joint="curve")
    return _framed(image)


def _arc(draw, box, start, end, width):
    draw.arc([float(v) for v in box], start, end, fill=255, width=width)


def shape(rng: np.random.Generator) -> np.ndarray:
    image, draw = _canvas()
    width, c = _pen(rng), CANVAS / 2
    r = rng.uniform(18, 26)
    kind = rng.integers(8)
    if kind == 0:  # smiley
        _arc(draw, (c - r, c - r, c + r, c + r), 0, 360, width)
        for dx in (-r / 2.5, r / 2.5):
            e = r / 7
            draw.ellipse((c + dx - e, c - r / 3 - e, c + dx + e, c - r / 3 + e), fill=255)
        _arc(draw, (c - r / 2, c - r / 6, c + r / 2, c + r / 1.6), 20, 160, width)
    elif kind == 1:  # star
        points = [(c + r * math.cos(a), c + r * math.sin(a))
                  for a in np.linspace(-math.pi / 2, 3.5 * math.pi, 6)[[0, 2, 4, 1, 3, 5]]]
        draw.line(points, fill=255, width=width)
    elif kind == 2:  # house
        draw.line([(c - r, c), (c - r, c + r), (c + r, c + r), (c + r, c), (c - r, c), (c, c - r), (c + r, c)],
                  fill=255, width=width)
    elif kind == 3:  # sun: a disc with rays
        _arc(draw, (c - r / 2, c - r / 2, c + r / 2, c + r / 2), 0, 360, width)
        for a in np.linspace(0, 2 * math.pi, int(rng.integers(6, 11)), endpoint=False):
            draw.line([(c + 0.7 * r * math.cos(a), c + 0.7 * r * math.sin(a)),
                       (c + r * math.cos(a), c + r * math.sin(a))], fill=255, width=width)
    elif kind == 4:  # spiral
        turns = rng.uniform(2, 3.5)
        t = np.linspace(0, turns * 2 * math.pi, 120)
        draw.line(list(zip(c + r * t / t[-1] * np.cos(t), c + r * t / t[-1] * np.sin(t))), fill=255, width=width)
    elif kind == 5:  # grid (#, or a tic-tac-toe board)
        for k in (-1, 1):
            draw.line([(c + k * r / 3, c - r), (c + k * r / 3, c + r)], fill=255, width=width)
            draw.line([(c - r, c + k * r / 3), (c + r, c + k * r / 3)], fill=255, width=width)
    elif kind == 6:  # triangle
        draw.polygon([(c, c - r), (c + r, c + r * 0.8), (c - r, c + r * 0.8)], outline=255, width=width)
    else:  # square or rectangle
        a = r * rng.uniform(0.6, 1.0)
        draw.rectangle((c - r, c - a, c + r, c + a), outline=255, width=width)
    return _framed(image.rotate(rng.uniform(-20, 20), Image.Resampling.BILINEAR))


def pair(rng: np.random.Generator, digits: np.ndarray) -> np.ndarray:
    """Two digits side by side, from 2 pixels apart to overlapping by a third of a digit."""
    first, second = digits[rng.integers(len(digits), size=2)]
    left, right = _ink_columns(first), _ink_columns(second)
    narrower = min(left[1] - left[0], right[1] - right[0])
    gap = max(int(rng.integers(-7, 3)), -(narrower // 2))  # a narrow 1 overlaps by at most half its width
    width = (left[1] - left[0]) + (right[1] - right[0]) + gap + 2
    canvas = np.zeros((28, max(28, width + 8)), np.float32)
    x = 4
    canvas[:, x:x + left[1] - left[0]] = first[:, left[0]:left[1]]
    x += left[1] - left[0] + gap
    piece = second[:, right[0]:right[1]].astype(np.float32)
    canvas[:, x:x + piece.shape[1]] = np.maximum(canvas[:, x:x + piece.shape[1]], piece)
    return _framed(canvas)


def _ink_columns(digit: np.ndarray) -> tuple[int, int]:
    cols = np.flatnonzero(digit.max(axis=0) > 40)
    return (int(cols[0]), int(cols[-1]) + 1) if len(cols) else (0, 28)


def sign(rng: np.random.Generator) -> np.ndarray:
    from digitlab.data.handwriting import OTHER_SIGNS, SIGNS, Hand, render
    choices = OTHER_SIGNS + [g for g in SIGNS if g.char in "-:"]
    ink, _ = render(choices[rng.integers(len(choices))], float(rng.uniform(40, 100)), Hand.random(rng), rng)
    return _framed(np.uint8(ink * 255))


def blot(rng: np.random.Generator) -> np.ndarray:
    from scipy import ndimage
    noise = ndimage.gaussian_filter(rng.random((CANVAS, CANVAS)), rng.uniform(2, 5))
    level = np.quantile(noise, rng.uniform(0.6, 0.9))
    return _framed(np.where(noise > level, 255, 0).astype(np.uint8))


def make_non_digits(count: int, seed: int, digits: np.ndarray | None = None, clothes: np.ndarray | None = None,
                    fonts: list[str] | None = None, kinds: dict[str, float] | None = None) -> np.ndarray:
    """`count` uint8 (28, 28) non-digits, mixed by `kinds` (shares; default KINDS). Pairs need `digits`
    and clothes need `clothes` (uint8 (N, 28, 28)); without them their share goes to the others."""
    rng = np.random.default_rng(seed)
    shares = dict(kinds or KINDS)
    if digits is None or not len(digits):
        shares.pop("pairs", None)
    if clothes is None or not len(clothes):
        shares.pop("clothes", None)
    names = list(shares)
    p = np.array([shares[n] for n in names], dtype=np.float64)
    chosen = rng.choice(len(names), size=count, p=p / p.sum())
    makers = {"letters": lambda: letter(rng, fonts or []), "scribbles": lambda: scribble(rng),
              "shapes": lambda: shape(rng), "pairs": lambda: pair(rng, digits),
              "clothes": lambda: _framed(clothes[rng.integers(len(clothes))]), "blots": lambda: blot(rng),
              "signs": lambda: sign(rng)}
    out = np.zeros((count, 28, 28), np.uint8)
    for i, k in enumerate(chosen):
        out[i] = makers[names[k]]()
    return out


def with_non_digits(dataset: DigitDataset, train: Split, share: float, seed: int, data_dir: str | None = None) -> Split:
    """`train` with `share` (of its size) generated non-digits appended as a class "not a digit" (added to
    `dataset.classes`).

    Pairs are made of this split's own digits; clothes come from the first FASHION_CLOTHES pictures of
    Fashion-MNIST's training split when it is on this machine (Debian's dataset-fashion-mnist or
    digitlab's cache: nothing is downloaded); benchmarks/whole_numbers.py tests refusal on the others.
    """
    if dataset.classes != DIGITS or (dataset.in_channels, dataset.image_size) != (1, 28):
        raise ConfigError(f"--non-digits applies to digit data sets (28x28, classes 0-9), not {dataset.name}")
    count = round(share * len(train))
    extra = make_non_digits(count, seed, digits=train.images[:, 0].numpy(), clothes=training_clothes(data_dir))
    dataset.classes = [*DIGITS, NOT_A_DIGIT]
    log.info(f"non-digits: {count} added to the training split as class {NOT_A_DIGIT!r}")
    return Split(torch.cat([train.images, torch.from_numpy(extra)[:, None]]),
                 torch.cat([train.labels, torch.full((count,), len(DIGITS), dtype=train.labels.dtype)]))


def training_clothes(data_dir: str | None = None) -> np.ndarray | None:
    """Fashion-MNIST's training pictures that non-digits may be made of, if it is on this machine (read-only)."""
    try:
        return _clothes_in(data_dir)
    except DataError:
        log.info("non-digits: Fashion-MNIST is not on this machine, so no clothes among them")
        return None


@functools.lru_cache(maxsize=1)
def _clothes_in(data_dir: str | None) -> np.ndarray:
    """Read once per process: a run needs them for its training non-digits and again for its refusal threshold,
    a board for every fine-tune."""
    clothes = load_dataset("fashion-mnist", data_dir, download=False).train.images[:FASHION_CLOTHES, 0].numpy()
    clothes.setflags(write=False)
    return clothes
