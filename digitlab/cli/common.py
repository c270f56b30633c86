"""Options and output helpers shared by several commands."""

from __future__ import annotations

import argparse
import json
import sys

from digitlab.data.datasets import DATASET_NAMES
from digitlab.utils.device import DEVICE_CHOICES


def add_device(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", choices=DEVICE_CHOICES, default="auto",
                        help="where to compute: auto picks CUDA when available (default: auto)")


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


def format_table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(str(c).rjust(w) if i else str(c).ljust(w) for i, (c, w) in enumerate(zip(row, widths)))
             for row in [header, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
