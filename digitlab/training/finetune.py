"""Continuing to train an existing model on new data (the drawing board's corrections)."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F

from digitlab.data.augment import augment_batch
from digitlab.data.datasets import Split
from digitlab.data.loader import BatchLoader, normalize
from digitlab.training.config import TrainConfig
from digitlab.training.optimizer import build_optimizer
from digitlab.training.schedule import lr_at


def fine_tune(model: nn.Module, split: Split, mean, std, epochs: int = 2, lr: float = 1e-3, batch_size: int = 64,
              shift_pixels: int = 1, seed: int = 0, progress: Callable[[float], None] | None = None) -> nn.Module:
    """Train `model` in place on `split` with a short cosine schedule from `lr`; returns it in eval mode."""
    cfg = TrainConfig(epochs=epochs, lr=lr, batch_size=batch_size, shift_pixels=shift_pixels, schedule="cosine")
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
                                   labels)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            step += 1
            if progress:
                progress(step / total)
    return model.eval()
