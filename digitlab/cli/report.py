"""digitlab report / robustness: look inside a trained model.

report     writes PNG figures and an index.html: training curves, confusion matrix, the most
           confident mistakes, kernels, feature maps, t-SNE of the last hidden layer, saliency
           and Grad-CAM, robustness to shifts, rotation, noise and blur.
robustness prints test accuracy under shifts, rotations, noise and blur, and for digit models
           as pictures drawn with other pens (-1 .. +2 px), scanned small (28 .. 6 px) and lit
           from one side (--picture-digits of them).
"""

from __future__ import annotations

from digitlab.cli.common import add_data_options, add_device, add_json, format_table, print_json
from digitlab.errors import ConfigError


def add_parser(commands) -> None:
    p = commands.add_parser("report", help="figures and an HTML report for a checkpoint", description=__doc__)
    p.set_defaults(run=run_report)
    p.add_argument("--checkpoint", required=True, metavar="PATH", help="checkpoint file or run folder")
    p.add_argument("--out", required=True, metavar="DIR", help="folder for the PNG files and index.html")
    add_data_options(p, default=None)
    p.add_argument("--index", type=int, action="append", metavar="N",
                   help="test image whose feature maps to draw (repeatable; default: 0 and 1)")
    p.add_argument("--tsne", type=int, default=1000, metavar="N", help="test images in the t-SNE map (default: 1000)")
    p.add_argument("--picture-digits", type=int, default=300, metavar="N",
                   help="test digits redrawn as pictures for the pen, scan and light curves (default: 300; 0: none)")
    add_device(p)
    add_json(p)

    r = commands.add_parser("robustness", help="accuracy under shifts, rotations, noise and blur", description=__doc__)
    r.set_defaults(run=run_robustness)
    r.add_argument("--checkpoint", required=True, metavar="PATH", help="checkpoint file or run folder")
    r.add_argument("--picture-digits", type=int, default=300, metavar="N",
                   help="test digits redrawn as pictures for the pen, scan and light curves (default: 300; 0: none)")
    add_data_options(r, default=None)
    add_device(r)
    add_json(r)


def run_report(args) -> int:
    from digitlab.analysis.report import build_report
    if args.picture_digits < 0:
        raise ConfigError(f"--picture-digits must be 0 or more, not {args.picture_digits}")
    numbers = build_report(args.checkpoint, args.out, args.dataset, args.data_dir, args.index, args.tsne,
                           device=args.device, picture_digits=args.picture_digits)
    if args.json:
        print_json({k: v for k, v in numbers.items() if k != "robustness"} | {"index": f"{args.out}/index.html"})
    else:
        print(f"report: {args.out}/index.html ({len(numbers['figures'])} figures, accuracy {numbers['accuracy']:.2%}, "
              f"{numbers['seconds']:.1f} s)")
    return 0


def run_robustness(args) -> int:
    from digitlab.analysis.robustness import RobustnessStudy, run_study
    from digitlab.inference.checkpoint import checkpoint_test_split
    from digitlab.inference.trained_model import load_trained
    from digitlab.reading.refusal import refusal_of
    model, payload = load_trained(args.checkpoint, args.device)
    split, source = checkpoint_test_split(payload, args.dataset, args.data_dir)
    norm = payload["normalization"]
    if args.picture_digits < 0:
        raise ConfigError(f"--picture-digits must be 0 or more, not {args.picture_digits}")
    study = run_study(model, split, norm["mean"], norm["std"], len(payload["classes"]),
                      RobustnessStudy(picture_digits=args.picture_digits), refusal_of(payload))
    if args.json:
        print_json({"data": source, **study})
        return 0
    print(f"accuracy {study['plain']:.2%} on {study['count']} images ({source})\n")
    shift = study["shift"]
    print(format_table([[p] + [f"{shift[d][k]:.2%}" for d in ("right", "left", "down", "up")]
                        for k, p in enumerate(shift["pixels"])], ["shift px", "right", "left", "down", "up"]))
    curves = (("rotation", "degrees"), ("noise", "std"), ("blur", "sigma"), ("pen", "pixels"),
              ("resolution", "pixels"), ("lighting", "darkest"))
    for key, unit in curves:
        if key not in study:
            continue
        print()
        if "count" in study[key]:
            print(f"as pictures ({study[key]['count']} digits, read as 'predict' reads files):")
        print(format_table([[v, f"{a:.2%}"] for v, a in zip(study[key][unit], study[key]["accuracy"])],
                           [f"{key} {unit}", "accuracy"]))
    return 0
