"""The run harness both engines share: data and recipe, the run folder, metrics.jsonl, the epoch
records and lines, progress bars, checkpoint cadence and the result.

Each engine keeps its own training loop, readable top to bottom (trainer.py, numpy_trainer.py);
what a run looks like from outside — its folder, its metrics, its log lines — is decided here once.
"""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
from tqdm import tqdm

from digitlab.data.datasets import DIGITS, DigitDataset, Split, is_picture_dataset, load_dataset
from digitlab.data.non_digits import (
    FASHION_CLOTHES,
    NOT_A_DIGIT,
    THRESHOLD_KEY,
    Refusal,
    make_non_digits,
    refusal_index,
)
from digitlab.data.splits import stratified_split
from digitlab.errors import CheckpointError, ConfigError, DataError
from digitlab.inference.checkpoint import CHECKPOINT_NAME, NPZ_CHECKPOINT_NAME
from digitlab.inference.trained_model import predict_logits
from digitlab.training.config import TrainConfig
from digitlab.training.evaluate import Evaluation, evaluate
from digitlab.training.metrics import METRICS_NAME, MetricsLog
from digitlab.training.recipes import apply_recipe
from digitlab.utils.device import native_bf16

log = logging.getLogger("digitlab")

# The refusal threshold of a model that learnt "not a digit" is set on validation data: non-digits made afresh
# (another seed; pairs of training digits, clothes from the training range), which it never trained on.
# It is the most lenient one that still refuses REFUSED_SHARE of them, and never stricter than the model's own
# odds (0), past which real digits pay. Kinds it has never seen are refused less readily than these: at 0.93 the
# benchmark's unseen non-digits were refused at 89.6-91.7% (goal 90%); at 0.94 at 91.1-92.5%, with 0.02-0.16% of
# real digits refused against 0.12-0.20% at the model's own odds (seeds 1-3; benchmarks/whole_numbers.py; README,
# "Refusing what is no digit", says how this share was chosen).
VALIDATION_NON_DIGITS = 2000
VALIDATION_SEED = 104_729  # added to the run's seed; training's non-digits use the seed itself
REFUSED_SHARE = 0.94


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


def prepare_data(cfg: TrainConfig, device: torch.device,
                 resolve: bool = True) -> tuple[TrainConfig, DigitDataset, Split, Split, Split]:
    """The config with its recipe resolved, the data set, and its train/val/test splits on `device`.

    The recipe is resolved once, when a run starts, and once the data set is known (`mnist` may
    have fallen back to `mnist-5k`); a resumed run passes resolve=False and keeps the settings its
    checkpoint stored, whatever the recipe table says today. Validation is carved from the training data.
    """
    if "image_size" in cfg.explicit and not is_picture_dataset(cfg.dataset):
        raise ConfigError(f"--image-size applies to folder: data sets; {cfg.dataset} has its own image size")
    dataset = load_dataset(cfg.dataset, cfg.data_dir, test_set=cfg.test_set, image_size=cfg.image_size)
    if resolve:
        cfg = apply_recipe(cfg, dataset.name)
        if cfg.precision == "auto":  # stored resolved, like every recipe setting
            cfg = replace(cfg, precision="bf16" if cfg.engine == "torch" and native_bf16(device) else "fp32")
        if cfg.recipe:
            log.info(f"recipe {cfg.recipe} for {dataset.name}: {cfg.model}, {cfg.epochs} epochs, "
                     f"batch {cfg.batch_size}, lr {cfg.lr}, {cfg.precision}" + (", TTA" if cfg.tta else ""))
    if dataset.train is None:
        raise DataError(f"{cfg.dataset}: has no training split (no train-images/train-labels files)")
    if dataset.test is None:
        raise DataError(f"{cfg.dataset}: has no test split (give one with --test-set)")
    train_idx, val_idx = stratified_split(dataset.train.labels, cfg.val_fraction, cfg.seed)
    train_split = dataset.train.subset(train_idx)
    if cfg.non_digits:
        train_split = with_non_digits(dataset, train_split, cfg)
    splits = (train_split.to(device), dataset.train.subset(val_idx).to(device), dataset.test.to(device))
    log.info(f"data: {dataset.name} ({dataset.source}): {len(splits[0])} train, {len(splits[1])} val, "
             f"{len(splits[2])} test on {device}")
    return (cfg, dataset, *splits)


def with_non_digits(dataset: DigitDataset, train: Split, cfg: TrainConfig) -> Split:
    """`train` with generated non-digits appended as a class "not a digit" (added to `dataset.classes`).

    Pairs are made of this split's own digits; clothes come from the first FASHION_CLOTHES pictures of
    Fashion-MNIST's training split when it is on this machine (Debian's dataset-fashion-mnist or
    digitlab's cache: nothing is downloaded); benchmarks/whole_numbers.py tests refusal on the others.
    """
    if dataset.classes != DIGITS or (dataset.in_channels, dataset.image_size) != (1, 28):
        raise ConfigError(f"--non-digits applies to digit data sets (28x28, classes 0-9), not {dataset.name}")
    count = round(cfg.non_digits * len(train))
    extra = make_non_digits(count, cfg.seed, digits=train.images[:, 0].numpy(), clothes=training_clothes(cfg))
    dataset.classes = [*DIGITS, NOT_A_DIGIT]
    log.info(f"non-digits: {count} added to the training split as class {NOT_A_DIGIT!r}")
    return Split(torch.cat([train.images, torch.from_numpy(extra)[:, None]]),
                 torch.cat([train.labels, torch.full((count,), len(DIGITS), dtype=train.labels.dtype)]))


def training_clothes(cfg: TrainConfig) -> np.ndarray | None:
    """Fashion-MNIST's training pictures that non-digits may be made of, if it is on this machine (read-only)."""
    try:
        return _clothes_in(cfg.data_dir)
    except DataError:
        log.info("non-digits: Fashion-MNIST is not on this machine, so no clothes among them")
        return None


@functools.lru_cache(maxsize=1)
def _clothes_in(data_dir: str | None) -> np.ndarray:
    """Read once per process: a run needs them for its training non-digits and again for its refusal threshold,
    a board for every fine-tune (0.25-0.4 s each read)."""
    clothes = load_dataset("fashion-mnist", data_dir, download=False).train.images[:FASHION_CLOTHES, 0].numpy()
    clothes.setflags(write=False)
    return clothes


def refusal_threshold(model: nn.Module, dataset: DigitDataset, cfg: TrainConfig) -> float:
    """The digit_score at or below which `model` says "not a digit", set on new non-digits (see REFUSED_SHARE)."""
    made = make_non_digits(VALIDATION_NON_DIGITS, cfg.seed + VALIDATION_SEED, digits=dataset.train.images[:, 0].numpy(),
                           clothes=training_clothes(cfg))
    logits = predict_logits(model, torch.from_numpy(made)[:, None], dataset.mean, dataset.std, cfg.eval_batch_size)
    scores = Refusal(refusal_index(dataset.classes)).scores(torch.softmax(logits.float(), 1).cpu().numpy())
    threshold = min(0.0, float(np.quantile(scores, REFUSED_SHARE)))
    log.info(f"refusal: digit_score <= {threshold:.3f} is \"not a digit\" ({(scores <= threshold).mean():.1%} of "
             f"{len(made)} new non-digits refused; {(scores <= 0).mean():.1%} at the model's own odds)")
    return threshold


def evaluator(dataset: DigitDataset, cfg: TrainConfig,
              threshold: float | None = None) -> Callable[[nn.Module, Split], Evaluation]:
    """evaluate(model, split) for this run's data set: its normalisation, classes and way of refusing."""
    index = refusal_index(dataset.classes)
    refusal = None if index is None else Refusal(index, threshold or 0.0)

    def score(model: nn.Module, split: Split) -> Evaluation:
        return evaluate(model, split, dataset.mean, dataset.std, dataset.num_classes, cfg.eval_batch_size, refusal)
    return score


def final_scores(model: nn.Module, dataset: DigitDataset, cfg: TrainConfig, test_split: Split,
                 val_split: Split) -> tuple[Evaluation, Evaluation | None, dict]:
    """The finished model's test and validation scores, and what its checkpoint gains for whoever serves it:
    the test accuracy and, for a model that can refuse, its refusal threshold."""
    verdict = {}
    if refusal_index(dataset.classes) is not None:
        verdict[THRESHOLD_KEY] = refusal_threshold(model, dataset, cfg)
    score = evaluator(dataset, cfg, verdict.get(THRESHOLD_KEY))
    test = score(model, test_split)
    val = score(model, val_split) if len(val_split) else None
    if val is not None and THRESHOLD_KEY in verdict:
        refused = (val.predictions == refusal_index(dataset.classes)).mean()
        log.info(f"refusal: {refused:.2%} of the {len(val_split)} validation digits refused")
    return test, val, {"test_accuracy": test.accuracy, **verdict}


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
