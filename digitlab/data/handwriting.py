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

import math
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageDraw

SUPERSAMPLE = 4  # strokes are drawn this many times finer, then averaged down: anti-aliased edges


@dataclass(frozen=True)
class Glyph:
    """One way of writing a character: strokes (each a polyline of control points, smoothed when drawn)
    and dots (x, y, radius), all in units of the digit height; `width` is its advance, the same units."""
    char: str
    style: str
    strokes: tuple[tuple[tuple[float, float], ...], ...]
    width: float = 0.6
    dots: tuple[tuple[float, float, float], ...] = ()
    tags: frozenset[str] = field(default_factory=frozenset)

    @property
    def name(self) -> str:
        return f"{self.char} {self.style}"


def arc(cx: float, cy: float, rx: float, ry: float, start: float, end: float, n: int = 9) -> list[tuple]:
    """Points along an ellipse from angle `start` to `end` (degrees; 0 = right, 90 = down)."""
    return [(cx + rx * math.cos(math.radians(a)), cy + ry * math.sin(math.radians(a)))
            for a in np.linspace(start, end, n)]


def _glyph(char: str, style: str, *strokes, width: float = 0.6, dots=(), tags=()) -> Glyph:
    return Glyph(char, style, tuple(tuple(map(tuple, s)) for s in strokes), width, tuple(dots), frozenset(tags))


# -- digits ---------------------------------------------------------------------------------------------------------
# "plain" is the shape MNIST's writers mostly used; the other styles are the ones MNIST lacks.
DIGITS: list[Glyph] = [
    _glyph("0", "plain", arc(0.3, 0.5, 0.28, 0.49, -90, 275, 14)),
    _glyph("0", "slashed", arc(0.3, 0.5, 0.28, 0.49, -90, 275, 14), [(0.56, 0.02), (0.04, 0.98)],
           tags={"european"}),
    _glyph("1", "plain", [(0.32, 0.0), (0.28, 1.0)], width=0.45),
    _glyph("1", "flag", [(0.05, 0.3), (0.32, 0.0), (0.3, 1.0)], width=0.5, tags={"european"}),
    _glyph("1", "flag and base", [(0.08, 0.28), (0.33, 0.0), (0.32, 1.0)], [(0.06, 1.0), (0.6, 1.0)], width=0.65,
           tags={"european"}),
    _glyph("2", "plain", [*arc(0.3, 0.27, 0.26, 0.25, 190, 365, 7), (0.45, 0.55), (0.02, 1.0), (0.6, 1.0)]),
    _glyph("2", "looped", [*arc(0.3, 0.27, 0.26, 0.25, 190, 365, 7), (0.4, 0.58), (0.16, 0.78),
                           *arc(0.16, 0.86, 0.13, 0.13, 270, 10, 6), *arc(0.16, 0.86, 0.13, 0.13, 10, 160, 5),
                           (0.3, 0.97), (0.6, 0.99)], tags={"european"}),
    _glyph("3", "plain", [*arc(0.28, 0.26, 0.26, 0.24, 200, 440, 8), *arc(0.28, 0.74, 0.29, 0.26, -80, 160, 9)]),
    _glyph("4", "closed", [(0.46, 1.0), (0.46, 0.0), (0.0, 0.68), (0.62, 0.68)], width=0.65),
    _glyph("4", "open", [(0.08, 0.0), (0.03, 0.62), (0.62, 0.62)], [(0.46, 0.12), (0.46, 1.0)], width=0.65,
           tags={"european"}),
    _glyph("5", "plain", [(0.1, 0.02), (0.08, 0.45), *arc(0.3, 0.68, 0.27, 0.3, -120, 150, 9)],
           [(0.1, 0.02), (0.56, 0.0)]),
    _glyph("6", "plain", [(0.5, 0.03), (0.2, 0.35), *arc(0.31, 0.71, 0.26, 0.28, 200, 560, 12)]),
    _glyph("7", "plain", [(0.0, 0.04), (0.6, 0.02), (0.22, 1.0)]),
    _glyph("7", "crossed", [(0.0, 0.04), (0.6, 0.02), (0.22, 1.0)], [(0.16, 0.52), (0.56, 0.5)],
           tags={"european"}),
    _glyph("8", "plain", [*arc(0.3, 0.25, 0.22, 0.24, 90, 450, 12), *arc(0.3, 0.74, 0.27, 0.26, -90, 270, 12)]),
    _glyph("9", "curved stem", [*arc(0.3, 0.3, 0.26, 0.28, 0, 370, 12), (0.52, 0.6), (0.36, 1.0)]),
    _glyph("9", "straight stem", [*arc(0.28, 0.3, 0.26, 0.28, 0, 370, 12), (0.54, 1.0)], tags={"european"}),
]

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
    wobble: float = 0.0         # std of each control point's move, in digit heights
    pen: float = 0.12           # pen width, in digit heights

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


def _moved(points: np.ndarray, hand: Hand, rng: np.random.Generator, width: float) -> np.ndarray:
    """Control points as this hand puts them: wobbled, stretched, slanted and turned about the glyph's middle."""
    points = points + rng.normal(0, hand.wobble, points.shape) if hand.wobble else points.copy()
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
    lines = [_smooth(_moved(np.asarray(s, np.float64), hand, rng, glyph.width)) for s in glyph.strokes]
    dots = []
    for x, y, r in glyph.dots:
        (cx, cy), = _moved(np.array([[x, y]], np.float64), hand, rng, glyph.width)
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
    for line in lines:
        xy = [tuple(p) for p in (line - low) * scale]
        draw.line(xy, fill=255, width=max(1, round(width)), joint="curve")
        for x, y in (xy[0], xy[-1]):
            draw.ellipse((x - width / 2, y - width / 2, x + width / 2, y + width / 2), fill=255)
    for cx, cy, r in dots:
        x, y = (np.array([cx, cy]) - low) * scale
        radius = r * scale + width / 2
        draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=255)
    ink = np.asarray(canvas.reduce(SUPERSAMPLE), np.float32) / 255
    middle = (-low) * height
    return ink, (float(middle[0]), float(middle[1]))
