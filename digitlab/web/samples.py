"""Drawn samples in SQLite: the raw drawing and the 28x28 input the model saw, with time and model version.

Each insert is one transaction: a server killed mid-write loses at most the sample being
written, never earlier ones. Samples are never changed or deleted, so a model version can
name the ones it learned from (versions.py).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from digitlab.web.database import Database

SCHEMA = """
CREATE TABLE IF NOT EXISTS samples (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created REAL NOT NULL,
    label INTEGER NOT NULL CHECK (label BETWEEN 0 AND 9),
    model_version INTEGER NOT NULL,
    raw BLOB NOT NULL,
    input28 BLOB NOT NULL CHECK (length(input28) = 784)
)
"""


class SampleStore:
    def __init__(self, path: str | Path):
        self.db = Database(path, SCHEMA)
        self.path = self.db.path

    def add(self, label: int, raw: bytes, input28: np.ndarray, model_version: int) -> int:
        pixels = np.ascontiguousarray(input28, dtype=np.uint8).reshape(784).tobytes()
        with self.db.transaction() as db:
            cursor = db.execute("INSERT INTO samples (created, label, model_version, raw, input28) "
                                "VALUES (?, ?, ?, ?, ?)", (time.time(), int(label), int(model_version), raw, pixels))
        return int(cursor.lastrowid)

    def counts(self) -> list[int]:
        counts = [0] * 10
        for label, count in self.db.connection().execute("SELECT label, COUNT(*) FROM samples GROUP BY label"):
            counts[label] = count
        return counts

    def recent(self, limit: int = 20) -> list[dict]:
        rows = self.db.connection().execute(
            "SELECT id, created, label, model_version FROM samples ORDER BY id DESC LIMIT ?", (limit,))
        return [{"id": i, "created": c, "label": label, "model_version": v} for i, c, label, v in rows]

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """All samples: ids (N,), MNIST-style uint8 images (N, 28, 28) and labels (N,)."""
        rows = self.db.connection().execute("SELECT id, input28, label FROM samples ORDER BY id").fetchall()
        if not rows:
            return np.zeros(0, np.int64), np.zeros((0, 28, 28), np.uint8), np.zeros(0, np.uint8)
        images = np.stack([np.frombuffer(blob, np.uint8).reshape(28, 28) for _, blob, _ in rows])
        return (np.array([i for i, _, _ in rows], np.int64), images,
                np.array([label for *_, label in rows], np.uint8))

    def export_idx(self, out_dir: str | Path) -> int:
        """Write the samples as train-images/train-labels IDX files (usable as --dataset idx:DIR)."""
        from digitlab.data.idx import write_idx
        _, images, labels = self.arrays()
        out_dir = Path(out_dir)
        write_idx(out_dir / "train-images-idx3-ubyte.gz", images)
        write_idx(out_dir / "train-labels-idx1-ubyte.gz", labels)
        return len(labels)
