"""Training metrics as JSON lines: one record per logged step and one per epoch."""

from __future__ import annotations

import json
import os
from pathlib import Path

from digitlab.utils.files import atomic_write

METRICS_NAME = "metrics.jsonl"


class MetricsLog:
    """Append-only `metrics.jsonl`; each line is flushed so a killed run keeps what it logged."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._handle = open(self.path, "a", encoding="utf-8")

    def write(self, record: dict) -> None:
        self._handle.write(json.dumps(record) + "\n")
        self._handle.flush()

    def close(self) -> None:
        self._handle.close()

    @staticmethod
    def truncate_after(path: str | os.PathLike, completed_epochs: int) -> None:
        """On resume: drop the records of the epoch that was interrupted."""
        path = Path(path)
        if not path.exists():
            return
        kept = [line for line in read_metrics(path) if line["epoch"] <= completed_epochs]
        with atomic_write(path, "w") as handle:
            handle.writelines(json.dumps(record) + "\n" for record in kept)


def read_metrics(path: str | os.PathLike) -> list[dict]:
    """All complete records (a line cut by a crash is skipped)."""
    records = []
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return records
