"""The default model: what `read`, `predict`, `explain`, `serve` and `digitlab.load()` use when given none.

Trained once, on first use, from the bundled digits (mnist-5k: offline, the same everywhere) with the default
recipe, and cached in the user's cache folder under a name that carries the recipe, the data set and
digitlab's version: a new version of digitlab, whose recipe or reader may differ, trains its own. Two
processes that need it at once train it once: the first takes a file lock and trains, the second waits on the
lock and says so, then loads what the first wrote. The model is trained into a scratch folder beside its place
and moved there whole, so an interrupted first run leaves nothing half-written behind.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from digitlab.data.download import cache_root
from digitlab.version import __version__

log = logging.getLogger("digitlab")

DEFAULT_RECIPE = "fast"
DEFAULT_DATASET = "mnist-5k"
CHECKPOINT = "checkpoint.pt"


def default_model_folder(data_dir: str | os.PathLike | None = None) -> Path:
    return cache_root(data_dir) / "models" / f"default-{DEFAULT_RECIPE}-{DEFAULT_DATASET}-{__version__}"


def default_checkpoint(data_dir: str | os.PathLike | None = None, progress: bool = True) -> Path:
    """The cached default model's checkpoint, trained here first if there is none yet."""
    folder = default_model_folder(data_dir)
    checkpoint = folder / CHECKPOINT
    if checkpoint.is_file():
        return checkpoint
    folder.parent.mkdir(parents=True, exist_ok=True)
    with _lock(folder.parent / f"{folder.name}.lock"):
        if checkpoint.is_file():  # another process trained it while this one waited
            return checkpoint
        from digitlab.training import TrainConfig, train
        log.info(f"no default model yet: training one, once (recipe {DEFAULT_RECIPE} on the bundled "
                 f"{DEFAULT_DATASET} digits, about a minute on 2 cores) into {folder}")
        scratch = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
        try:
            train(TrainConfig(dataset=DEFAULT_DATASET, recipe=DEFAULT_RECIPE, data_dir=str(data_dir) if data_dir
                              else None, explicit=["dataset"]), scratch / "run", progress=progress)
            if folder.exists():  # left by a digitlab older than the lock: replaced whole
                shutil.rmtree(folder)
            os.replace(scratch / "run", folder)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    return checkpoint


@contextlib.contextmanager
def _lock(path: Path) -> Iterator[None]:
    """An exclusive lock on `path` for the block (POSIX flock; held by the open file, so a process that dies
    lets go of it). Where flock does not exist, no lock: two first runs then both train."""
    try:
        import fcntl
    except ImportError:  # not POSIX
        yield
        return
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.info("another digitlab is training the default model: waiting for it")
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
