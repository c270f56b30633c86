"""What the board has learned, in its SQLite file: every model version, which one serves, every fine-tune job.

A version's file lives in a folder beside the database (`board.db` -> `board-versions/vN.pt`)
and is written, atomically, before the row that names it commits. So after a crash at any
moment: a row always has its whole file (unless someone removed it: reported, never served),
and a file without a row is the leftover of a fine-tune that never committed, removed at the
next start. A new version, its samples, the serving switch and its job's result commit in
one transaction. Job ids come from AUTOINCREMENT: never reused for the life of the database.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from digitlab.errors import DataError
from digitlab.utils.files import atomic_copy, sha256_of
from digitlab.web.database import Database

SCHEMA = """
CREATE TABLE IF NOT EXISTS model_versions (
    version INTEGER PRIMARY KEY,
    file TEXT NOT NULL UNIQUE,   -- its name in the versions folder
    sha256 TEXT NOT NULL,
    parent INTEGER REFERENCES model_versions (version),  -- NULL: a base model, the root of a lineage
    source TEXT,                 -- a base model: the checkpoint it was copied from
    job INTEGER,                 -- a fine-tuned model: the job that made it
    accuracy_before REAL,        -- held-out accuracy of the parent, measured by that job
    accuracy REAL,               -- held-out accuracy after fine-tuning; a base model's test accuracy
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS trained_on (
    version INTEGER NOT NULL REFERENCES model_versions (version),
    sample INTEGER NOT NULL,
    PRIMARY KEY (version, sample)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS serving (
    only INTEGER PRIMARY KEY CHECK (only = 1),
    version INTEGER NOT NULL REFERENCES model_versions (version),
    since REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS finetune_jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    state TEXT NOT NULL
        CHECK (state IN ('queued', 'running', 'accepted', 'rejected', 'failed', 'interrupted')),
    progress REAL NOT NULL DEFAULT 0,
    parent INTEGER,              -- the version it fine-tunes
    samples INTEGER NOT NULL DEFAULT 0,
    before REAL,
    after REAL,
    version INTEGER,             -- the version it became, if accepted
    message TEXT NOT NULL DEFAULT '',
    created REAL NOT NULL,
    updated REAL NOT NULL
)
"""
UNFINISHED = ("queued", "running")
JOB_FIELDS = ("state", "progress", "parent", "samples", "before", "after", "version", "message")


def versions_folder(db_path: str | Path) -> Path:
    """Named after the database, so that two databases in one folder never share version files."""
    db_path = Path(db_path)
    return db_path.with_name(f"{db_path.stem}-versions")


@dataclass(frozen=True)
class Version:
    version: int
    file: str
    sha256: str
    parent: int | None
    source: str | None
    job: int | None
    accuracy_before: float | None
    accuracy: float | None
    created: float
    samples: int  # how many stored samples it was fine-tuned on (0 for a base model)


class VersionStore:
    def __init__(self, db_path: str | Path):
        self.db = Database(db_path, SCHEMA)
        self.folder = versions_folder(self.db.path)
        self.unusable: dict[int, str] = {}  # version -> why its file cannot be served (found by check())

    # -- versions ---------------------------------------------------------------------------------
    def versions(self) -> list[Version]:
        return self._versions("")

    def get(self, version: int) -> Version | None:
        found = self._versions("WHERE v.version = ?", (version,))
        return found[0] if found else None

    def _versions(self, where: str, args: tuple = ()) -> list[Version]:
        rows = self.db.connection().execute(
            "SELECT v.version, file, sha256, parent, source, job, accuracy_before, accuracy, created, "
            f"(SELECT COUNT(*) FROM trained_on t WHERE t.version = v.version) FROM model_versions v {where} "
            "ORDER BY v.version", args)
        return [Version(*row) for row in rows]

    def describe(self, serving: int | None) -> list[dict]:
        """Every version as GET /api/model and `digitlab samples versions --json` list them."""
        rows = []
        for v in self.versions():
            problem = self.problem(v)
            rows.append({"version": v.version, "parent": v.parent, "accuracy": v.accuracy,
                         "accuracy_before": v.accuracy_before, "samples": v.samples, "job": v.job, "source": v.source,
                         "created": v.created, "checkpoint": str(self.path(v)), "serving": v.version == serving,
                         "usable": problem is None, "problem": problem})
        return rows

    def path(self, version: Version) -> Path:
        return self.folder / version.file

    def serving(self) -> Version | None:
        row = self.db.connection().execute("SELECT version FROM serving").fetchone()
        return self.get(row[0]) if row else None

    def root(self, version: Version) -> Version:
        while version.parent is not None:
            version = self.get(version.parent)
        return version

    def problem(self, version: Version) -> str | None:
        """Why `version` cannot be served now, or None."""
        if version.version in self.unusable:
            return self.unusable[version.version]
        return None if self.path(version).is_file() else f"its file {self.path(version)} is missing"

    def usable(self, version: Version) -> bool:
        return self.problem(version) is None

    def next_version(self) -> int:
        row = self.db.connection().execute("SELECT MAX(version) FROM model_versions").fetchone()
        return (row[0] or 0) + 1

    def add_base(self, checkpoint: str | Path, accuracy: float | None) -> Version:
        """Record a base model (a copy of `checkpoint`, so that retraining into the same run folder
        cannot change a version under the board) and serve it."""
        number = self.next_version()
        file = f"v{number}{Path(checkpoint).suffix}"
        atomic_copy(checkpoint, self.folder / file)
        with self.db.transaction() as db:
            db.execute("INSERT INTO model_versions (version, file, sha256, source, accuracy, created) "
                       "VALUES (?, ?, ?, ?, ?, ?)",
                       (number, file, sha256_of(self.folder / file), str(Path(checkpoint).resolve()), accuracy,
                        time.time()))
            self._serve(db, number)
        return self.get(number)

    def find_base(self, sha256: str) -> Version | None:
        return next((v for v in self.versions() if v.parent is None and v.sha256 == sha256), None)

    def serve(self, version: int) -> None:
        with self.db.transaction() as db:
            self._serve(db, version)

    @staticmethod
    def _serve(db: sqlite3.Connection, version: int) -> None:
        db.execute("INSERT INTO serving (only, version, since) VALUES (1, ?, ?) "
                   "ON CONFLICT (only) DO UPDATE SET version = excluded.version, since = excluded.since",
                   (version, time.time()))

    def publish(self, job: int, version: int, file: str, sha256: str, parent: int, before: float, after: float,
                samples: list[int]) -> None:
        """A fine-tuned version whose file is already complete in the folder (hashed by the caller, outside
        any lock): its row, the samples it learned from, the serving switch and its job's result, in one
        transaction."""
        with self.db.transaction() as db:
            db.execute("INSERT INTO model_versions (version, file, sha256, parent, job, accuracy_before, accuracy, "
                       "created) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                       (version, file, sha256, parent, job, before, after, time.time()))
            db.executemany("INSERT INTO trained_on (version, sample) VALUES (?, ?)",
                           [(version, int(sample)) for sample in samples])
            self._serve(db, version)
            self._update_job(db, job, state="accepted", version=version, progress=1.0)

    # -- fine-tune jobs ---------------------------------------------------------------------------
    def new_job(self) -> int:
        now = time.time()
        with self.db.transaction() as db:
            return db.execute("INSERT INTO finetune_jobs (state, created, updated) VALUES ('queued', ?, ?)",
                              (now, now)).lastrowid

    def update_job(self, job: int, **fields) -> None:
        with self.db.transaction() as db:
            self._update_job(db, job, **fields)

    @staticmethod
    def _update_job(db: sqlite3.Connection, job: int, **fields) -> None:
        unknown = set(fields) - set(JOB_FIELDS)
        if unknown:
            raise ValueError(f"no such job field: {', '.join(sorted(unknown))}")
        assignments = ", ".join(f"{name} = ?" for name in fields)
        db.execute(f"UPDATE finetune_jobs SET {assignments}, updated = ? WHERE id = ?",
                   (*fields.values(), time.time(), job))

    def job(self, job: int) -> dict | None:
        row = self.db.connection().execute(
            f"SELECT id, {', '.join(JOB_FIELDS)}, created, updated FROM finetune_jobs WHERE id = ?", (job,)).fetchone()
        return dict(zip(("id", *JOB_FIELDS, "created", "updated"), row)) if row else None

    # -- after a restart --------------------------------------------------------------------------
    def check(self) -> list[str]:
        """Make the state consistent after a stop or a crash; returns what it found, one line each.

        Unfinished jobs become `interrupted`; files in the versions folder that no committed row
        names (a fine-tune killed between writing its file and committing) are removed; a row
        whose file is missing or changed is reported and never served.
        """
        found = []
        with self.db.transaction() as db:
            stopped = db.execute("UPDATE finetune_jobs SET state = 'interrupted', updated = ?, message = "
                                 "'the server stopped before this job finished' WHERE state IN (?, ?)",
                                 (time.time(), *UNFINISHED)).rowcount
        if stopped:
            found.append(f"{stopped} fine-tune job(s) interrupted by the last stop")
        named = {v.file for v in self.versions()}
        if self.folder.is_dir():
            for entry in sorted(self.folder.iterdir()):
                ours = entry.suffix in (".pt", ".npz", ".tmp")  # a version, or atomic_write's temp file
                if ours and entry.name not in named and entry.is_file():
                    entry.unlink()
                    found.append(f"removed {entry}: a version file that was never committed")
        return found + [f"model v{number} cannot be served: {why}" for number, why in self.verify().items()]

    def verify(self) -> dict[int, str]:
        """Which versions' files are missing or changed (read-only: safe beside a running server)."""
        self.unusable.clear()
        for version in self.versions():
            path = self.path(version)
            if not path.is_file():
                self.unusable[version.version] = f"its file {path} is missing"
            elif sha256_of(path) != version.sha256:
                self.unusable[version.version] = f"its file {path} has changed since it was written"
        return self.unusable

    def backup(self, out: str | Path) -> dict:
        """A consistent copy of the database (SQLite's online backup, safe while a server writes) with the
        version files it names, as `out` and `out`'s versions folder: `--db out` restores it."""
        out = Path(out)
        folder = versions_folder(out)
        for target in (out, folder):
            if target.exists():
                raise DataError(f"{target} already exists: back up to a new name")
        out.parent.mkdir(parents=True, exist_ok=True)
        stage_db = out.with_name(f".{out.name}.{os.getpid()}.tmp")
        stage_folder = out.with_name(f".{folder.name}.{os.getpid()}.tmp")
        copied, missing = [], []
        try:
            copy = sqlite3.connect(stage_db)
            with copy:
                self.db.connection().backup(copy)
            rows = copy.execute("SELECT version, file, sha256 FROM model_versions").fetchall()
            samples = copy.execute("SELECT COUNT(*) FROM samples").fetchone()[0] if _has_table(copy, "samples") else 0
            copy.close()
            stage_folder.mkdir()
            for number, file, sha in rows:  # a file is complete before its row commits: only removal loses one
                source = self.folder / file
                if source.is_file() and sha256_of(source) == sha:
                    atomic_copy(source, stage_folder / file)
                    copied.append(number)
                else:
                    missing.append(number)
            os.replace(stage_folder, folder)
            os.replace(stage_db, out)
        finally:
            with contextlib.suppress(FileNotFoundError):
                stage_db.unlink()
            if stage_folder.exists():
                for leftover in stage_folder.iterdir():
                    leftover.unlink()
                stage_folder.rmdir()
        return {"out": str(out), "versions": copied, "missing": missing, "samples": samples}


def _has_table(db: sqlite3.Connection, name: str) -> bool:
    return db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)).fetchone() is not None
