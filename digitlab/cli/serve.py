"""digitlab serve: the drawing board, a web page to draw digits and teach the model.

Without --checkpoint it loads the default model from the cache, training it first (the fast
recipe: well under a minute on 2 cores) if there is none. It binds to 127.0.0.1 unless --host says otherwise.
Samples go to a SQLite file (--db, default: the cache's samples.sqlite).
"""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path

from digitlab.data.download import cache_root
from digitlab.errors import ConfigError
from digitlab.utils.cpu import usable_cores

log = logging.getLogger("digitlab")
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def add_parser(commands) -> None:
    p = commands.add_parser("serve", help="the drawing board web page and its API", description=__doc__)
    p.set_defaults(run=run)
    p.add_argument("--checkpoint", metavar="PATH", help="model to serve (default: the cached default model)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port (default: 8000)")
    p.add_argument("--db", metavar="PATH", help="SQLite file for drawn samples (default: CACHE/samples.sqlite)")
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


def default_checkpoint(data_dir: str | None) -> Path:
    """The cached default model, trained with the fast recipe on the first use."""
    run_dir = cache_root(data_dir) / "models" / "default"
    checkpoint = run_dir / "checkpoint.pt"
    if checkpoint.exists():
        return checkpoint
    from digitlab.training import TrainConfig, train
    log.info(f"no default model yet: training one (recipe fast) into {run_dir}")
    if run_dir.exists():  # an earlier first run was interrupted: start again
        for leftover in run_dir.iterdir():
            leftover.unlink()
    train(TrainConfig(dataset="mnist", recipe="fast", data_dir=data_dir, explicit=["dataset"]), run_dir)
    return checkpoint


def run(args) -> int:
    import torch
    import uvicorn

    from digitlab.web.app import create_app
    from digitlab.web.service import ModelService
    from digitlab.web.storage import SampleStore

    if args.workers < 0:
        raise ConfigError(f"--workers must be 0 or more, not {args.workers}")
    checkpoint = args.checkpoint or default_checkpoint(args.data_dir)
    # Model calls run one OpenMP thread each (in the workers, or in web/batcher.py's thread
    # beside the request threads), so that they never wait on each other for the cores.
    torch.set_num_threads(1)
    store = SampleStore(args.db or cache_root(args.data_dir) / "samples.sqlite")
    service = ModelService(checkpoint, tta=False if args.no_tta else None, workers=args.workers)
    token = args.token or os.environ.get("DIGITLAB_TOKEN")
    if not token and args.host not in LOOPBACK:
        token = secrets.token_urlsafe(16)
        log.warning(f"bound to {args.host}: fine-tune and rollback need the token {token}")
    where = f"{args.workers} worker processes" if args.workers else "the server process"
    log.info(f"serving {checkpoint} on http://{args.host}:{args.port}/ (API docs: /docs), predicting in {where}; "
             f"samples in {store.path}")
    try:
        uvicorn.run(create_app(service, store, token=token), host=args.host, port=args.port, log_level="warning")
    finally:
        service.close()
    return 0
