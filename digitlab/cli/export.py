"""digitlab export: a checkpoint as a self-contained ONNX or TorchScript file.

The exported model takes uint8 images (N, C, H, W) with pixel values 0..255 and returns
logits; normalisation is inside the graph, BatchNorm is folded into the convolutions, and
the class names travel in the file's metadata. Run an .onnx file with
'digitlab predict --model FILE.onnx' or any ONNX Runtime.
"""

from __future__ import annotations

from pathlib import Path

from digitlab.cli.common import add_json, print_json
from digitlab.errors import DigitlabError


def add_parser(commands) -> None:
    p = commands.add_parser("export", help="export a checkpoint to ONNX or TorchScript", description=__doc__)
    p.set_defaults(run=run)
    p.add_argument("--checkpoint", required=True, metavar="PATH", help="checkpoint file or run folder")
    p.add_argument("--format", choices=["onnx", "torchscript"], default="onnx", help="(default: onnx)")
    p.add_argument("--out", metavar="FILE",
                   help="output file (default: the checkpoint's folder, model.onnx or model.ts)")
    p.add_argument("--no-fold-bn", action="store_true", help="keep BatchNorm layers as they are")
    p.add_argument("--int8", action="store_true",
                   help="ONNX with int8 weights and activations (faster in ONNX Runtime on CPUs with VNNI: see "
                        "docs/deploy.md); activation ranges are calibrated on 512 training images")
    p.add_argument("--calibration-data", metavar="NAME",
                   help="data set for --int8's calibration (default: the one the checkpoint was trained on)")
    p.add_argument("--data-dir", metavar="DIR",
                   help="data cache folder for --int8's calibration (default: the checkpoint's)")
    add_json(p)


def run(args) -> int:
    from digitlab.deploy.export import export_checkpoint

    checkpoint = Path(args.checkpoint)
    folder = checkpoint if checkpoint.is_dir() else checkpoint.parent
    out = args.out or folder / ("model.onnx" if args.format == "onnx" else "model.ts")
    if (args.calibration_data or args.data_dir) and not args.int8:
        raise DigitlabError("--calibration-data and --data-dir are for --int8 exports")
    summary = export_checkpoint(checkpoint, out, args.format, fold_bn=not args.no_fold_bn, int8=args.int8,
                                calibration=args.calibration_data, data_dir=args.data_dir)
    if args.json:
        print_json(summary)
    else:
        precision = f" {summary['precision']}" if "precision" in summary else ""
        print(f"{summary['out']}: {summary['format']}{precision}, {summary['bytes'] / 1024:.0f} KiB, "
              f"{summary['model']} "
              f"({len(summary['classes'])} classes, {summary['in_channels']}x{summary['image_size']}x"
              f"{summary['image_size']} uint8 in, logits out), {summary['batchnorm_folded']} BatchNorm layer(s) folded")
    return 0
