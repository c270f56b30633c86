"""The PyTorch training loop, readable top to bottom.

train_torch(cfg) loads the data set onto the device, carves a validation split, builds the
model and optimiser, and runs the epochs. After each epoch the run folder (run_folder.py) gets the
metrics and an atomic checkpoint that is enough to resume: weights, optimiser state, RNG states,
the resolved config, class names, normalisation and the metric history.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn as nn

from digitlab.data.loader import BatchLoader
from digitlab.errors import CheckpointError, DataError
from digitlab.inference.checkpoint import CHECKPOINT_NAME, load_checkpoint, save_checkpoint
from digitlab.inference.trained_model import with_inference_options
from digitlab.models import create_model, model_entry
from digitlab.training.config import TrainConfig
from digitlab.training.distributed import Distributed, backend_for
from digitlab.training.evaluate import evaluator, final_scores
from digitlab.training.optimizer import build_optimizer
from digitlab.training.prepare import prepare_data
from digitlab.training.run_folder import Run, TrainResult, checkpoint_record, default_run_dir
from digitlab.training.step import TrainStep
from digitlab.utils.device import seed_everything

log = logging.getLogger("digitlab")


def train_torch(cfg: TrainConfig, run_dir: str | Path | None = None, state: dict | None = None,
                progress: bool = True) -> TrainResult:
    """Train and test a zoo model; with the `state` of a checkpoint (resume.py), continue that run in `run_dir`."""
    model_entry(cfg.model)  # an unknown name fails now, not after loading the data
    ddp = Distributed.from_env()
    try:
        return _train(cfg, ddp, run_dir, state, progress)
    finally:
        ddp.close()


def _train(cfg: TrainConfig, ddp: Distributed, run_dir, state: dict | None, progress: bool) -> TrainResult:
    device = ddp.start(cfg.device, cfg.batch_size)
    generator = seed_everything(cfg.seed)  # the same on every process: same data order and augmentation
    with ddp.main_first():
        cfg, dataset, train_split, val_split, test_split = prepare_data(cfg, device, resolve=state is None)
    run_dir = Path(run_dir) if run_dir else default_run_dir(cfg.model, dataset.name)

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

    history = _restore(state, model, optimizer, generator, run_dir, cfg) if state else None
    run = Run(run_dir, CHECKPOINT_NAME, cfg, history, writes=ddp.is_main, progress=progress)
    if ddp.rank:  # dropout masks: independent per process (data order and augmentation stay shared)
        torch.manual_seed(cfg.seed + 7919 * ddp.rank + run.completed_epochs)
    if ddp.enabled:
        log.info(f"distributed: {ddp.world_size} processes ({backend_for(device)}), global batch {cfg.batch_size}, "
                 f"{cfg.batch_size // ddp.world_size} per process")
    take = TrainStep(net, model, optimizer, cfg, generator, dataset.mean, dataset.std, cfg.epochs * len(loader),
                     memory_format, ddp.shard)
    steps = Steps(take, ddp, device, run.completed_epochs * len(loader))
    checkpoint = Checkpointer(checkpoint_record(cfg, dataset), model, optimizer, generator)
    score = evaluator(dataset, cfg)
    for epoch in range(run.completed_epochs + 1, cfg.epochs + 1):
        epoch_start = time.perf_counter()
        totals, step_seconds = steps.epoch(run, loader, epoch)
        val = score(model, val_split) if len(val_split) else None
        run.end_epoch(epoch, steps.step, steps.lr, *totals, step_seconds, val, time.perf_counter() - epoch_start,
                      checkpoint.save)
    run.close()

    final = with_inference_options(model, cfg.to_dict())
    test, val, verdict = final_scores(final, dataset, cfg, test_split, val_split)
    if ddp.is_main:  # the test accuracy and refusal threshold, for whoever serves the model
        saved = checkpoint.written or load_checkpoint(run.checkpoint)  # resumed with no epoch left: read it back
        save_checkpoint(run.checkpoint, {**saved, **verdict})
    return run.result(final, dataset, test, val)


def _restore(state: dict, model: nn.Module, optimizer, generator: torch.Generator, run_dir: Path,
             cfg: TrainConfig) -> list[dict]:
    """Put a checkpoint's weights, optimiser and RNG states back; the history of its completed epochs."""
    try:
        model.load_state_dict(state["state_dict"])
    except RuntimeError as exc:
        raise CheckpointError(f"{run_dir / CHECKPOINT_NAME}: weights do not fit {cfg.model}: "
                              f"{str(exc)[:200]}") from None
    optimizer.load_state_dict(state["optimizer"])
    generator.set_state(state["rng"]["data"])
    torch.set_rng_state(state["rng"]["torch"])
    history = list(state["history"])[:int(state["epoch"])]
    log.info(f"resuming {run_dir} after epoch {len(history)} of {cfg.epochs}")
    return history


@dataclass
class Checkpointer:
    """What a checkpoint holds after an epoch: the run's record, weights, optimiser and RNG states, history."""
    record: dict
    model: nn.Module
    optimizer: torch.optim.Optimizer
    generator: torch.Generator
    written: dict = field(default_factory=dict)  # the checkpoint last saved, which the test accuracy joins at the end

    def save(self, path: Path, history: list[dict]) -> None:
        rng = {"data": self.generator.get_state(), "torch": torch.get_rng_state()}
        self.written.update(self.record, state_dict=self.model.state_dict(), history=history, epoch=len(history),
                            optimizer=self.optimizer.state_dict(), rng=rng)
        save_checkpoint(path, self.written)


@dataclass
class Steps:
    """The training steps: one epoch at a time, the schedule's step count and learning rate carried between them."""
    take: TrainStep            # one step (step.py: the same step the board's fine-tune takes)
    ddp: Distributed
    device: torch.device
    step: int                  # steps taken so far
    lr: float = 0.0

    def epoch(self, run: Run, loader: BatchLoader, epoch: int) -> tuple[tuple[float, float, int], float]:
        """Train one epoch: ((loss summed over images, errors, images) over every process, seconds of steps)."""
        device = self.device
        self.take.net.train()
        start = time.perf_counter()
        loss_sum = torch.zeros((), device=device)  # summed on the device: one sync per step record, not per step
        wrong_sum = torch.zeros((), device=device)
        seen = 0
        for images, labels in run.batches(loader, epoch):
            loss, logits, labels, self.lr = self.take(images, labels, self.step)
            loss_sum += loss * len(labels)
            wrong_sum += (logits.argmax(1) != labels).sum()
            self.step, seen = self.step + 1, seen + len(labels)
            if run.wants_step_record(self.step):  # rank 0's slice
                run.step_record(epoch, self.step, self.lr, float(loss_sum), float(wrong_sum), seen)
        if device.type == "cuda":
            torch.cuda.synchronize()
        seconds = time.perf_counter() - start
        loss_total, wrong_total, images_total = self.ddp.all_sum([float(loss_sum), float(wrong_sum), seen], device)
        self.ddp.sync_buffers(self.take.model)
        return (loss_total, wrong_total, int(images_total)), seconds
