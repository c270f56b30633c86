"""A run folder: metrics.jsonl, the epoch records and lines, the progress bar, the checkpoint after
every epoch, and the result. Both engines' loops (trainer.py, numpy_trainer.py) record through it,
so what a run looks like from outside is decided once.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import torch.nn as nn
from tqdm import tqdm

from digitlab.data.datasets import DigitDataset
from digitlab.errors import CheckpointError
from digitlab.inference.checkpoint import CHECKPOINT_NAME, NPZ_CHECKPOINT_NAME
from digitlab.training.config import TrainConfig
from digitlab.training.evaluate import Evaluation
from digitlab.training.metrics import METRICS_NAME, MetricsLog

log = logging.getLogger("digitlab")

@dataclass
class TrainResult:
    run_dir: Path
    checkpoint: Path
    model: nn.Module
    dataset: DigitDataset
    test: Evaluation
    val: Evaluation | None
    train_seconds: float       # wall time of the epochs (training steps and validation)
    train_images_per_s: float  # training images per second of pure training steps
    history: list[dict]

    def summary(self) -> dict:
        return {
            "test_accuracy": self.test.accuracy,
            "val_accuracy": self.val.accuracy if self.val else None,
            "train_seconds": round(self.train_seconds, 3),
            "train_images_per_s": round(self.train_images_per_s, 1),
            "epochs": len(self.history),
            "dataset": self.dataset.name,
            "model": self.history and self.history[-1].get("model"),
            "run_dir": str(self.run_dir),
            "checkpoint": str(self.checkpoint),
        }


def default_run_dir(model: str, dataset: str) -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path("runs") / f"{dataset.split(':')[0]}-{model}-{stamp}"


def checkpoint_record(cfg: TrainConfig, dataset: DigitDataset) -> dict:
    """What every checkpoint says of its run, whichever engine wrote it."""
    return {"engine": cfg.engine, "config": cfg.to_dict(), "dataset": dataset.name, "classes": dataset.classes,
            "normalization": {"mean": list(dataset.mean), "std": list(dataset.std)},
            "model": {"name": cfg.model, "num_classes": dataset.num_classes, "in_channels": dataset.in_channels,
                      "image_size": dataset.image_size}}


def epoch_line(record: dict, epochs: int) -> str:
    val = (f"val loss {record['val_loss']:.4f} error {record['val_error']:.2%}" if record["val_loss"] is not None
           else "no validation split")
    return (f"epoch {record['epoch']}/{epochs}: train loss {record['train_loss']:.4f} error "
            f"{record['train_error']:.2%}, {val}, {record['seconds']:.1f}s, {record['images_per_s']:.0f} img/s")


class Run:
    """A run folder being trained: its metrics file, epoch records and checkpoint.

    `writes`: this process writes the folder (under torchrun, rank 0 only; the others keep the
    same records in memory). A new run refuses a folder that already holds one; a resumed run
    drops the metrics of the epoch it was interrupted in. A checkpoint is written after every epoch.
    """

    def __init__(self, run_dir: Path, checkpoint_name: str, cfg: TrainConfig, history: list[dict] | None = None,
                 writes: bool = True, progress: bool = True):
        self.dir, self.cfg, self.writes, self.progress = Path(run_dir), cfg, writes, progress
        self.checkpoint = self.dir / checkpoint_name
        self.history = list(history or [])
        self._bar: tqdm | None = None
        self._window = (0.0, 0.0, 0)  # loss, wrong, images at the last step record
        self.metrics: MetricsLog | None = None
        if not writes:
            return
        if history is None and any((self.dir / name).exists() for name in (CHECKPOINT_NAME, NPZ_CHECKPOINT_NAME)):
            hint = f"pass --resume {self.dir} to continue it, or " if checkpoint_name == CHECKPOINT_NAME else ""
            raise CheckpointError(f"{self.dir} already holds a run: {hint}choose another --out")
        # a new run starts its metrics afresh (one killed before its first checkpoint may have left some);
        # a resumed one keeps those of its completed epochs
        MetricsLog.truncate_after(self.dir / METRICS_NAME, len(self.history))
        for stale in self.dir.glob(f".{checkpoint_name}.*.tmp"):  # left by a run killed mid-save
            stale.unlink()
        self.metrics = MetricsLog(self.dir / METRICS_NAME)

    @property
    def completed_epochs(self) -> int:
        return len(self.history)

    def batches(self, loader: Iterable, epoch: int) -> Iterator:
        """The epoch's batches, behind a progress bar on a terminal."""
        self._window = (0.0, 0.0, 0)
        self._bar = tqdm(loader, desc=f"epoch {epoch}/{self.cfg.epochs}", leave=False, file=sys.stderr,
                         disable=None if self.progress and self.writes else True, unit="batch")
        return iter(self._bar)

    def wants_step_record(self, step: int) -> bool:
        return self.writes and step % self.cfg.log_every == 0

    def step_record(self, epoch: int, step: int, lr: float, loss_total: float, wrong_total: float,
                    images: int) -> None:
        """A step record for the steps since the last one; the totals are the epoch's so far."""
        loss0, wrong0, images0 = self._window
        n = images - images0
        self.metrics.write({"type": "step", "epoch": epoch, "step": step, "lr": lr,
                            "loss": (loss_total - loss0) / n, "error": (wrong_total - wrong0) / n})
        self._window = (loss_total, wrong_total, images)
        if self._bar is not None:
            self._bar.set_postfix(loss=f"{loss_total / images:.4f}")

    def end_epoch(self, epoch: int, step: int, lr: float, loss_total: float, wrong_total: float, images: int,
                  step_seconds: float, val: Evaluation | None, seconds: float,
                  save: Callable[[Path, list[dict]], None]) -> dict:
        """Record the epoch, write its metrics, then the checkpoint (`save(path, history)`), and log its line."""
        record = {"type": "epoch", "epoch": epoch, "step": step, "model": self.cfg.model,
                  "train_loss": loss_total / images, "train_error": wrong_total / images,
                  "val_loss": val.loss if val else None, "val_error": val.error if val else None,
                  "lr": lr, "seconds": seconds, "step_seconds": step_seconds, "images": images,
                  "images_per_s": images / step_seconds}
        self.history.append(record)
        if self.writes:
            self.metrics.write(record)
            save(self.checkpoint, self.history)
        log.info(epoch_line(record, self.cfg.epochs))
        return record

    def close(self) -> None:
        if self.metrics:
            self.metrics.close()

    def result(self, model: nn.Module, dataset: DigitDataset, test: Evaluation, val: Evaluation | None) -> TrainResult:
        step_seconds = sum(h["step_seconds"] for h in self.history)
        images = sum(h["images"] for h in self.history)
        return TrainResult(self.dir, self.checkpoint, model, dataset, test, val,
                           sum(h["seconds"] for h in self.history), images / step_seconds if step_seconds else 0.0,
                           self.history)
