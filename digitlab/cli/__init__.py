"""The `digitlab` command: one sub-command per module in this package.

Errors a user can cause arrive as `DigitlabError` and leave as one line on stderr with
exit code 2; argparse's own usage errors also exit 2.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from digitlab.cli import evaluate, explain, export, lab, models, predict, read, report, samples, serve, train
from digitlab.data.download import cache_root
from digitlab.errors import DigitlabError
from digitlab.version import __version__

COMMANDS = [train, evaluate, predict, read, explain, export, models, lab, report, serve, samples]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="digitlab",
        description="Recognise handwritten digits with convolutional neural networks.",
        epilog="Run 'digitlab COMMAND --help' for the options of each command.",
    )
    parser.add_argument("--version", action="version", version=f"digitlab {__version__}")
    parser.add_argument("-q", "--quiet", action="store_true", help="only print results and errors")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in COMMANDS:
        module.add_parser(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # matplotlib caches its font list under ~/.cache or ~/.matplotlib; keep it in digitlab's cache instead,
    # so that digitlab writes only to its cache, run and database folders (and where --out points).
    os.environ.setdefault("MPLCONFIGDIR", str(cache_root(getattr(args, "data_dir", None)) / "matplotlib"))
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO, format="%(message)s",
                        stream=sys.stderr, force=True)
    try:
        return args.run(args) or 0
    except DigitlabError as exc:
        print(f"digitlab: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("digitlab: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader left (`digitlab ... --json | head`): stop quietly, as Unix tools do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # so that the exit's flush cannot fail again
        return 141
