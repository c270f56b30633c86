"""The board's SQLite file, shared by the samples (samples.py) and the model versions and jobs (versions.py).

WAL mode lets the server read while it writes; with synchronous=NORMAL a committed transaction
survives a killed process (not a power cut mid-checkpoint, which would lose the last few
commits but never corrupt the file).
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path


class Database:
    def __init__(self, path: str | Path, schema: str):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        db = self.connection()
        db.execute("PRAGMA journal_mode=WAL")
        db.executescript(f"BEGIN IMMEDIATE; {schema}; COMMIT;")  # the schema's tables appear together

    def connection(self) -> sqlite3.Connection:
        """One connection per thread (sqlite3 connections are not shared across threads), in autocommit
        mode: what must change together goes through transaction()."""
        db = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            db.execute("PRAGMA synchronous=NORMAL")
            self._local.db = db
        return db

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """Everything inside commits together or not at all. IMMEDIATE takes the write lock at the start,
        so a read inside (the next version number) cannot be overtaken by another writer."""
        db = self.connection()
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
