"""digitlab serve: the drawing board, a web page to draw digits and teach the model.

The board keeps everything it learns in one SQLite file (--db, default: the cache's
samples.sqlite) and a folder beside it (DB-versions/): the drawn samples, every model version,
which one serves, and every fine-tune job; a restart with the same --db serves what served
before. --checkpoint names the base model: a different one than the database's starts a new
lineage there (the earlier versions stay, --version N serves any of them). Without
--checkpoint, a new database starts from the default model, trained first (the fast recipe,
well under a minute on 2 cores) if the cache has none. It binds to 127.0.0.1 unless --host says otherwise.
"""

from __future__ import annotations

import logging
import os
import secrets

from digitlab.data.download import cache_root
from digitlab.errors import ConfigError
from digitlab.utils.cpu import usable_cores

log = logging.getLogger("digitlab")
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def add_parser(commands) -> None:
    p = commands.add_parser("serve", help="the drawing board web page and its API", description=__doc__)
    p.set_defaults(run=run)
    p.add_argument("--checkpoint", metavar="PATH",
                   help="base model (default: the database's; for a new database, the cached default model)")
    p.add_argument("--version", type=int, metavar="N", help="serve model version N of the database (default: the "
                                                             "one that served last)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port (default: 8000)")
    p.add_argument("--db", metavar="PATH", help="the board's SQLite file: samples, model versions, fine-tune jobs "
                                                 "(default: CACHE/samples.sqlite)")
    p.add_argument("--data-dir", metavar="DIR", help="data cache folder (default: $DIGITLAB_DATA or ~/.cache/digitlab)")
    p.add_argument("--no-tta", action="store_true",
                   help="answer from one view of each drawing, not the checkpoint's test-time augmentation "
                        "(5 views): faster answers, slightly less accurate")
    workers = default_workers()
    p.add_argument("--workers", type=int, default=workers, metavar="N",
                   help="processes that decode drawings and run the model, each with its own copy of it "
                        f"(default: one per CPU core, at most 8: here {workers}); 0: all in the server process")
    p.add_argument("--token", help="token that fine-tune and rollback calls must send (Authorization: Bearer ...); "
                                   "required off loopback: default $DIGITLAB_TOKEN, else a random one, printed")


def default_workers() -> int:
    """One worker process per core; on one core, none (a worker would only add a hop)."""
    cores = usable_cores()
    return min(cores, 8) if cores > 1 else 0


def run(args) -> int:
    import torch
    import uvicorn

    from digitlab.training.default_model import default_checkpoint
    from digitlab.web.app import create_app
    from digitlab.web.board import Board

    if args.workers < 0:
        raise ConfigError(f"--workers must be 0 or more, not {args.workers}")
    # Model calls run one OpenMP thread each (in the workers, or in web/batcher.py's thread
    # beside the request threads), so that they never wait on each other for the cores.
    torch.set_num_threads(1)
    board = Board.open(args.db or cache_root(args.data_dir) / "samples.sqlite", checkpoint=args.checkpoint,
                       version=args.version, tta=False if args.no_tta else None, workers=args.workers,
                       default_base=lambda: default_checkpoint(args.data_dir))
    token = args.token or os.environ.get("DIGITLAB_TOKEN")
    if not token and args.host not in LOOPBACK:
        token = secrets.token_urlsafe(16)
        log.warning(f"bound to {args.host}: fine-tune and rollback need the token {token}")
    where = f"{args.workers} worker processes" if args.workers else "the server process"
    info, versions = board.service.info, len(board.version_store.versions())
    log.info(f"serving model v{info.version} of {versions} ({info.checkpoint}) on http://{args.host}:{args.port}/ "
             f"(API docs: /docs), predicting in {where}; board in {board.store.path}")
    try:
        uvicorn.run(create_app(board, token=token), host=args.host, port=args.port, log_level="warning")
    finally:
        board.close()
    return 0
