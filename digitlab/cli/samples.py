"""digitlab samples export: the drawing board's stored samples as IDX files (train-images/train-labels).

The folder can then be trained on with --dataset idx:DIR (or mixed in with --test-set).
"""

from __future__ import annotations

from pathlib import Path

from digitlab.cli.common import add_json, print_json
from digitlab.data.download import cache_root
from digitlab.errors import DataError


def add_parser(commands) -> None:
    p = commands.add_parser("samples", help="the drawing board's stored samples", description=__doc__)
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    export = actions.add_parser("export", help="write the samples as IDX files", description=__doc__)
    export.set_defaults(run=run_export)
    export.add_argument("--out", required=True, metavar="DIR", help="folder for the IDX files")
    export.add_argument("--db", metavar="PATH", help="SQLite file (default: CACHE/samples.sqlite)")
    export.add_argument("--data-dir", metavar="DIR",
                        help="data cache folder (default: $DIGITLAB_DATA or ~/.cache/digitlab)")
    add_json(export)


def run_export(args) -> int:
    from digitlab.web.storage import SampleStore
    path = args.db or cache_root(args.data_dir) / "samples.sqlite"
    if not Path(path).is_file():
        raise DataError(f"{path}: no sample database (draw and submit some digits with 'digitlab serve' first)")
    count = SampleStore(path).export_idx(args.out)
    if args.json:
        print_json({"samples": count, "out": args.out})
    else:
        print(f"{count} samples written to {args.out} (use --dataset idx:{args.out})")
    return 0
