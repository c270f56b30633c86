"""Options and output helpers shared by several commands."""

from __future__ import annotations

import argparse
import json
import re
import sys

from digitlab.data.datasets import DATASET_NAMES
from digitlab.utils.device import DEVICE_CHOICES


def add_device(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", choices=DEVICE_CHOICES, default="auto",
                        help="where to compute: auto picks CUDA when available (default: auto)")


def add_model_and_images(parser: argparse.ArgumentParser) -> None:
    """--checkpoint PATH or --model FILE.onnx, and the image files: what predict and read take."""
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--checkpoint", metavar="PATH", help="checkpoint file or run folder (default: the default "
                        "model, trained once from the bundled digits on first use and cached, as 'serve' uses)")
    source.add_argument("--model", metavar="FILE.onnx", help="a model exported with 'digitlab export --format onnx'")
    parser.add_argument("images", nargs="+", metavar="IMAGE", help="image files (PNG, JPEG, ...)")


def add_json(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true",
                        help="print one JSON object on stdout (progress and notes go to stderr)")


def add_data_options(parser: argparse.ArgumentParser, default: str | None) -> None:
    parser.add_argument("--dataset", default=default, metavar="NAME",
                        help=f"data set: {', '.join(DATASET_NAMES)}" + (f" (default: {default})" if default else ""))
    parser.add_argument("--data-dir", metavar="DIR",
                        help="data cache folder (default: $DIGITLAB_DATA or ~/.cache/digitlab)")


def print_json(obj) -> None:
    json.dump(obj, sys.stdout)
    sys.stdout.write("\n")
    sys.stdout.flush()


_NUMERIC = re.compile(r"^[-+]?[\d.,]+\s?[kMG%]?$|^[-+]?[\d.,]+[eE][-+]?\d+$")


def format_table(rows: list[list], header: list[str]) -> str:
    """Plain-text table: numeric columns right-aligned, text columns left-aligned."""
    cells = [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in [header, *cells]) for i in range(len(header))]
    numeric = [bool(cells) and all(_NUMERIC.match(r[i]) or r[i] in ("", "-") for r in cells)
               for i in range(len(header))]
    def line(row):
        return "  ".join(c.rjust(w) if num else c.ljust(w) for c, w, num in zip(row, widths, numeric)).rstrip()
    return "\n".join([line(header), "  ".join("-" * w for w in widths), *(line(r) for r in cells)])
