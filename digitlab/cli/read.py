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
"""

from __future__ import annotations

from pathlib import Path

from digitlab.cli.common import add_device, add_json, add_model_and_images, print_json
from digitlab.cli.predict import load_reader, write_inputs


def add_parser(commands) -> None:
    p = commands.add_parser("read", help="read the numbers written in image files, line by line",
                            description=__doc__)
    p.set_defaults(run=run)
    add_model_and_images(p)
    p.add_argument("--digits-only", action="store_true",
                   help="read digits alone: no decimal points, commas, minus signs, slashes or colons")
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
        page = reader.read(path, signs=not args.digits_only)
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
        for line in r["lines"] or [{"text": ""}]:
            print(f"{r['image']}: {line['text'] or 'no digits'}{note}")
            note = ""
    return 0
