"""The PyTorch training loop, readable top to bottom.

train_torch(cfg) loads the data set onto the device, carves a validation split, builds the
model and optimiser, and runs the epochs. After each epoch the run harness (run.py) writes the
metrics and an atomic checkpoint that is enough to resume: weights, optimiser state, RNG states,
the resolved config, class names, normalisation and the metric history.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from digitlab.data.augment import augment_batch
from digitlab.data.loader import BatchLoader, normalize
from digitlab.errors import CheckpointError, DataError
from digitlab.inference.checkpoint import CHECKPOINT_NAME, load_checkpoint, save_checkpoint
from digitlab.inference.trained_model import with_inference_options
from digitlab.models import create_model, model_entry
from digitlab.training.config import TrainConfig
from digitlab.training.distributed import Distributed, backend_for
from digitlab.training.optimizer import build_optimizer
from digitlab.training.run import (
    Run,
    TrainResult,
    checkpoint_record,
    default_run_dir,
    evaluator,
    final_scores,
    prepare_data,
)
from digitlab.training.schedule import lr_at
from digitlab.utils.device import seed_everything

log = logging.getLogger("digitlab")


def train_torch(cfg: TrainConfig, run_dir: str | Path | None = None, resume: bool = False,
                progress: bool = True) -> TrainResult:
    """Train (or, with resume=True, continue training in `run_dir`) and test a zoo model."""
    model_entry(cfg.model)  # an unknown name fails now, not after loading the data
    ddp = Distributed.from_env()
    try:
        return _train(cfg, ddp, run_dir, resume, progress)
    finally:
        ddp.close()


def _train(cfg: TrainConfig, ddp: Distributed, run_dir, resume: bool, progress: bool) -> TrainResult:
    state = None
    if resume:  # the checkpoint's settings win, whatever the recipe table says today
        state = load_checkpoint(Path(run_dir) / CHECKPOINT_NAME)
        cfg = cfg.resumed_from(state["config"])
    device = ddp.start(cfg.device, cfg.batch_size)
    generator = seed_everything(cfg.seed)  # the same on every process: same data order and augmentation

    with ddp.main_first():
        cfg, dataset, train_split, val_split, test_split = prepare_data(cfg, device, resolve=not resume)
    mean, std = dataset.mean, dataset.std
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
    total_steps = cfg.epochs * len(loader)

    history = None
    if state:
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
    run = Run(run_dir, CHECKPOINT_NAME, cfg, history, writes=ddp.is_main, progress=progress)
    start_epoch = run.completed_epochs

    if ddp.rank:  # dropout masks: independent per process (data order and augmentation stay shared)
        torch.manual_seed(cfg.seed + 7919 * ddp.rank + start_epoch)
    if ddp.enabled:
        log.info(f"distributed: {ddp.world_size} processes ({backend_for(device)}), global batch {cfg.batch_size}, "
                 f"{cfg.batch_size // ddp.world_size} per process")
    record = checkpoint_record(cfg, dataset)
    score = evaluator(dataset, cfg)
    step = start_epoch * len(loader)
    written: dict = {}  # the checkpoint last saved, which the test accuracy joins at the end

    def save(path: Path, history: list[dict]) -> None:
        rng = {"data": generator.get_state(), "torch": torch.get_rng_state()}
        written.update(record, state_dict=model.state_dict(), history=history, epoch=len(history),
                       optimizer=optimizer.state_dict(), rng=rng)
        save_checkpoint(path, written)

    # Hooks a model may define (CondenseNet's condensation stages and group lasso, models/condensenet.py).
    training_progress = getattr(model, "training_progress", None)
    regularization = getattr(model, "regularization", None)
    for epoch in range(start_epoch + 1, cfg.epochs + 1):
        net.train()
        epoch_start = time.perf_counter()
        loss_sum = torch.zeros((), device=device)  # summed on the device: one sync per step record, not per step
        wrong_sum = torch.zeros((), device=device)
        epoch_n = 0
        for images, labels in run.batches(loader, epoch):
            lr = lr_at(step, total_steps, cfg)
            for group in optimizer.param_groups:
                group["lr"] = lr
            x = normalize(augment_batch(images, generator, **cfg.augmentation()), mean, std)
            x, labels = ddp.shard(x.contiguous(memory_format=memory_format), labels)
            if training_progress:
                training_progress(step / total_steps)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=cfg.precision == "bf16"):
                logits = net(x)
                loss = F.cross_entropy(logits.float(), labels, label_smoothing=cfg.label_smoothing)
            optimizer.zero_grad(set_to_none=True)
            (loss + regularization() if regularization else loss).backward()  # the recorded loss stays the data's
            optimizer.step()

            n = len(labels)
            loss_sum += loss.detach() * n
            wrong_sum += (logits.detach().argmax(1) != labels).sum()
            step, epoch_n = step + 1, epoch_n + n
            if run.wants_step_record(step):  # rank 0's slice
                run.step_record(epoch, step, lr, float(loss_sum), float(wrong_sum), epoch_n)
        if device.type == "cuda":
            torch.cuda.synchronize()
        step_seconds = time.perf_counter() - epoch_start
        epoch_loss, epoch_wrong, epoch_images = ddp.all_sum([float(loss_sum), float(wrong_sum), epoch_n], device)
        ddp.sync_buffers(model)

        val = score(model, val_split) if len(val_split) else None
        run.end_epoch(epoch, step, lr, epoch_loss, epoch_wrong, int(epoch_images), step_seconds, val,
                      time.perf_counter() - epoch_start, save)
    run.close()

    final = with_inference_options(model, cfg.to_dict())
    test, val, verdict = final_scores(final, dataset, cfg, test_split, val_split)
    if ddp.is_main:  # the test accuracy and refusal threshold, for whoever serves the model
        saved = written or load_checkpoint(run.checkpoint)  # resumed with no epoch left to train: read it back
        save_checkpoint(run.checkpoint, {**saved, **verdict})
    return run.result(final, dataset, test, val)
