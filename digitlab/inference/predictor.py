"""A trained checkpoint answering through PyTorch, shared by `digitlab predict` and the drawing board."""

from __future__ import annotations

import os

import numpy as np
import torch
import torch.nn as nn

from digitlab.data.datasets import is_picture_dataset
from digitlab.inference.classifier import Classifier, Prediction
from digitlab.inference.trained_model import load_trained, predict_logits
from digitlab.reading.refusal import THRESHOLD_KEY

__all__ = ["Prediction", "Predictor"]


class Predictor(Classifier):
    """A model with its normalisation and class names, as its checkpoint describes it."""

    def __init__(self, model: nn.Module, classes: list[str], mean, std, in_channels: int = 1, image_size: int = 28,
                 meta: dict | None = None):
        self.meta = meta or {}  # the checkpoint's record: model spec, data set, config, history
        super().__init__(classes, in_channels, image_size,
                         takes_pictures=is_picture_dataset(str(self.meta.get("dataset", ""))),
                         refusal_threshold=self.meta.get(THRESHOLD_KEY))
        self.model, self.mean, self.std = model.eval(), tuple(mean), tuple(std)

    @classmethod
    def from_checkpoint(cls, path: str | os.PathLike, device: str = "cpu", tta: bool | None = None) -> Predictor:
        model, payload = load_trained(path, device, tta, freeze=True)
        norm, spec = payload["normalization"], payload["model"]
        kept = ("model", "dataset", "config", "history", "epoch", "engine", "test_accuracy", THRESHOLD_KEY)
        meta = {k: v for k, v in payload.items() if k in kept}
        return cls(model, list(payload["classes"]), norm["mean"], norm["std"], spec["in_channels"], spec["image_size"],
                   meta)

    def logits(self, images: np.ndarray) -> np.ndarray:
        return predict_logits(self.model, torch.from_numpy(images), self.mean, self.std).float().cpu().numpy()
