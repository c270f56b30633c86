"""The training loop, readable top to bottom.

train(cfg) loads the data set onto the device, carves a validation split, builds the
model and optimiser, and runs the epochs. After each epoch it writes the metrics and an
atomic checkpoint that is enough to resume: weights, optimiser state, RNG states, the
config, class names, normalisation and the metric history.
"""

from __future__ import annotations

import logging
import sys
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F
from tqdm import tqdm

from digitlab.data.datasets import DigitDataset, Split, is_picture_dataset, load_dataset
from digitlab.data.loader import BatchLoader, normalize
from digitlab.data.splits import stratified_split
from digitlab.errors import CheckpointError, ConfigError, DataError
from digitlab.models import create_model, model_entry
from digitlab.training.augment import random_affine, random_shift
from digitlab.training.checkpoint import CHECKPOINT_NAME, load_checkpoint, model_from_checkpoint, save_checkpoint
from digitlab.training.config import TrainConfig
from digitlab.training.distributed import Distributed, backend_for
from digitlab.training.evaluate import Evaluation, evaluate
from digitlab.training.metrics import METRICS_NAME, MetricsLog
from digitlab.training.recipes import apply_recipe
from digitlab.training.schedule import lr_at
from digitlab.training.inference_model import with_inference_options
from digitlab.utils.device import resolve_device, seed_everything

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


def augment(images: torch.Tensor, cfg: TrainConfig, generator: torch.Generator) -> torch.Tensor:
    """The batch's augmentations, on its device: random affine warps or shifts, then random mirror images."""
    if cfg.rotate_degrees or cfg.scale:
        images = random_affine(images, cfg.rotate_degrees, cfg.scale, cfg.shift_pixels, generator)
    else:
        images = random_shift(images, cfg.shift_pixels, generator)
    if cfg.hflip:
        flip = (torch.rand(len(images), generator=generator) < 0.5).to(images.device).view(-1, 1, 1, 1)
        images = torch.where(flip, images.flip(-1), images)
    return images


def build_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    # No weight decay on biases and BatchNorm parameters: decaying them only hurts.
    decay = [p for p in model.parameters() if p.ndim > 1]
    no_decay = [p for p in model.parameters() if p.ndim <= 1]
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum, nesterov=True)
    return torch.optim.AdamW(groups, lr=cfg.lr)


def prepare_data(cfg: TrainConfig, device: torch.device) -> tuple[TrainConfig, DigitDataset, Split, Split, Split]:
    """The config with its recipe applied, the data set, and its train/val/test splits on `device`.

    The recipe is applied once the data set is known (`mnist` may have fell back to `mnist-5k`);
    validation is carved from the training data.
    """
    if "image_size" in cfg.explicit and not is_picture_dataset(cfg.dataset):
        raise ConfigError(f"--image-size applies to folder: data sets; {cfg.dataset} has its own image size")
    dataset = load_dataset(cfg.dataset, cfg.data_dir, test_set=cfg.test_set, image_size=cfg.image_size)
    cfg = apply_recipe(cfg, dataset.name)
    if cfg.recipe:
        log.info(f"recipe {cfg.recipe} for {dataset.name}: {cfg.model}, {cfg.epochs} epochs, batch {cfg.batch_size}, "
                 f"lr {cfg.lr}, {cfg.precision}" + (", TTA" if cfg.tta else ""))
    if dataset.train is None:
        raise DataError(f"{cfg.dataset}: has no training split (no train-images/train-labels files)")
    if dataset.test is None:
        raise DataError(f"{cfg.dataset}: has no test split (give one with --test-set)")
    train_idx, val_idx = stratified_split(dataset.train.labels, cfg.val_fraction, cfg.seed)
    splits = dataset.train.subset(train_idx).to(device), dataset.train.subset(val_idx).to(device), dataset.test.to(device)
    log.info(f"data: {dataset.name} ({dataset.source}): {len(splits[0])} train, {len(splits[1])} val, "
             f"{len(splits[2])} test on {device}")
    return (cfg, dataset, *splits)


def epoch_line(record: dict, epochs: int) -> str:
    val = (f"val loss {record['val_loss']:.4f} error {record['val_error']:.2%}" if record["val_loss"] is not None
           else "no validation split")
    return (f"epoch {record['epoch']}/{epochs}: train loss {record['train_loss']:.4f} error "
            f"{record['train_error']:.2%}, {val}, {record['seconds']:.1f}s, {record['images_per_s']:.0f} img/s")


def train(cfg: TrainConfig, run_dir: str | Path | None = None, resume: bool = False,
          progress: bool = True) -> TrainResult:
    """Train (or, with resume=True, continue training in `run_dir`) and test the model."""
    cfg.validate()
    if cfg.engine == "numpy":
        if Distributed.from_env().enabled:
            raise ConfigError("the NumPy engine trains in one process: start it without torchrun")
        from digitlab.training.numpy_trainer import train_numpy
        return train_numpy(cfg, run_dir, resume, progress)
    model_entry(cfg.model)  # an unknown name fails now, not after loading the data
    ddp = Distributed.from_env()
    try:
        return _train(cfg, ddp, run_dir, resume, progress)
    finally:
        ddp.close()


def _train(cfg: TrainConfig, ddp: Distributed, run_dir, resume: bool, progress: bool) -> TrainResult:
    device = ddp.start(cfg.device, cfg.batch_size)
    generator = seed_everything(cfg.seed)  # the same on every process: same data order and augmentation

    with ddp.main_first():
        cfg, dataset, train_split, val_split, test_split = prepare_data(cfg, device)
    mean, std = dataset.mean, dataset.std
    run_dir = Path(run_dir) if run_dir else default_run_dir(cfg.model, dataset.name)
    checkpoint_path = run_dir / CHECKPOINT_NAME

    model = create_model(cfg.model, dataset.num_classes, dataset.in_channels, dataset.image_size).to(device)
    is_2d = all(p.ndim <= 4 for p in model.parameters())  # channels_last is a 4-D layout
    memory_format = torch.channels_last if cfg.channels_last and is_2d else torch.contiguous_format
    model = model.to(memory_format=memory_format)
    net = ddp.wrap(model, device)  # what the training steps run through
    model = net.module if ddp.enabled else model
    optimizer = build_optimizer(model, cfg)
    # Processes must take equal slices of every batch: no short last batch when distributed.
    loader = BatchLoader(train_split, cfg.batch_size, shuffle=True, generator=generator,
                         drop_last=ddp.enabled or len(train_split) >= 2 * cfg.batch_size)
    if len(loader) == 0:
        raise DataError(f"{len(train_split)} training images do not fill one batch of {cfg.batch_size}")
    total_steps = cfg.epochs * len(loader)
    history: list[dict] = []
    start_epoch = 0

    if resume:
        state = load_checkpoint(checkpoint_path)
        if state["model"]["name"] != cfg.model or state["config"]["dataset"] != cfg.dataset:
            raise CheckpointError(f"{checkpoint_path}: was trained with a different model or data set")
        model.load_state_dict(state["state_dict"])
        optimizer.load_state_dict(state["optimizer"])
        generator.set_state(state["rng"]["data"])
        torch.set_rng_state(state["rng"]["torch"])
        history, start_epoch = list(state["history"]), int(state["epoch"])
        MetricsLog.truncate_after(run_dir / METRICS_NAME, start_epoch)
        for stale in run_dir.glob(f".{CHECKPOINT_NAME}.*.tmp"):  # left by a run killed mid-save
            stale.unlink()
        log.info(f"resuming {run_dir} after epoch {start_epoch} of {cfg.epochs}")
    elif checkpoint_path.exists() and ddp.is_main:
        raise CheckpointError(f"{run_dir} already holds a run: pass --resume {run_dir} to continue it, "
                              "or choose another --out")
    elif ddp.is_main:  # a run killed before its first checkpoint may have left metrics: start them afresh
        MetricsLog.truncate_after(run_dir / METRICS_NAME, 0)

    if ddp.rank:  # dropout masks: independent per process (data order and augmentation stay shared)
        torch.manual_seed(cfg.seed + 7919 * ddp.rank + start_epoch)
    if ddp.enabled:
        log.info(f"distributed: {ddp.world_size} processes ({backend_for(device)}), global batch {cfg.batch_size}, "
                 f"{cfg.batch_size // ddp.world_size} per process")
    metrics = MetricsLog(run_dir / METRICS_NAME) if ddp.is_main else None
    model_spec = {"name": cfg.model, "num_classes": dataset.num_classes,
                  "in_channels": dataset.in_channels, "image_size": dataset.image_size}
    train_seconds = sum(h["seconds"] for h in history)
    step_seconds = sum(h["step_seconds"] for h in history)
    images_seen = sum(h["images"] for h in history)
    step = start_epoch * len(loader)

    for epoch in range(start_epoch + 1, cfg.epochs + 1):
        net.train()
        epoch_start = time.perf_counter()
        loss_sum = torch.zeros((), device=device)
        wrong_sum = torch.zeros((), device=device)
        window_loss, window_wrong, window_n, epoch_n = 0.0, 0.0, 0, 0
        bar = tqdm(loader, desc=f"epoch {epoch}/{cfg.epochs}", leave=False, file=sys.stderr,
                   disable=None if progress and ddp.is_main else True, unit="batch")
        for images, labels in bar:
            lr = lr_at(step, total_steps, cfg)
            for group in optimizer.param_groups:
                group["lr"] = lr
            x = normalize(augment(images, cfg, generator), mean, std)
            x, labels = ddp.shard(x.contiguous(memory_format=memory_format), labels)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=cfg.precision == "bf16"):
                logits = net(x)
                loss = F.cross_entropy(logits.float(), labels, label_smoothing=cfg.label_smoothing)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()

            n = len(labels)
            loss_sum += loss.detach() * n
            wrong_sum += (logits.detach().argmax(1) != labels).sum()
            step, epoch_n = step + 1, epoch_n + n
            if metrics and step % cfg.log_every == 0:  # one device sync per `log_every` steps; rank 0's slice
                total_loss, total_wrong = float(loss_sum), float(wrong_sum)
                metrics.write({"type": "step", "epoch": epoch, "step": step, "lr": lr,
                               "loss": (total_loss - window_loss) / (epoch_n - window_n),
                               "error": (total_wrong - window_wrong) / (epoch_n - window_n)})
                window_loss, window_wrong, window_n = total_loss, total_wrong, epoch_n
                bar.set_postfix(loss=f"{total_loss / epoch_n:.4f}")
        if device.type == "cuda":
            torch.cuda.synchronize()
        epoch_step_seconds = time.perf_counter() - epoch_start
        epoch_loss, epoch_wrong, epoch_images = ddp.all_sum([float(loss_sum), float(wrong_sum), epoch_n], device)
        epoch_n = int(epoch_images)
        ddp.sync_buffers(model)

        val = evaluate(model, val_split, mean, std, dataset.num_classes, cfg.eval_batch_size) if len(val_split) else None
        seconds = time.perf_counter() - epoch_start
        record = {"type": "epoch", "epoch": epoch, "step": step, "model": cfg.model,
                  "train_loss": epoch_loss / epoch_n, "train_error": epoch_wrong / epoch_n,
                  "val_loss": val.loss if val else None, "val_error": val.error if val else None,
                  "lr": lr, "seconds": seconds, "step_seconds": epoch_step_seconds, "images": epoch_n,
                  "images_per_s": epoch_n / epoch_step_seconds}
        history.append(record)
        train_seconds += seconds
        step_seconds += epoch_step_seconds
        images_seen += epoch_n
        payload = {
            "engine": "torch", "model": model_spec, "state_dict": model.state_dict(),
            "config": cfg.to_dict(), "dataset": dataset.name, "classes": dataset.classes,
            "normalization": {"mean": list(mean), "std": list(std)},
            "history": history, "epoch": epoch, "optimizer": optimizer.state_dict(),
            "rng": {"data": generator.get_state(), "torch": torch.get_rng_state()},
        }
        if ddp.is_main:
            metrics.write(record)
            save_checkpoint(checkpoint_path, payload)
        log.info(epoch_line(record, cfg.epochs))
    if metrics:
        metrics.close()

    final = with_inference_options(model, cfg.to_dict())
    test = evaluate(final, test_split, mean, std, dataset.num_classes, cfg.eval_batch_size)
    if ddp.is_main:
        save_checkpoint(checkpoint_path, {**payload, "test_accuracy": test.accuracy})  # for whoever serves the model
    val = evaluate(final, val_split, mean, std, dataset.num_classes, cfg.eval_batch_size) if len(val_split) else None
    return TrainResult(run_dir, checkpoint_path, final, dataset, test, val, train_seconds,
                       images_seen / step_seconds if step_seconds else 0.0, history)


def load_trained(path: str | Path, device: str = "cpu", tta: bool | None = None,
                 freeze: bool = False) -> tuple[nn.Module, dict]:
    """(model in eval mode, checkpoint payload) for a checkpoint file or run folder, of either engine.

    It answers as it was trained to (bf16, test-time augmentation); `tta` overrides the latter.
    `freeze`: for answering only (see with_inference_options).
    """
    path = Path(path)
    npz = path / "checkpoint.npz" if path.is_dir() and not (path / CHECKPOINT_NAME).exists() else path
    if npz.suffix == ".npz" and npz.is_file():
        from digitlab.training.numpy_trainer import load_npz_checkpoint
        return load_npz_checkpoint(npz)
    payload = load_checkpoint(path)
    model = model_from_checkpoint(payload, resolve_device(device))
    config = payload.get("config", {}) if tta is None else {**payload.get("config", {}), "tta": tta}
    return with_inference_options(model, config, freeze), payload


def checkpoint_dataset(payload: dict, dataset: str | None = None, data_dir: str | None = None) -> DigitDataset:
    """`dataset`, else the data set the checkpoint was trained with, test split included.

    A model trained with --test-set has seen every image of its own data set: only that
    other test split is held out from it, so it is the one loaded with it.
    """
    config = payload.get("config", {})
    return load_dataset(dataset or payload.get("dataset") or config.get("dataset"), data_dir or config.get("data_dir"),
                        test_set=None if dataset else config.get("test_set"), image_size=payload["model"]["image_size"])


def check_fits_model(split: Split, payload: dict, source: str) -> None:
    """A DataError unless the split's images have the shape the checkpoint's model reads."""
    spec = payload["model"]
    if tuple(split.images.shape[1:]) != (spec["in_channels"], spec["image_size"], spec["image_size"]):
        raise DataError(f"{source}: images of shape {tuple(split.images.shape[1:])} do not fit this model "
                        f"({spec['in_channels']}x{spec['image_size']}x{spec['image_size']})")


def checkpoint_test_split(payload: dict, dataset: str | None = None, data_dir: str | None = None) -> tuple[Split, str]:
    """The split to score a checkpoint on: `dataset`'s test split, else the one it was trained with."""
    loaded = checkpoint_dataset(payload, dataset, data_dir)
    if loaded.test is None:
        raise DataError(f"{loaded.name}: has no test split")
    check_fits_model(loaded.test, payload, loaded.name)
    return loaded.test, f"{loaded.name} test split"
