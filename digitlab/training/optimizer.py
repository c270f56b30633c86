"""The PyTorch optimiser a config asks for, shared by training and fine-tuning."""

from __future__ import annotations

import torch
import torch.nn as nn

from digitlab.training.config import TrainConfig


def build_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    # No weight decay on biases and BatchNorm parameters: decaying them only hurts.
    decay = [p for p in model.parameters() if p.ndim > 1]
    no_decay = [p for p in model.parameters() if p.ndim <= 1]
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum, nesterov=True)
    return torch.optim.AdamW(groups, lr=cfg.lr)
