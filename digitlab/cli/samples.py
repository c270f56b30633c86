"""digitlab samples: what a drawing board has stored (--db, default: the cache's samples.sqlite).

  export   the drawn samples as IDX files (train-images/train-labels), to train on with --dataset idx:DIR
  versions the model versions: lineage, samples learned from, held-out accuracy, the one serving
  backup   a consistent copy of the database (safe while the board runs) with its version files;
           `digitlab serve --db FILE` serves from the copy as from the original
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from digitlab.cli.common import add_json, format_table, print_json
from digitlab.data.download import cache_root
from digitlab.errors import DataError


def add_parser(commands) -> None:
    p = commands.add_parser("samples", help="the drawing board's samples, model versions and backups",
                            description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    export = actions.add_parser("export", help="write the samples as IDX files",
                                description="Write the drawing board's samples as IDX files "
                                            "(train-images/train-labels), to train on with --dataset idx:DIR.")
    export.set_defaults(run=run_export)
    export.add_argument("--out", required=True, metavar="DIR", help="folder for the IDX files")
    versions = actions.add_parser("versions", help="list the model versions with their accuracies",
                                  description="List the board's model versions: parent, samples fine-tuned on, "
                                              "held-out accuracy before and after, the one serving.")
    versions.set_defaults(run=run_versions)
    backup = actions.add_parser("backup", help="copy the database and its version files",
                                description="Copy the board's database (SQLite online backup: consistent while "
                                            "the board runs) and the version files it names, as FILE and "
                                            "FILE-versions/; restore with digitlab serve --db FILE.")
    backup.set_defaults(run=run_backup)
    backup.add_argument("--out", required=True, metavar="FILE", help="the copy's database file (must not exist)")
    for action in (export, versions, backup):
        action.add_argument("--db", metavar="PATH", help="the board's SQLite file (default: CACHE/samples.sqlite)")
        action.add_argument("--data-dir", metavar="DIR",
                            help="data cache folder (default: $DIGITLAB_DATA or ~/.cache/digitlab)")
        add_json(action)


def _database(args) -> Path:
    path = Path(args.db or cache_root(args.data_dir) / "samples.sqlite")
    if not path.is_file():
        raise DataError(f"{path}: no board database (draw and submit some digits with 'digitlab serve' first)")
    return path


def run_export(args) -> int:
    from digitlab.web.samples import SampleStore
    count = SampleStore(_database(args)).export_idx(args.out)
    if args.json:
        print_json({"samples": count, "out": args.out})
    else:
        print(f"{count} samples written to {args.out} (use --dataset idx:{args.out})")
    return 0


def run_versions(args) -> int:
    from digitlab.web.versions import VersionStore
    version_store = VersionStore(_database(args))
    version_store.verify()
    serving = version_store.serving()
    versions = version_store.describe(serving=serving.version if serving else None)
    if args.json:
        print_json({"serving": serving.version if serving else None, "versions": versions})
        return 0
    if not versions:
        print("no model versions yet (the board records its base model when it first serves)")
        return 0

    def percent(value):
        return "-" if value is None else f"{100 * value:.2f}%"

    rows = [[f"v{v['version']}", f"v{v['parent']}" if v["parent"] else "base",
             time.strftime("%Y-%m-%d %H:%M", time.localtime(v["created"])), v["samples"],
             percent(v["accuracy_before"]), percent(v["accuracy"]),
             "serving" if v["serving"] else (v["problem"] or "")] for v in versions]
    print(format_table(rows, ["version", "from", "made", "samples", "parent's acc.", "accuracy", ""]))
    return 0


def run_backup(args) -> int:
    from digitlab.web.versions import VersionStore
    result = VersionStore(_database(args)).backup(args.out)
    if args.json:
        print_json(result)
        return 0
    print(f"backed up {result['samples']} samples and {len(result['versions'])} model versions to {args.out}"
          f" (serve it with --db {args.out})")
    if result["missing"]:
        print("not backed up, their files were missing or changed: "
              + ", ".join(f"v{n}" for n in result["missing"]))
    return 0
