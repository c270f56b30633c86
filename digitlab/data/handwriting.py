"""Handwriting drawn from stroke templates: digits in the styles people write them, and signs.

MNIST's writers were American: a 1 is a bar, a 7 has no crossbar. Much of the world writes a 1
with a flag and a base, crosses its 7s, leaves a 4 open at the top, gives a 9 a straight stem or
loops the foot of a 2. Each template below is one such way of writing a digit, as strokes a pen
follows; `render` draws a template the way a hand would: the control points wobble, the whole
glyph slants, stretches and turns a little, and the pen's width varies from writer to writer.

Coordinates are in units of the digit's height: y = 0 is the top of a digit, y = 1 the line it
stands on, x grows to the right from the glyph's left edge. A comma reaches below the line, a
slash above the digits.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

log = logging.getLogger("digitlab")

SUPERSAMPLE = 4  # strokes are drawn this many times finer, then averaged down: anti-aliased edges
DOT_SPACING = (1.3, 2.0)  # pen widths between the dots of a dotted pen: sparser dots no longer read as a stroke
DOTTED_SHARE = 0.25       # of the drawn digits a run trains on: drawn dotted (without them a digit drawn in dots is
                          # refused as a sign or a blot; evidence: docs/models.md, "Broken strokes")


@dataclass(frozen=True)
class Glyph:
    """One way of writing a character: strokes (each a polyline of control points, smoothed when drawn)
    and dots (x, y, radius), all in units of the digit height; `width` is its advance, the same units."""
    char: str
    style: str
    strokes: tuple[tuple[tuple[float, float], ...], ...]
    width: float = 0.6
    dots: tuple[tuple[float, float, float], ...] = ()

    @property
    def name(self) -> str:
        return f"{self.char} {self.style}"


def arc(cx: float, cy: float, rx: float, ry: float, start: float, end: float, n: int = 9) -> list[tuple]:
    """Points along an ellipse from angle `start` to `end` (degrees; 0 = right, 90 = down)."""
    return [(cx + rx * math.cos(math.radians(a)), cy + ry * math.sin(math.radians(a)))
            for a in np.linspace(start, end, n)]


def _glyph(char: str, style: str, *strokes, width: float = 0.6, dots=()) -> Glyph:
    return Glyph(char, style, tuple(tuple(map(tuple, s)) for s in strokes), width, tuple(dots))


# -- digits ---------------------------------------------------------------------------------------------------------
# "plain" is the shape MNIST's writers mostly used; the other styles are the ones MNIST lacks.
DIGITS: list[Glyph] = [
    _glyph("0", "plain", arc(0.3, 0.5, 0.28, 0.49, -90, 275, 14)),
    _glyph("0", "slashed", arc(0.3, 0.5, 0.28, 0.49, -90, 275, 14), [(0.56, 0.02), (0.04, 0.98)]),
    _glyph("1", "plain", [(0.32, 0.0), (0.28, 1.0)], width=0.45),
    _glyph("1", "flag", [(0.05, 0.3), (0.32, 0.0), (0.3, 1.0)], width=0.5),
    _glyph("1", "long flag", [(0.0, 0.45), (0.36, 0.0), (0.34, 1.0)], width=0.5),
    _glyph("1", "flag and base", [(0.08, 0.28), (0.33, 0.0), (0.32, 1.0)], [(0.06, 1.0), (0.6, 1.0)], width=0.65),
    _glyph("2", "plain", [*arc(0.3, 0.27, 0.26, 0.25, 190, 365, 7), (0.45, 0.55), (0.02, 1.0), (0.6, 1.0)]),
    _glyph("2", "looped", [*arc(0.3, 0.27, 0.26, 0.25, 190, 365, 7), (0.4, 0.58), (0.16, 0.78),
                           *arc(0.16, 0.86, 0.13, 0.13, 270, 10, 6), *arc(0.16, 0.86, 0.13, 0.13, 10, 160, 5),
                           (0.3, 0.97), (0.6, 0.99)]),
    _glyph("2", "angular", [(0.04, 0.18), (0.3, 0.0), (0.56, 0.2), (0.04, 1.0), (0.6, 1.0)]),
    _glyph("3", "plain", [*arc(0.28, 0.26, 0.26, 0.24, 200, 440, 8), *arc(0.28, 0.74, 0.29, 0.26, -80, 160, 9)]),
    _glyph("3", "flat top", [(0.04, 0.02), (0.56, 0.02), (0.22, 0.44), *arc(0.28, 0.72, 0.29, 0.27, -90, 160, 9)]),
    _glyph("4", "closed", [(0.46, 1.0), (0.46, 0.0), (0.0, 0.68), (0.62, 0.68)], width=0.65),
    _glyph("4", "open", [(0.08, 0.0), (0.03, 0.62), (0.62, 0.62)], [(0.46, 0.12), (0.46, 1.0)], width=0.65),
    _glyph("5", "plain", [(0.1, 0.02), (0.08, 0.45), *arc(0.3, 0.68, 0.27, 0.3, -120, 150, 9)],
           [(0.1, 0.02), (0.56, 0.0)]),
    _glyph("6", "plain", [(0.5, 0.03), (0.2, 0.35), *arc(0.31, 0.71, 0.26, 0.28, 200, 560, 12)]),
    _glyph("6", "straight stem", [(0.46, 0.0), (0.06, 0.72), *arc(0.31, 0.73, 0.25, 0.26, 180, 540, 12)]),
    _glyph("7", "plain", [(0.0, 0.04), (0.6, 0.02), (0.22, 1.0)]),
    _glyph("7", "crossed", [(0.0, 0.04), (0.6, 0.02), (0.22, 1.0)], [(0.16, 0.52), (0.56, 0.5)]),
    _glyph("7", "hooked", [(0.02, 0.2), (0.02, 0.04), (0.6, 0.02), (0.24, 1.0)]),
    _glyph("8", "plain", [*arc(0.3, 0.25, 0.22, 0.24, 90, 450, 12), *arc(0.3, 0.74, 0.27, 0.26, -90, 270, 12)]),
    _glyph("8", "open loop", [*arc(0.3, 0.25, 0.22, 0.24, -20, -250, 9), *arc(0.3, 0.74, 0.27, 0.26, -90, 250, 11),
                              (0.49, 0.37)]),
    _glyph("8", "stacked loops", arc(0.3, 0.24, 0.2, 0.23, -90, 275, 12), arc(0.3, 0.74, 0.27, 0.26, -90, 275, 12)),
    _glyph("9", "curved stem", [*arc(0.3, 0.3, 0.26, 0.28, 0, 370, 12), (0.52, 0.6), (0.36, 1.0)]),
    _glyph("9", "straight stem", [*arc(0.28, 0.3, 0.26, 0.28, 0, 370, 12), (0.54, 1.0)]),
    _glyph("9", "hooked stem", [*arc(0.28, 0.3, 0.26, 0.28, 0, 370, 12), (0.54, 0.8), (0.42, 1.0), (0.2, 0.94)]),
]
MNIST_STYLES = {"plain"}  # the shapes MNIST's writers mostly used; the others are what it lacks
LACKING = [g for g in DIGITS if g.style not in MNIST_STYLES]

# -- signs written in numbers: a decimal point or comma, a minus, a date's slash, a time's colon ---------------------
SIGNS: list[Glyph] = [
    _glyph(".", "dot", width=0.2, dots=[(0.1, 0.93, 0.06)]),
    _glyph(",", "comma", [(0.13, 0.88), (0.12, 1.02), (0.05, 1.2)], width=0.22),
    _glyph("-", "minus", [(0.03, 0.55), (0.45, 0.53)], width=0.5),
    _glyph("/", "slash", [(0.72, -0.1), (0.02, 1.08)], width=0.74),
    _glyph(":", "colon", width=0.2, dots=[(0.1, 0.38, 0.06), (0.1, 0.88, 0.06)]),
]

# -- signs that are none of those: a reader must not take them for digits ---------------------------------------------
OTHER_SIGNS: list[Glyph] = [
    _glyph("+", "plus", [(0.05, 0.5), (0.65, 0.5)], [(0.35, 0.2), (0.35, 0.8)], width=0.7),
    _glyph("=", "equals", [(0.05, 0.38), (0.65, 0.38)], [(0.05, 0.66), (0.65, 0.66)], width=0.7),
    _glyph("x", "times", [(0.08, 0.3), (0.58, 0.85)], [(0.58, 0.3), (0.08, 0.85)], width=0.66),
    _glyph("*", "asterisk", [(0.3, 0.15), (0.3, 0.75)], [(0.05, 0.3), (0.55, 0.6)], [(0.55, 0.3), (0.05, 0.6)]),
    _glyph("%", "percent", [(0.6, 0.0), (0.05, 1.0)], width=0.66,
           dots=[(0.12, 0.18, 0.1), (0.52, 0.82, 0.1)]),
    _glyph("#", "hash", [(0.25, 0.05), (0.18, 0.95)], [(0.5, 0.05), (0.43, 0.95)], [(0.02, 0.35), (0.66, 0.35)],
           [(0.0, 0.65), (0.64, 0.65)], width=0.7),
    _glyph("?", "question", [*arc(0.3, 0.25, 0.24, 0.22, 190, 400, 8), (0.3, 0.68)], dots=[(0.3, 0.93, 0.06)]),
    _glyph("<", "less", [(0.6, 0.15), (0.05, 0.5), (0.6, 0.85)], width=0.66),
    _glyph(">", "greater", [(0.05, 0.15), (0.6, 0.5), (0.05, 0.85)], width=0.66),
    _glyph("$", "dollar", [*arc(0.3, 0.3, 0.24, 0.18, -20, 270, 8), *arc(0.3, 0.66, 0.25, 0.18, -90, 160, 8)],
           [(0.3, -0.05), (0.3, 1.05)]),
]


def digit_styles(char: str | None = None) -> list[Glyph]:
    return [g for g in DIGITS if char is None or g.char == char]


@dataclass
class Hand:
    """How one writer's hand moves: slant, size and shape changes, the wobble of the strokes, the pen."""
    slant: float = 0.0          # x moves by slant * (1 - y): the top leans right for slant > 0
    rotate: float = 0.0         # degrees, anticlockwise
    stretch: float = 1.0        # width multiplier
    wobble: float = 0.0         # how far the hand's bend moves the strokes, in digit heights
    pen: float = 0.12           # pen width, in digit heights
    dotted: float = 0.0         # a pen that leaves dots this many pen widths apart (a pen that skips, a drawing made
                                # of taps); 0: a solid stroke

    @classmethod
    def random(cls, rng: np.random.Generator, wobble: tuple[float, float] = (0.01, 0.035),
               pen: tuple[float, float] = (0.08, 0.17)) -> Hand:
        return cls(slant=float(rng.uniform(-0.1, 0.3)), rotate=float(rng.normal(0, 4)),
                   stretch=float(rng.uniform(0.8, 1.2)), wobble=float(rng.uniform(*wobble)),
                   pen=float(rng.uniform(*pen)))


def _smooth(points: np.ndarray, per_segment: int = 6) -> np.ndarray:
    """A Catmull-Rom spline through the control points (a pen does not turn at corners only)."""
    if len(points) < 3:
        return points
    padded = np.vstack([points[0], points, points[-1]])
    out = []
    t = np.linspace(0, 1, per_segment, endpoint=False)[:, None]
    for i in range(1, len(padded) - 2):
        p0, p1, p2, p3 = padded[i - 1], padded[i], padded[i + 1], padded[i + 2]
        out.append(0.5 * ((2 * p1) + (-p0 + p2) * t + (2 * p0 - 5 * p1 + 4 * p2 - p3) * t ** 2
                          + (-p0 + 3 * p1 - 3 * p2 + p3) * t ** 3))
    out.append(points[-1:])
    return np.vstack(out)


def _bend(rng: np.random.Generator, amount: float):
    """A smooth random bend of the plane (a hand's wobble: whole strokes curve, not single points): two waves
    of 1-3 cycles per digit height in each direction, `amount` digit heights strong."""
    waves = [(rng.uniform(1, 3, 2) * 2 * np.pi * rng.choice([-1, 1], 2), rng.uniform(0, 2 * np.pi)) for _ in range(4)]

    def moved(points: np.ndarray) -> np.ndarray:
        out = points.copy()
        for k, (frequency, phase) in enumerate(waves):
            out[:, k % 2] += amount / np.sqrt(2) * np.sin(points @ frequency + phase)
        return out
    return moved


def _moved(points: np.ndarray, hand: Hand, width: float, bend) -> np.ndarray:
    """Control points as this hand puts them: bent, stretched, slanted and turned about the glyph's middle."""
    points = bend(points)
    points[:, 0] = (points[:, 0] - width / 2) * hand.stretch + hand.slant * (1 - points[:, 1])
    points[:, 1] -= 0.5
    angle = math.radians(hand.rotate)
    c, s = math.cos(angle), math.sin(angle)
    return np.stack([c * points[:, 0] + s * points[:, 1], -s * points[:, 0] + c * points[:, 1]], axis=1)


def render(glyph: Glyph, height: float, hand: Hand, rng: np.random.Generator) -> tuple[np.ndarray, tuple[float, float]]:
    """The glyph drawn `height` pixels tall: (ink strength in [0, 1], (x, y) of the glyph's middle in that array).

    The middle is the point (width / 2, 0.5) of its template: placing it places the glyph.
    """
    pen = max(1.0, hand.pen * height)
    bend = _bend(rng, hand.wobble)
    lines = [_smooth(_moved(np.asarray(s, np.float64), hand, glyph.width, bend)) for s in glyph.strokes]
    dots = []
    for x, y, r in glyph.dots:
        (cx, cy), = _moved(np.array([[x, y]], np.float64), hand, glyph.width, bend)
        dots.append((cx, cy, r * hand.stretch ** 0.5))
    every = np.vstack([*lines, *[np.array([[cx - r, cy - r], [cx + r, cy + r]]) for cx, cy, r in dots]])
    margin = pen / height + 0.05
    low, high = every.min(axis=0) - margin, every.max(axis=0) + margin
    scale = height * SUPERSAMPLE
    size = np.ceil((high - low) * scale).astype(int) + 1
    size += (-size) % SUPERSAMPLE
    canvas = Image.new("L", (int(size[0]), int(size[1])), 0)
    draw = ImageDraw.Draw(canvas)
    width = pen * SUPERSAMPLE
    def dot(x: float, y: float, radius: float) -> None:
        draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=255)

    for line in lines:
        xy = (line - low) * scale
        if hand.dotted:
            for x, y in _along(xy, hand.dotted * width):
                dot(x, y, width / 2)
            continue
        draw.line([tuple(p) for p in xy], fill=255, width=max(1, round(width)), joint="curve")
        for x, y in (xy[0], xy[-1]):  # round ends
            dot(x, y, width / 2)
    for cx, cy, r in dots:
        x, y = (np.array([cx, cy]) - low) * scale
        dot(x, y, r * scale + width / 2)
    ink = np.asarray(canvas.reduce(SUPERSAMPLE), np.float32) / 255
    middle = (-low) * height
    return ink, (float(middle[0]), float(middle[1]))


def _along(points: np.ndarray, spacing: float) -> np.ndarray:
    """Points every `spacing` along a polyline, from its start to its end (both included)."""
    steps = np.linalg.norm(np.diff(points, axis=0), axis=1)
    travelled = np.concatenate([[0.0], np.cumsum(steps)])
    at = np.linspace(0.0, travelled[-1], max(2, round(travelled[-1] / spacing) + 1))
    return np.stack([np.interp(at, travelled, points[:, k]) for k in range(2)], axis=1)


def styled_digits(count: int, seed: int, styles: list[Glyph] | None = None,
                  wobble: tuple[float, float] = (0.01, 0.05), pen: tuple[float, float] = (0.07, 0.2),
                  height: tuple[float, float] = (40, 100), dotted: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """`count` digits drawn from the templates (`styles`, default every one, drawn in turn), each by a hand of
    its own (`dotted` of them with a pen leaving dots DOT_SPACING apart), framed as MNIST frames a digit:
    (uint8 (N, 28, 28), labels (N,))."""
    from digitlab.reading.framing import mnist_style
    rng = np.random.default_rng(seed)
    styles = styles or DIGITS
    images, labels = np.zeros((count, 28, 28), np.uint8), np.zeros(count, np.int64)
    for k in range(count):
        glyph = styles[k % len(styles)] if count >= len(styles) else styles[rng.integers(len(styles))]
        hand = Hand.random(rng, wobble, pen)
        if rng.random() < dotted:
            hand.dotted = float(rng.uniform(*DOT_SPACING))
        ink, _ = render(glyph, float(rng.uniform(*height)), hand, rng)
        images[k], labels[k] = mnist_style(ink), int(glyph.char)
    order = rng.permutation(count)
    return images[order], labels[order]


def with_styled_digits(train, share: float, seed: int):
    """`train` (a digit data set's training Split) with `share` of its size more digits drawn: in the ways of
    writing digits MNIST lacks (its own shapes are there in its real digits already), and DOTTED_SHARE of them
    in every way, MNIST's too, with a pen that leaves dots."""
    import torch

    from digitlab.data.datasets import Split
    count = round(share * len(train))
    dotted = round(DOTTED_SHARE * count)
    solid_images, solid_labels = styled_digits(count - dotted, seed, LACKING)
    dotted_images, dotted_labels = styled_digits(dotted, seed + 1, DIGITS, dotted=1.0)
    log.info(f"styled digits: {count - dotted} drawn from the {len(LACKING)} templates MNIST lacks and {dotted} dotted "
             f"from all {len(DIGITS)} added to the training split")
    images, labels = np.concatenate([solid_images, dotted_images]), np.concatenate([solid_labels, dotted_labels])
    return Split(torch.cat([train.images, torch.from_numpy(images)[:, None]]),
                 torch.cat([train.labels, torch.from_numpy(labels).to(train.labels.dtype)]))


def one_writer(rng: np.random.Generator, per_digit: int = 6) -> dict[int, np.ndarray]:
    """The digits of one writer, MNIST-framed (label -> uint8 (per_digit, 28, 28)): one way of writing each digit
    (a template drawn at random from those of the digit) and one hand for all of them, each instance bent anew,
    as one person fills a page."""
    from digitlab.reading.framing import mnist_style
    hand = Hand.random(rng, (0.01, 0.04), (0.08, 0.16))
    writer = {}
    for digit in range(10):
        styles = digit_styles(str(digit))
        glyph = styles[rng.integers(len(styles))]
        writer[digit] = np.stack([mnist_style(render(glyph, 80.0, hand, rng)[0]) for _ in range(per_digit)])
    return writer
