"""One training step, the same for `train` (trainer.py) and for the drawing board's fine-tune (finetune.py).

A model is fine-tuned by the code that trained it: its augmentation and label smoothing (the recipe's), its
precision (bf16 autocast where it trained so and the machine computes bf16 natively) and its own hooks
(CondenseNet's condensation schedule and group lasso, models/condensenet.py). A fine-tune that left any of them
out forgot more of what the model knew (docs/board.md, "Fine-tuning on the corrections").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from digitlab.data.augment import augment_batch
from digitlab.data.loader import normalize
from digitlab.training.config import TrainConfig
from digitlab.training.schedule import lr_at


def _whole(images: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return images, labels


@dataclass
class TrainStep:
    """One optimiser step on a batch: the schedule's learning rate, augmentation, normalisation, the forward pass
    (bf16 autocast if cfg.precision says so), the loss and the model's regularisation, backward, step."""
    net: nn.Module              # what the step runs through (the DDP wrapper under torchrun, else the model)
    model: nn.Module            # the model itself, whose hooks are called
    optimizer: torch.optim.Optimizer
    cfg: TrainConfig
    generator: torch.Generator  # the augmentation's randomness
    mean: tuple
    std: tuple
    total: int                  # steps in the learning-rate schedule
    memory_format: torch.memory_format = torch.contiguous_format
    shard: Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]] = _whole  # this process's slice

    def __call__(self, images: torch.Tensor, labels: torch.Tensor, step: int,
                 progress: float | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, float]:
        """Take step `step` of `total`; `progress`: how far the model is through its own training, for its hooks
        (step / total in a run from scratch; 1.0 for a model fine-tuned after its training ended: CondenseNet stays
        fully condensed). Returns (loss, logits, labels of this process's slice, learning rate), detached."""
        cfg = self.cfg
        lr = lr_at(step, self.total, cfg)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        x = normalize(augment_batch(images, self.generator, **cfg.augmentation()), self.mean, self.std)
        x, labels = self.shard(x.contiguous(memory_format=self.memory_format), labels)
        training_progress = getattr(self.model, "training_progress", None)
        regularization = getattr(self.model, "regularization", None)
        if training_progress:
            training_progress(step / self.total if progress is None else progress)
        with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=cfg.precision == "bf16"):
            logits = self.net(x)
            loss = F.cross_entropy(logits.float(), labels, label_smoothing=cfg.label_smoothing)
        self.optimizer.zero_grad(set_to_none=True)
        (loss + regularization() if regularization else loss).backward()  # the recorded loss stays the data's
        self.optimizer.step()
        return loss.detach(), logits.detach(), labels, lr
