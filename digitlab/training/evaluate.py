"""Scoring a model on a split: loss, accuracy, confusion matrix, per-class precision/recall."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from digitlab.data.datasets import Split
from digitlab.data.non_digits import Refusal
from digitlab.inference.trained_model import predict_logits


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
    """`refusal`: how the model says "not a digit" (data/non_digits.py), if it can. Its answer is then the one
    `predict` gives: "not a digit" when the digit_score is at or below the threshold, else the best digit."""
    if len(split) == 0:
        return Evaluation(float("nan"), float("nan"), np.zeros((num_classes, num_classes), np.int64),
                          np.zeros(0, np.int64), np.zeros((0, num_classes), np.float32))
    logits = predict_logits(model, split.images, mean, std, batch_size).float()
    labels = split.labels.to(logits.device)
    loss = float(F.cross_entropy(logits, labels))
    answers = logits
    if refusal is not None:
        refused = torch.from_numpy(refusal.refuses(refusal.scores(torch.softmax(logits, 1).cpu().numpy())))
        answers = logits.clone()
        answers[:, refusal.index] = torch.where(refused.to(logits.device), torch.inf, -torch.inf)
    predicted, actual = answers.argmax(1).cpu().numpy(), split.labels.cpu().numpy()
    confusion = np.bincount(actual * num_classes + predicted, minlength=num_classes**2)
    confusion = confusion.reshape(num_classes, num_classes)
    return Evaluation(loss, float((predicted == actual).mean()), confusion, predicted,
                      torch.softmax(logits, 1).cpu().numpy())
