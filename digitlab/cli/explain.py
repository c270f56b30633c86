"""digitlab explain: why the model read a picture as it did, as pictures a person can look at.

For each image, writes to DIR:
  NAME.gradcam.png       the picture with Grad-CAM's heat over it (where the evidence for the answer is)
  NAME.saliency.png      which pixels of the 28x28 the answer is most sensitive to
  NAME.feature-maps.png  the first conv layer's feature maps for this picture
  NAME.input.png         the 28x28 the model read
The board's "why" toggle shows the same pictures (POST /api/explain).
"""

from __future__ import annotations

from pathlib import Path

from digitlab.cli.common import add_device, add_json, print_json
from digitlab.reading.images import load_image
from digitlab.utils.files import atomic_write


def add_parser(commands) -> None:
    p = commands.add_parser("explain", help="show why the model read an image as it did", description=__doc__)
    p.set_defaults(run=run)
    p.add_argument("--checkpoint", metavar="PATH", help="checkpoint file or run folder (default: the default model, "
                   "trained once from the bundled digits on first use and cached)")
    p.add_argument("images", nargs="+", metavar="IMAGE", help="image files (PNG, JPEG, ...)")
    p.add_argument("--out", metavar="DIR", required=True, help="folder for the pictures")
    add_device(p)
    add_json(p)


def run(args) -> int:
    from digitlab.api import load
    from digitlab.inference.explain import explain_picture
    predictor = load(checkpoint=args.checkpoint, device=args.device).predictor
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results = []
    for path in args.images:
        picture = load_image(path)
        explanation = explain_picture(predictor, picture)
        written = {}
        for kind, image in explanation.pictures(picture).items():
            if kind == "heat":
                continue
            target = out / f"{Path(path).stem}.{kind.replace('_', '-')}.png"
            with atomic_write(target) as handle:
                image.save(handle, format="PNG")
            written[kind] = str(target)
        p = explanation.prediction
        results.append({"image": str(path), "prediction": p.name, "probability": p.probabilities[p.label],
                        "is_digit": p.is_digit, "digit_score": p.digit_score, "pictures": written})
    if args.json:
        print_json(results)
        return 0
    for r in results:
        verdict = r["prediction"] if r["is_digit"] else f"not a digit (best guess {r['prediction']})"
        print(f"{r['image']}: {verdict} {r['probability']:.1%} -> {r['pictures']['gradcam']} and "
              f"{len(r['pictures']) - 1} more")
    return 0
