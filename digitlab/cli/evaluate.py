"""digitlab evaluate: accuracy, per-class precision/recall and the confusion matrix of a checkpoint."""

from __future__ import annotations

from digitlab.cli.common import add_data_options, add_device, add_json, format_table, print_json
from digitlab.data.datasets import Split
from digitlab.data.idx import read_pair
from digitlab.errors import ConfigError
from digitlab.inference.checkpoint import check_fits_model, checkpoint_test_split
from digitlab.inference.trained_model import load_trained
from digitlab.reading.refusal import refusal_of
from digitlab.training.evaluate import evaluate


def add_parser(commands) -> None:
    p = commands.add_parser("evaluate", help="score a trained model on a test set", description=__doc__)
    p.set_defaults(run=run)
    p.add_argument("--checkpoint", required=True, metavar="PATH", help="checkpoint file or run folder")
    add_data_options(p, default=None)
    p.add_argument("--images", metavar="IDX", help="IDX file of test images (with --labels)")
    p.add_argument("--labels", metavar="IDX", help="IDX file of test labels (with --images)")
    add_device(p)
    add_json(p)


def run(args) -> int:
    model, payload = load_trained(args.checkpoint, args.device)
    classes = list(payload["classes"])
    if bool(args.images) != bool(args.labels):
        raise ConfigError("--images and --labels go together")
    if args.images and args.dataset:
        raise ConfigError("give either --dataset or --images/--labels, not both")
    if args.images:
        split, source = Split.from_numpy(*read_pair(args.images, args.labels, len(classes))), args.images
        check_fits_model(split, payload, source)
    else:
        split, source = checkpoint_test_split(payload, args.dataset, args.data_dir)
    norm = payload["normalization"]
    result = evaluate(model, split, norm["mean"], norm["std"], len(classes), refusal=refusal_of(payload))
    report = {"checkpoint": str(args.checkpoint), "data": source, **result.to_dict(classes)}
    if args.json:
        print_json(report)
        return 0
    print(f"accuracy {result.accuracy:.2%} on {len(split)} images ({source}), loss {result.loss:.4f}\n")
    rows = [[c["class"], f"{c['precision']:.3f}", f"{c['recall']:.3f}", f"{c['f1']:.3f}", c["support"]]
            for c in report["per_class"]]
    print(format_table(rows, ["class", "precision", "recall", "f1", "support"]))
    print("\nconfusion matrix (rows: true class, columns: predicted)")
    print(format_table([[c, *row] for c, row in zip(classes, result.confusion.tolist())], ["true", *classes]))
    return 0
