"""Reading digits written in the styles MNIST lacks: the flagged 1, the crossed 7, the open 4, ...

    python benchmarks/styles.py [--checkpoint PATH] [--per-style N] [--json]

For each way of writing a digit in data/handwriting.py (DIGITS: a 1 plain, with a flag, a long flag, a flag
and a base; a 7 plain, crossed, hooked; a 4 closed and open; ...), N pictures are drawn by hands unlike
those the recipes train with (more wobble, wider ranges of pen and size), on paper as people photograph it
(black on white; blue ballpoint in a noisy JPEG; a page lit from one side), and read as `digitlab predict`
reads a file. A picture refused as "not a digit" counts as wrong. Broken strokes, then: every style drawn
with a pen that leaves dots (1.2-2.2 pen widths apart, wider than training draws), and real MNIST test
digits redrawn at 112x112 with their ink kept only in dots of a 9-pixel grid (a halftone print, a
dot-matrix). Beside them, two sets of real digits no template drew:

  MNIST test digits   the 5,000 real MNIST test digits in ../shared (else mnist-5k's held-out 1,000), 28x28
  UCI digits          scikit-learn's copy of the UCI optical digits: 1,797 scans by 43 writers, 8x8 pixels,
                      each drawn as a 64x64 picture (bicubic) on white and read as a file

The pictures are the same for every model (seeded), and none of their seeds is one training uses.
"""

from __future__ import annotations

import json
import sys

import numpy as np
from PIL import Image

from _common import benchmark_parser, digits_right, model_to_measure, pictures_right, print_table, real_test_digits
from digitlab.analysis.pictures import blue_ink_jpeg, clean, side_light
from digitlab.data.handwriting import DIGITS, Hand, render
from digitlab.inference.predictor import Predictor
from digitlab.reading.framing import mnist_style

TEST_SEED = 90_001                     # none of the seeds training draws its styled digits with
TEST_HAND = dict(wobble=(0.03, 0.07), pen=(0.06, 0.22))
TEST_DOTS = (1.2, 2.2)                 # pen widths between a dotted pen's dots (training draws 1.3-2.0)
HALFTONE = 9                           # pixels between the dots of the halftone grid, at 112x112
PAPERS = {"clean": clean, "blue ink, JPEG": blue_ink_jpeg, "side light": side_light}


def test_drawings(glyphs: list, count: int, seed: int, papers: list,
                  dots: tuple[float, float] | None = None) -> tuple[list[Image.Image], np.ndarray]:
    """`count` pictures of the glyphs in turn, by test hands (with a pen leaving dots `dots` pen widths apart,
    if given), on the papers in turn: (pictures, labels)."""
    rng = np.random.default_rng(seed)
    pictures, labels = [], np.zeros(count, np.int64)
    for k in range(count):
        glyph, height = glyphs[k % len(glyphs)], float(rng.uniform(30, 140))
        hand = Hand.random(rng, **TEST_HAND)
        if dots:
            hand.dotted = float(rng.uniform(*dots))
        ink, _ = render(glyph, height, hand, rng)
        pictures.append(papers[k % len(papers)](mnist_style(ink)))  # a 28x28, which the papers redraw at 112x112
        labels[k] = int(glyph.char)
    return pictures, labels


def halftone_pictures(digits: np.ndarray, seed: int) -> list[Image.Image]:
    """Real 28x28 digits redrawn at 112x112, black on white, their ink kept only in round dots of a grid."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:112, :112]
    pictures = []
    for digit in digits:
        big = np.asarray(Image.fromarray(digit).resize((112, 112), Image.Resampling.BICUBIC), np.float64)
        ox, oy = rng.integers(HALFTONE, size=2)
        keep = ((xx + ox) % HALFTONE - HALFTONE / 2) ** 2 + ((yy + oy) % HALFTONE - HALFTONE / 2) ** 2 \
            < (0.4 * HALFTONE) ** 2
        pictures.append(Image.fromarray(np.uint8(255 - (big * keep).clip(0, 255))))
    return pictures


def uci_pictures() -> tuple[list[Image.Image], np.ndarray]:
    from sklearn.datasets import load_digits
    uci = load_digits()
    pictures = []
    for image in uci.images:
        big = Image.fromarray(np.uint8(255 - image * 255 / 16)).resize((64, 64), Image.Resampling.BICUBIC)
        picture = Image.new("L", (96, 96), 255)
        picture.paste(big, (16, 16))
        pictures.append(picture)
    return pictures, uci.target


def measure(predictor, per_style: int) -> list[dict]:
    rows = []
    for k, glyph in enumerate(DIGITS):
        accuracy = pictures_right(predictor, *test_drawings([glyph], per_style, TEST_SEED + k, list(PAPERS.values())))
        rows.append({"set": f"{glyph.char} {glyph.style}", "count": per_style, "right": accuracy})
        print(f"  {glyph.name}: {accuracy:.1%}", file=sys.stderr)
    pictures, labels = test_drawings(DIGITS, per_style * 4, TEST_SEED + len(DIGITS), [clean], TEST_DOTS)
    rows.append({"set": "every style, dotted pen", "count": len(labels),
                 "right": pictures_right(predictor, pictures, labels)})
    _, digits, labels = real_test_digits()
    rows.append({"set": "MNIST test digits (28x28)", "count": len(labels),
                 "right": digits_right(predictor, digits, labels)})
    halftone = slice(0, per_style * 4)
    rows.append({"set": f"MNIST test digits, halftone (dots {HALFTONE} px apart)", "count": len(labels[halftone]),
                 "right": pictures_right(predictor, halftone_pictures(digits[halftone], TEST_SEED), labels[halftone])})
    pictures, targets = uci_pictures()
    rows.append({"set": "UCI digits (43 writers, 8x8 scans)", "count": len(targets),
                 "right": pictures_right(predictor, pictures, targets)})
    ones = targets == 1
    rows.append({"set": "UCI digits: the 1s alone", "count": int(ones.sum()),
                 "right": pictures_right(predictor, [p for p, o in zip(pictures, ones) if o], targets[ones])})
    return rows


def main() -> int:
    parser = benchmark_parser(__doc__)
    parser.add_argument("--per-style", type=int, default=300, help="pictures per style (default: 300)")
    args = parser.parse_args()
    with model_to_measure(args.checkpoint) as (checkpoint, _):
        rows = measure(Predictor.from_checkpoint(checkpoint), args.per_style)
    if args.json:
        print(json.dumps(rows))
        return 0
    print_table([{**r, "right": f"{r['right']:.1%}"} for r in rows],
                [("set", "digits"), ("count", "pictures"), ("right", "read right (refused = wrong)")])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
