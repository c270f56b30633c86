"""digitlab predict: the class of each image file (PNG/JPEG of any size), with its top probabilities.

For a digit model the ink is first separated from the paper (uneven light, tinted or ruled
paper and specks removed), then each image goes through MNIST's own preprocessing: light digit
on dark, cropped to the ink, scaled to fit 20x20 and centred by its centre of mass in 28x28.
--show-input DIR writes that 28x28 for each image, to see what the model read.
A model trained with non-digits (the default recipe for digits) also says whether each picture is
a digit at all: "is_digit" and "digit_score" (the log-odds that it is one) in --json, and
"not a digit (best guess 0, 12%)" in the plain output.
A model trained on a folder of pictures gets each picture fitted to its size instead.
--model FILE.onnx runs an exported model through ONNX Runtime (see 'digitlab export').
"""

from __future__ import annotations

from pathlib import Path

from digitlab.cli.common import add_device, add_json, add_model_and_images, print_json
from digitlab.utils.files import atomic_write


def add_parser(commands) -> None:
    p = commands.add_parser("predict", help="classify image files", description=__doc__)
    p.set_defaults(run=run)
    add_model_and_images(p)
    p.add_argument("--top", type=int, default=3, metavar="K", help="how many classes to list (default: 3)")
    p.add_argument("--show-input", metavar="DIR",
                   help="also write what the model read for each image (the 28x28 digit) to DIR as NAME.input.png")
    add_device(p)
    add_json(p)


def load_reader(args):
    """The model the command was given (--checkpoint, --model), else the default one: digitlab.load."""
    from digitlab.api import load
    return load(checkpoint=args.checkpoint, device=args.device, model=args.model)


def write_inputs(inputs, images: list[str], out: Path) -> None:
    """Each model input as a PNG (written atomically), named after its image; the same name twice gets a number."""
    from PIL import Image

    out.mkdir(parents=True, exist_ok=True)
    used: set[str] = set()
    for index, (array, image) in enumerate(zip(inputs, images)):
        name = f"{Path(image).stem}.input.png"
        if name in used:
            name = f"{Path(image).stem}.{index}.input.png"
        used.add(name)
        picture = array[0] if array.ndim == 3 and array.shape[0] == 1 else array
        picture = picture.transpose(1, 2, 0) if picture.ndim == 3 else picture
        with atomic_write(out / name) as handle:
            Image.fromarray(picture).save(handle, format="PNG")


def run(args) -> int:
    reader = load_reader(args)
    results = reader.predict(list(args.images), top=args.top)
    if args.show_input:
        write_inputs([r.input for r in results], args.images, Path(args.show_input))
    if args.json:
        print_json([r.to_dict() for r in results])
        return 0
    for r in results:
        if not r.is_digit:
            print(f"{r.image}: not a digit (best guess {r.prediction}, {r.probabilities[r.prediction]:.0%})")
            continue
        top = ", ".join(f"{t['class']} {t['probability']:.1%}" for t in r.top)
        print(f"{r.image}: {r.prediction}  ({top})")
    return 0
