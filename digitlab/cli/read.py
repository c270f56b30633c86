"""digitlab read: the whole numbers written in image files (a line of 1-12 digits each).

Each picture's ink is separated from the paper as for `predict` (any pen, paper, light, either
polarity), the line is cut into digits where the classifier reads them best (touching digits are
split, a digit drawn in several strokes stays whole), and each digit goes through MNIST's
preprocessing. --json prints one list with, per image, the text and each digit's box (in the
picture's pixels, left to right) and probability. Pictures with no ink read as "".
"""

from __future__ import annotations

from pathlib import Path

from digitlab.cli.common import add_device, add_json, add_model_and_images, print_json
from digitlab.cli.predict import load_predictor, write_inputs
from digitlab.errors import ConfigError
from digitlab.reading.images import load_image


def add_parser(commands) -> None:
    p = commands.add_parser("read", help="read whole numbers in image files", description=__doc__)
    p.set_defaults(run=run)
    add_model_and_images(p)
    p.add_argument("--show-input", metavar="DIR",
                   help="also write the 28x28 each digit became to DIR as NAME.INDEX.input.png "
                        "(INDEX: 0 for the leftmost digit)")
    add_device(p)
    add_json(p)


def run(args) -> int:
    from digitlab.reading.line import read_number
    predictor = load_predictor(args)
    if not predictor.reads_digits:
        raise ConfigError("read needs a digit model (grey 28x28); this one classifies pictures")
    results = []
    for path in args.images:
        number = read_number(predictor, load_image(path))
        if args.show_input:
            names = [f"{Path(path).stem}.{i}.png" for i in range(len(number.digits))]
            write_inputs(number.inputs, names, Path(args.show_input))
        results.append({"image": str(path), **number.to_dict()})
    if args.json:
        print_json(results)
        return 0
    for r in results:
        refused = sum(not d["is_digit"] for d in r["digits"])
        note = f"  ({refused} mark{'s' * (refused != 1)} that {'are' if refused != 1 else 'is'} no digit)" \
            if refused else ""
        print(f"{r['image']}: {r['text'] or 'no digits'}{note}")
    return 0
