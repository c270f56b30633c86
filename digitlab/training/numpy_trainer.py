"""`digitlab train --engine numpy`: the from-scratch NumPy network in the same harness.

Same data sets, splits, learning-rate schedule, metrics.jsonl, epoch lines and test
report as the PyTorch engine; the checkpoint is `checkpoint.npz` (weights plus a JSON
record), which `evaluate`, `predict` and `report` read through `NumpyModule`.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from pathlib import Path

import torch
import torch.nn as nn
from tqdm import tqdm

from digitlab import numpy_cnn
from digitlab.data.loader import BatchLoader, normalize
from digitlab.errors import CheckpointError, ConfigError
from digitlab.training.augment import random_shift
from digitlab.training.config import TrainConfig
from digitlab.training.evaluate import evaluate
from digitlab.training.metrics import METRICS_NAME, MetricsLog
from digitlab.training.schedule import lr_at
from digitlab.training.trainer import TrainResult, default_run_dir, epoch_line, prepare_data
from digitlab.utils.device import seed_everything, torch_threads

log = logging.getLogger("digitlab")
NPZ_CHECKPOINT_NAME = "checkpoint.npz"


class NumpyModule(nn.Module):
    """A NumPy `Sequential` behind the nn.Module interface, for evaluation and prediction only."""

    def __init__(self, net: numpy_cnn.Sequential):
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dtype = next(iter(self.net.state_dict().values())).dtype
        return torch.from_numpy(self.net.predict(x.detach().cpu().numpy().astype(dtype))).float()


def load_npz_checkpoint(path: Path) -> tuple[nn.Module, dict]:
    try:
        net, meta = numpy_cnn.load_npz(path)
    except (OSError, ValueError, KeyError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{path}: not a readable NumPy checkpoint ({type(exc).__name__}: {str(exc)[:200]})") from None
    return NumpyModule(net).eval(), meta


def train_numpy(cfg: TrainConfig, run_dir, resume: bool, progress: bool) -> TrainResult:
    with torch_threads(1):  # torch only slices batches here; NumPy's BLAS needs the cores
        return _train_numpy(cfg, run_dir, resume, progress)


def _train_numpy(cfg: TrainConfig, run_dir, resume: bool, progress: bool) -> TrainResult:
    if resume:
        raise ConfigError("--resume is not available for the numpy engine: its runs are short, start again")
    if cfg.model not in numpy_cnn.ARCHITECTURES:
        raise ConfigError(f"unknown NumPy model {cfg.model!r}: choose one of {', '.join(numpy_cnn.ARCHITECTURES)}")
    if cfg.device not in ("auto", "cpu"):
        raise ConfigError("the numpy engine runs on the CPU only")
    generator = seed_everything(cfg.seed)
    cfg, dataset, train_split, val_split, test_split = prepare_data(cfg, torch.device("cpu"))
    mean, std = dataset.mean, dataset.std
    run_dir = Path(run_dir) if run_dir else default_run_dir(cfg.model, dataset.name)
    checkpoint_path = run_dir / NPZ_CHECKPOINT_NAME
    if checkpoint_path.exists():
        raise CheckpointError(f"{run_dir} already holds a run: choose another --out")

    net = numpy_cnn.build(cfg.model, dataset.num_classes, dataset.in_channels, dataset.image_size, seed=cfg.seed)
    optimizer = (numpy_cnn.SGD(net, cfg.lr, cfg.momentum, cfg.weight_decay) if cfg.optimizer == "sgd"
                 else numpy_cnn.Adam(net, cfg.lr, weight_decay=cfg.weight_decay))
    loader = BatchLoader(train_split, cfg.batch_size, shuffle=True, generator=generator,
                         drop_last=len(train_split) >= 2 * cfg.batch_size)
    total_steps, step, history = cfg.epochs * len(loader), 0, []
    metrics = MetricsLog(run_dir / METRICS_NAME)
    module = NumpyModule(net)
    meta = {"engine": "numpy", "config": cfg.to_dict(), "dataset": dataset.name, "classes": dataset.classes,
            "normalization": {"mean": list(mean), "std": list(std)},
            "model": {"name": cfg.model, "num_classes": dataset.num_classes, "in_channels": dataset.in_channels,
                      "image_size": dataset.image_size}}
    step_seconds = 0.0

    for epoch in range(1, cfg.epochs + 1):
        epoch_start = time.perf_counter()
        loss_sum = wrong_sum = 0.0
        window = (0.0, 0.0, 0)
        seen = 0
        for images, labels in tqdm(loader, desc=f"epoch {epoch}/{cfg.epochs}", leave=False, file=sys.stderr,
                                   disable=None if progress else True, unit="batch"):
            optimizer.lr = lr = lr_at(step, total_steps, cfg)
            x = normalize(random_shift(images, cfg.shift_pixels, generator), mean, std).numpy()
            y = labels.numpy()
            logits = net.forward(x, training=True)
            loss, dlogits = numpy_cnn.softmax_cross_entropy(logits, y)
            net.backward(dlogits)
            optimizer.step()

            loss_sum += loss * len(y)
            wrong_sum += float((logits.argmax(1) != y).sum())
            step, seen = step + 1, seen + len(y)
            if step % cfg.log_every == 0:
                n = seen - window[2]
                metrics.write({"type": "step", "epoch": epoch, "step": step, "lr": lr,
                               "loss": (loss_sum - window[0]) / n, "error": (wrong_sum - window[1]) / n})
                window = (loss_sum, wrong_sum, seen)
        epoch_step_seconds = time.perf_counter() - epoch_start
        step_seconds += epoch_step_seconds
        val = evaluate(module, val_split, mean, std, dataset.num_classes) if len(val_split) else None
        record = {"type": "epoch", "epoch": epoch, "step": step, "model": cfg.model,
                  "train_loss": loss_sum / seen, "train_error": wrong_sum / seen,
                  "val_loss": val.loss if val else None, "val_error": val.error if val else None, "lr": lr,
                  "seconds": time.perf_counter() - epoch_start, "step_seconds": epoch_step_seconds,
                  "images": seen, "images_per_s": seen / epoch_step_seconds}
        history.append(record)
        metrics.write(record)
        numpy_cnn.save_npz(checkpoint_path, net, {**meta, "history": history, "epoch": epoch})
        log.info(epoch_line(record, cfg.epochs))
    metrics.close()

    test = evaluate(module, test_split, mean, std, dataset.num_classes)
    val = evaluate(module, val_split, mean, std, dataset.num_classes) if len(val_split) else None
    images_seen = sum(h["images"] for h in history)
    return TrainResult(run_dir, checkpoint_path, module, dataset, test, val, sum(h["seconds"] for h in history),
                       images_seen / step_seconds, history)
