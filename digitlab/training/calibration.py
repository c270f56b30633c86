"""Setting a refusing model's threshold on validation data, once its training ends.

The threshold is set on non-digits made afresh (another seed; pairs of the run's own training
digits, clothes from the training range), none of which the model trained on: the most lenient
digit_score that still refuses REFUSED_SHARE of them, and never stricter than the model's own odds
(0), past which real digits pay. Kinds it has never seen are refused less readily than these, hence
a share above the 90% that unseen non-digits should meet (docs/reading.md, "Refusing what is no digit").
"""

from __future__ import annotations

import logging

import numpy as np
import torch
import torch.nn as nn

from digitlab.data.datasets import DigitDataset
from digitlab.data.non_digits import make_non_digits, training_clothes
from digitlab.inference.trained_model import predict_logits
from digitlab.reading.refusal import Refusal, refusal_index
from digitlab.training.config import TrainConfig

log = logging.getLogger("digitlab")

VALIDATION_NON_DIGITS = 2000
VALIDATION_SEED = 104_729  # added to the run's seed; training's non-digits use the seed itself
REFUSED_SHARE = 0.94       # evidence: benchmarks/whole_numbers.py, unseen non-digits refused over seeds 1-3


def refusal_threshold(model: nn.Module, dataset: DigitDataset, cfg: TrainConfig) -> float:
    """The digit_score at or below which `model` says "not a digit", set on new non-digits (see REFUSED_SHARE)."""
    made = make_non_digits(VALIDATION_NON_DIGITS, cfg.seed + VALIDATION_SEED, digits=dataset.train.images[:, 0].numpy(),
                           clothes=training_clothes(cfg.data_dir))
    logits = predict_logits(model, torch.from_numpy(made)[:, None], dataset.mean, dataset.std, cfg.eval_batch_size)
    scores = Refusal(refusal_index(dataset.classes)).scores(torch.softmax(logits.float(), 1).cpu().numpy())
    threshold = min(0.0, float(np.quantile(scores, REFUSED_SHARE)))
    log.info(f"refusal: digit_score <= {threshold:.3f} is \"not a digit\" ({(scores <= threshold).mean():.1%} of "
             f"{len(made)} new non-digits refused; {(scores <= 0).mean():.1%} at the model's own odds)")
    return threshold
