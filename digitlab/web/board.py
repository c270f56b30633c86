"""A drawing board: its database (samples, model versions, fine-tune jobs), the model serving and the
fine-tuner, opened together so that a restart finds the board as it was left.

`--checkpoint` names the base model, never what serves. The base is known by its bytes (sha256):
- the base of the version that served last -> that version serves again (the usual restart);
- a base the database has never seen -> a new lineage: a new version with no parent, served,
  while every earlier version stays listed and servable and every stored sample is kept for
  fine-tuning the new base (a better base model is the usual reason to change it);
- the base of an older lineage -> that base version serves again;
- none -> the version that served last; an empty database gets `default_base()`.
`version` (`--version N`) then serves any recorded version instead.

One server per database: the versions folder is locked (flock) while a board is open, and
a second `serve` on the same --db gets a one-line error instead of two writers.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path

from digitlab.errors import CheckpointError, ConfigError
from digitlab.inference.checkpoint import checkpoint_file
from digitlab.inference.predictor import Predictor
from digitlab.utils.files import sha256_of
from digitlab.web.finetune_jobs import FineTuner
from digitlab.web.samples import SampleStore
from digitlab.web.service import ModelInfo, ModelService, load_servable
from digitlab.web.versions import Version, VersionStore

log = logging.getLogger("digitlab")


class NoSuchVersion(ConfigError):
    """A version number the database does not hold."""


class CannotServe(ConfigError):
    """A version that exists but cannot serve now (no earlier version, or its file is gone)."""


class Board:
    def __init__(self, store: SampleStore, version_store: VersionStore, service: ModelService, finetuner: FineTuner,
                 lock: int):
        self.store, self.version_store, self.service, self.finetuner = store, version_store, service, finetuner
        self._lock = lock

    @classmethod
    def open(cls, db: str | Path, checkpoint: str | Path | None = None, version: int | None = None,
             tta: bool | None = None, workers: int = 0, default_base: Callable[[], Path] | None = None,
             **finetune_options) -> Board:
        version_store = VersionStore(db)
        lock = _lock_folder(version_store.folder, db)
        try:
            for problem in version_store.check():
                log.warning(f"{db}: {problem}")
            store = SampleStore(db)
            chosen, loaded = _choose(version_store, checkpoint, default_base, tta)
            if version is not None and version != chosen.version:
                chosen, loaded = _servable(version_store, version), None
            service = ModelService(version_store.path(chosen), tta=tta, workers=workers, version=chosen.version,
                                   loaded=loaded)
            if version_store.serving() != chosen:
                version_store.serve(chosen.version)
        except BaseException:
            os.close(lock)
            raise
        return cls(store, version_store, service, FineTuner(service, store, version_store, **finetune_options), lock)

    def serve(self, version: int | None = None) -> ModelInfo:
        """Serve `version`, or the parent of the one serving (a rollback), and record it."""
        if version is None:
            serving = self.version_store.get(self.service.info.version)
            if serving is None or serving.parent is None:
                raise CannotServe("there is no earlier version to roll back to")
            version = serving.parent
        target = _servable(self.version_store, version)
        return self.service.swap(self.version_store.path(target), target.version,
                                 commit=lambda: self.version_store.serve(target.version))

    def describe(self) -> dict:
        """The serving model and every version, as GET /api/model and `digitlab samples versions` show them."""
        info = self.service.info
        return {"version": info.version, "name": info.name, "dataset": info.dataset, "accuracy": info.accuracy,
                "checkpoint": info.checkpoint, "versions": self.version_store.describe(serving=info.version)}

    def close(self) -> None:
        self.finetuner.close()
        self.service.close()
        os.close(self._lock)  # releases the flock


def _choose(version_store: VersionStore, checkpoint: str | Path | None, default_base: Callable[[], Path] | None,
            tta: bool | None) -> tuple[Version, Predictor | None]:
    """The version to serve, and its model if it had to be loaded to be checked (a new base)."""
    serving = version_store.serving()
    if serving is not None and not version_store.usable(serving):
        fallback = _usable_ancestor(version_store, serving)
        log.warning(f"model v{serving.version} served last but cannot be served now ({version_store.problem(serving)})"
                    + (f": serving v{fallback.version}, its nearest ancestor that can" if fallback else ""))
        serving = fallback
    if checkpoint is None:
        if serving is not None:
            return serving, None
        if version_store.versions():
            raise ConfigError(f"{version_store.db.path}: no recorded version can be served; give --checkpoint")
        if default_base is None:
            raise ConfigError(f"{version_store.db.path}: no model yet; give --checkpoint")
        checkpoint = default_base()
    file = checkpoint_file(checkpoint)
    if not file.is_file():
        raise CheckpointError(f"{checkpoint}: no such checkpoint")
    sha = sha256_of(file)
    if serving is not None and version_store.root(serving).sha256 == sha:
        return serving, None
    known = version_store.find_base(sha)
    if known is not None and version_store.usable(known):
        log.info(f"{checkpoint} is the base of an earlier lineage: serving v{known.version} again")
        return known, None
    predictor = load_servable(file, tta)  # refused here before anything is recorded
    base = version_store.add_base(file, predictor.meta.get("test_accuracy"))
    if serving is not None:
        log.info(f"{checkpoint} is a new base model: recorded as v{base.version}, a new lineage "
                 f"(v1-v{base.version - 1} stay listed; --version N serves one)")
    return base, predictor


def _usable_ancestor(version_store: VersionStore, version: Version) -> Version | None:
    while version.parent is not None:
        version = version_store.get(version.parent)
        if version_store.usable(version):
            return version
    return None


def _servable(version_store: VersionStore, number: int) -> Version:
    version = version_store.get(number)
    if version is None:
        known = ", ".join(f"v{v.version}" for v in version_store.versions()) or "none"
        raise NoSuchVersion(f"there is no model version {number} (versions: {known})")
    if not version_store.usable(version):
        raise CannotServe(f"model v{number} cannot be served: {version_store.problem(version)}")
    return version


def _lock_folder(folder: Path, db: str | Path) -> int:
    import fcntl
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise ConfigError(f"{db} is in use by another drawing board (digitlab serve): stop that one, "
                          "or give another --db") from None
    return fd
