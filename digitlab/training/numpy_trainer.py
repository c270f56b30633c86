"""`digitlab train --engine numpy`: the from-scratch NumPy network's training loop.

Same data sets, splits, recipes, batch augmentation, learning-rate schedule and run harness
(metrics.jsonl, epoch lines, test report) as the PyTorch engine; the checkpoint is
`checkpoint.npz` (weights plus a JSON record), which `evaluate`, `predict` and `report` read.
Options it cannot honour are refused by engines.check_engine_options before any work starts.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch

import digitlab.numpy_cnn as numpy_cnn
from digitlab.data.augment import augment_batch
from digitlab.data.loader import BatchLoader, normalize
from digitlab.inference.checkpoint import NPZ_CHECKPOINT_NAME
from digitlab.inference.numpy_module import NumpyModule
from digitlab.inference.trained_model import with_inference_options
from digitlab.training.config import TrainConfig
from digitlab.training.evaluate import evaluator, final_scores
from digitlab.training.prepare import prepare_data
from digitlab.training.run_folder import Run, TrainResult, checkpoint_record, default_run_dir
from digitlab.training.schedule import lr_at
from digitlab.utils.device import seed_everything, torch_threads


def build_numpy_optimizer(net: numpy_cnn.Sequential, cfg: TrainConfig):
    if cfg.optimizer == "sgd":
        return numpy_cnn.SGD(net, cfg.lr, cfg.momentum, cfg.weight_decay, nesterov=True)  # as torch's optimizer
    return numpy_cnn.Adam(net, cfg.lr, weight_decay=cfg.weight_decay)


def prepared_ahead(batches: Iterable, prepare: Callable) -> Iterator:
    """prepare(batch) for each batch, the next one made in a second thread while NumPy trains on this one.

    NumPy's elementwise passes (BatchNorm, ReLU, pooling, im2col) run on one core, so torch's augmentation
    of the next batch fits on the other, and the weights come out the same.
    """
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="numpy-batches") as pool:
        pending = None
        for batch in batches:
            following = pool.submit(prepare, batch)
            if pending is not None:
                yield pending.result()
            pending = following
        if pending is not None:
            yield pending.result()


def train_numpy(cfg: TrainConfig, run_dir: str | Path | None = None, progress: bool = True) -> TrainResult:
    with torch_threads(1):  # torch only slices and augments batches here; NumPy's BLAS needs the cores
        return _train_numpy(cfg, run_dir, progress)


def _train_numpy(cfg: TrainConfig, run_dir, progress: bool) -> TrainResult:
    generator = seed_everything(cfg.seed)
    cfg, dataset, train_split, val_split, test_split = prepare_data(cfg, torch.device("cpu"))
    mean, std = dataset.mean, dataset.std
    run = Run(Path(run_dir) if run_dir else default_run_dir(cfg.model, dataset.name), NPZ_CHECKPOINT_NAME, cfg,
              progress=progress)

    net = numpy_cnn.build(cfg.model, dataset.num_classes, dataset.in_channels, dataset.image_size, seed=cfg.seed)
    optimizer = build_numpy_optimizer(net, cfg)
    loader = BatchLoader(train_split, cfg.batch_size, shuffle=True, generator=generator,
                         drop_last=len(train_split) >= 2 * cfg.batch_size)
    total_steps, step = cfg.epochs * len(loader), 0
    module = NumpyModule(net)
    record = checkpoint_record(cfg, dataset)
    score = evaluator(dataset, cfg)

    def prepare(batch) -> tuple:
        images, labels = batch
        return normalize(augment_batch(images, generator, **cfg.augmentation()), mean, std).numpy(), labels.numpy()

    for epoch in range(1, cfg.epochs + 1):
        epoch_start = time.perf_counter()
        loss_sum = wrong_sum = 0.0
        seen = 0
        for x, y in prepared_ahead(run.batches(loader, epoch), prepare):
            optimizer.lr = lr = lr_at(step, total_steps, cfg)
            logits = net.forward(x, training=True)
            loss, dlogits = numpy_cnn.softmax_cross_entropy(logits, y, cfg.label_smoothing)
            net.backward(dlogits)
            optimizer.step()

            loss_sum += loss * len(y)
            wrong_sum += float((logits.argmax(1) != y).sum())
            step, seen = step + 1, seen + len(y)
            if run.wants_step_record(step):
                run.step_record(epoch, step, lr, loss_sum, wrong_sum, seen)
        step_seconds = time.perf_counter() - epoch_start
        val = score(module, val_split) if len(val_split) else None

        def save(path: Path, history: list[dict], epoch: int = epoch) -> None:
            numpy_cnn.save_npz(path, net, {**record, "history": history, "epoch": epoch})

        run.end_epoch(epoch, step, lr, loss_sum, wrong_sum, seen, step_seconds, val,
                      time.perf_counter() - epoch_start, save)
    run.close()

    final = with_inference_options(module, cfg.to_dict())  # test-time augmentation, if the config asks for it
    test, val, verdict = final_scores(final, dataset, cfg, test_split, val_split)
    numpy_cnn.save_npz(run.checkpoint, net, {**record, "history": run.history, "epoch": len(run.history), **verdict})
    return run.result(final, dataset, test, val)
