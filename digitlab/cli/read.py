"""digitlab read: the numbers written in image files, line by line — a number, a list, a page.

Each picture's ink is separated from the paper as for `predict` (any pen, paper, light, either
polarity), the page is turned straight and its lines found, top to bottom, each line is cut into
digits where the classifier reads them best (touching digits are split, a digit drawn in several
strokes stays whole), and the signs written in numbers are read by their shape: a decimal point or
comma, a minus, a date's slash, a time's colon (--digits-only reads digits alone). Numbers on one
line are those a clearly wider gap separates.

The plain output is one line per line found (FILE: TEXT). --json prints one list with, per image,
"text" (the lines joined by newlines), "lines" (each with its text, box and numbers, each number with
its text, box and characters) and "digits" (every character read, in reading order); boxes are
[x0, y0, x1, y1] in the photo's pixels. A page lying on a desk is found in the photo and flattened by its
perspective ("paper": its corners in the photo; each box then also has "quad", its four corners there); a
page photographed sideways or upside down is turned the way its digits read most surely ("turn", degrees
anticlockwise). JPEGs too large to decode whole (a 48 MP phone photo) are decoded at reduced size. A picture
with no ink reads as "" with no lines.

Every number and line has a "confidence": the probability that it was read exactly, calibrated on pages
whose numbers are known (docs/reading.md, "How sure a number is"). Numbers under --review-below are marked
"review": true, and listed after their line in the plain output ([check: ...]): look at those, not at all.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from digitlab.cli.common import add_device, add_json, add_model_and_images, print_json
from digitlab.cli.predict import load_reader, write_inputs
from digitlab.reading.confidence import REVIEW_BELOW


def probability(text: str) -> float:
    """An argparse type: a number from 0 to 1."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"a probability from 0 to 1, not {text!r}")
    return value


def add_parser(commands) -> None:
    p = commands.add_parser("read", help="read the numbers written in image files, line by line",
                            description=__doc__)
    p.set_defaults(run=run)
    add_model_and_images(p)
    p.add_argument("--digits-only", action="store_true",
                   help="read digits alone: no decimal points, commas, minus signs, slashes or colons")
    p.add_argument("--review-below", type=probability, default=REVIEW_BELOW, metavar="P",
                   help="flag the numbers read with a confidence under P for a person to check "
                        f"(default: {REVIEW_BELOW}, at which at most 0.5%% of the numbers not flagged were wrong "
                        "on the benchmark's pages)")
    p.add_argument("--show-input", metavar="DIR",
                   help="also write the 28x28 each digit became to DIR as NAME.INDEX.input.png "
                        "(INDEX: 0 for the first digit read), and a page found in a photo or turned, "
                        "flattened and the right way up, as NAME.page.png")
    add_device(p)
    add_json(p)


def write_page(grey, path: Path) -> None:
    """The page as it was read, grey levels in [0, 1], as a PNG (written atomically)."""
    import numpy as np
    from PIL import Image

    from digitlab.utils.files import atomic_write
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path) as handle:
        Image.fromarray(np.clip(grey * 255, 0, 255).astype(np.uint8)).save(handle, format="PNG")


def run(args) -> int:
    reader = load_reader(args)
    results = []
    for path in args.images:
        page = reader.read(path, signs=not args.digits_only, review_below=args.review_below)
        if args.show_input:
            names = [f"{Path(path).stem}.{i}.png" for i in range(len(page.page.inputs))]
            write_inputs(page.page.inputs, names, Path(args.show_input))
            if page.page.paper is not None or page.turn:  # the page as it was read: flattened, the right way up
                write_page(page.page.flat, Path(args.show_input) / f"{Path(path).stem}.page.png")
        results.append(page.to_dict())
    if args.json:
        print_json(results)
        return 0
    for r in results:
        refused = sum(not (d["is_digit"] or d["sign"]) for d in r["digits"])
        note = f"  ({refused} mark{'s' * (refused != 1)} that {'are' if refused != 1 else 'is'} no digit)" \
            if refused else ""
        for line in r["lines"] or [{"text": "", "numbers": []}]:
            unsure = [n["text"] for n in line["numbers"] if n["review"] and n["text"]]
            check = f"  [check: {', '.join(unsure)}]" if unsure else ""
            print(f"{r['image']}: {line['text'] or 'no digits'}{check}{note}")
            note = ""
    return 0
