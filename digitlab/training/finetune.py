"""Continuing to train an existing model on new data (the drawing board's corrections)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import torch
import torch.nn as nn
import torch.nn.functional as F

from digitlab.data.augment import augment_batch
from digitlab.data.datasets import Split
from digitlab.data.loader import BatchLoader, normalize
from digitlab.training.config import TrainConfig
from digitlab.training.optimizer import build_optimizer
from digitlab.training.schedule import lr_at


def fine_tune(model: nn.Module, split: Split, mean, std, recipe: TrainConfig | None = None, epochs: int = 2,
              lr: float = 1e-3, batch_size: int = 64, seed: int = 0,
              progress: Callable[[float], None] | None = None) -> nn.Module:
    """Train `model` in place on `split` with a short cosine schedule from `lr`; returns it in eval mode.

    The augmentation, label smoothing and optimizer are `recipe`'s, the settings the model was trained with
    (without one: +-1 px shifts and plain cross-entropy): a model trained with label smoothing and warped digits
    forgets more of what it knew when it is fine-tuned without them (docs/board.md, "Fine-tuning on the corrections").
    """
    cfg = replace(recipe or TrainConfig(shift_pixels=1), epochs=epochs, lr=lr, batch_size=batch_size,
                  schedule="cosine")
    generator = torch.Generator().manual_seed(seed)
    optimizer = build_optimizer(model, cfg)
    loader = BatchLoader(split, batch_size, shuffle=True, generator=generator, drop_last=len(split) >= 2 * batch_size)
    total, step = epochs * len(loader), 0
    model.train()
    for _ in range(epochs):
        for images, labels in loader:
            for group in optimizer.param_groups:
                group["lr"] = lr_at(step, total, cfg)
            loss = F.cross_entropy(model(normalize(augment_batch(images, generator, **cfg.augmentation()), mean, std)),
                                   labels, label_smoothing=cfg.label_smoothing)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            step += 1
            if progress:
                progress(step / total)
    return model.eval()
