"""digitlab predict: the digit in each image file (PNG/JPEG of any size), with its top probabilities.

Each image goes through MNIST's own preprocessing: grey, light digit on dark, cropped to
the ink, scaled to fit 20x20 and centred by its centre of mass in 28x28.
"""

from __future__ import annotations

from digitlab.cli.common import add_device, add_json, print_json
from digitlab.inference import Predictor


def add_parser(commands) -> None:
    p = commands.add_parser("predict", help="classify image files", description=__doc__)
    p.set_defaults(run=run)
    p.add_argument("--checkpoint", required=True, metavar="PATH", help="checkpoint file or run folder")
    p.add_argument("images", nargs="+", metavar="IMAGE", help="image files (PNG, JPEG, ...)")
    p.add_argument("--top", type=int, default=3, metavar="K", help="how many classes to list (default: 3)")
    add_device(p)
    add_json(p)


def run(args) -> int:
    predictor = Predictor.from_checkpoint(args.checkpoint, args.device)
    predictions = predictor.predict_files(args.images)
    results = [{"image": str(path), "prediction": p.name, "top": p.top(args.top, predictor.classes)}
               for path, p in zip(args.images, predictions)]
    if args.json:
        print_json(results)
        return 0
    for r in results:
        top = ", ".join(f"{t['class']} {t['probability']:.1%}" for t in r["top"])
        print(f"{r['image']}: {r['prediction']}  ({top})")
    return 0
