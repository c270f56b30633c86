"""Scoring a model on a split: loss, accuracy, confusion matrix, per-class precision/recall; and a finished
run's final scores, with the refusal threshold a refusing model gains."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from digitlab.data.datasets import DigitDataset, Split
from digitlab.inference.trained_model import predict_logits
from digitlab.reading.refusal import THRESHOLD_KEY, Refusal, refusal_index, verdicts
from digitlab.training.calibration import refusal_threshold
from digitlab.training.config import TrainConfig

log = logging.getLogger("digitlab")


@dataclass
class Evaluation:
    loss: float
    accuracy: float
    confusion: np.ndarray     # confusion[true, predicted], counts
    predictions: np.ndarray   # predicted class per item
    probabilities: np.ndarray  # softmax per item, (N, classes)

    @property
    def error(self) -> float:
        return 1.0 - self.accuracy

    def per_class(self, classes: list[str]) -> list[dict]:
        tp = np.diag(self.confusion).astype(float)
        predicted, actual = self.confusion.sum(axis=0), self.confusion.sum(axis=1)
        precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
        recall = np.divide(tp, actual, out=np.zeros_like(tp), where=actual > 0)
        f1 = np.divide(2 * precision * recall, precision + recall, out=np.zeros_like(tp),
                       where=(precision + recall) > 0)
        return [
            {"class": name, "precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
            for name, p, r, f, s in zip(classes, precision, recall, f1, actual)
        ]

    def to_dict(self, classes: list[str]) -> dict:
        return {
            "accuracy": self.accuracy,
            "loss": self.loss,
            "count": int(self.confusion.sum()),
            "per_class": self.per_class(classes),
            "confusion": self.confusion.tolist(),
        }


@torch.no_grad()
def evaluate(model: nn.Module, split: Split, mean, std, num_classes: int, batch_size: int = 500,
             refusal: Refusal | None = None) -> Evaluation:
    """`refusal`: how the model says "not a digit", if it can; each image is then counted as `predict`
    answers it (reading/refusal.py)."""
    if len(split) == 0:
        return Evaluation(float("nan"), float("nan"), np.zeros((num_classes, num_classes), np.int64),
                          np.zeros(0, np.int64), np.zeros((0, num_classes), np.float32))
    logits = predict_logits(model, split.images, mean, std, batch_size).float()
    labels = split.labels.to(logits.device)
    loss = float(F.cross_entropy(logits, labels))
    probabilities = torch.softmax(logits, 1).cpu().numpy()
    predicted, actual = verdicts(probabilities, refusal).classes(refusal), split.labels.cpu().numpy()
    confusion = np.bincount(actual * num_classes + predicted, minlength=num_classes**2)
    confusion = confusion.reshape(num_classes, num_classes)
    return Evaluation(loss, float((predicted == actual).mean()), confusion, predicted, probabilities)


def evaluator(dataset: DigitDataset, cfg: TrainConfig,
              threshold: float | None = None) -> Callable[[nn.Module, Split], Evaluation]:
    """evaluate(model, split) for this run's data set: its normalisation, classes and way of refusing."""
    index = refusal_index(dataset.classes)
    refusal = None if index is None else Refusal(index, threshold or 0.0)

    def score(model: nn.Module, split: Split) -> Evaluation:
        return evaluate(model, split, dataset.mean, dataset.std, dataset.num_classes, cfg.eval_batch_size, refusal)
    return score


def final_scores(model: nn.Module, dataset: DigitDataset, cfg: TrainConfig, test_split: Split,
                 val_split: Split) -> tuple[Evaluation, Evaluation | None, dict]:
    """The finished model's test and validation scores, and what its checkpoint gains for whoever serves it:
    the test accuracy and, for a model that can refuse, its refusal threshold."""
    verdict = {}
    if refusal_index(dataset.classes) is not None:
        verdict[THRESHOLD_KEY] = refusal_threshold(model, dataset, cfg)
    score = evaluator(dataset, cfg, verdict.get(THRESHOLD_KEY))
    test = score(model, test_split)
    val = score(model, val_split) if len(val_split) else None
    if val is not None and THRESHOLD_KEY in verdict:
        refused = (val.predictions == refusal_index(dataset.classes)).mean()
        log.info(f"refusal: {refused:.2%} of the {len(val_split)} validation digits refused")
    return test, val, {"test_accuracy": test.accuracy, **verdict}
