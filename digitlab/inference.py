"""Prediction from a trained checkpoint, shared by `digitlab predict` and the web server."""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn

from digitlab.data.preprocess import preprocess_image
from digitlab.errors import ConfigError
from digitlab.training.evaluate import predict_logits
from digitlab.training.trainer import load_trained


@dataclass
class Prediction:
    label: int
    name: str
    probabilities: list[float]

    def top(self, k: int, classes: list[str]) -> list[dict]:
        order = np.argsort(self.probabilities)[::-1][:k]
        return [{"class": classes[i], "index": int(i), "probability": self.probabilities[i]} for i in order]


class Predictor:
    """A model with its normalisation and class names, ready to classify 28x28 digits."""

    def __init__(self, model: nn.Module, classes: list[str], mean, std, in_channels: int = 1, image_size: int = 28,
                 meta: dict | None = None):
        self.model, self.classes, self.mean, self.std = model.eval(), classes, tuple(mean), tuple(std)
        self.in_channels, self.image_size = in_channels, image_size
        self.meta = meta or {}  # the checkpoint's record: model spec, data set, config, history

    @classmethod
    def from_checkpoint(cls, path: str | os.PathLike, device: str = "cpu") -> "Predictor":
        model, payload = load_trained(path, device)
        norm, spec = payload["normalization"], payload["model"]
        meta = {k: v for k, v in payload.items() if k in ("model", "dataset", "config", "history", "epoch", "engine", "test_accuracy")}
        return cls(model, list(payload["classes"]), norm["mean"], norm["std"], spec["in_channels"], spec["image_size"], meta)

    def predict_arrays(self, images: np.ndarray) -> list[Prediction]:
        """uint8 images (N, 28, 28) as MNIST stores them -> one Prediction each."""
        batch = torch.from_numpy(np.ascontiguousarray(images, dtype=np.uint8)).unsqueeze(1)
        probs = torch.softmax(predict_logits(self.model, batch, self.mean, self.std), dim=1).cpu().numpy()
        return [Prediction(int(p.argmax()), self.classes[int(p.argmax())], [float(x) for x in p]) for p in probs]

    def predict_files(self, paths: list[str | os.PathLike]) -> list[Prediction]:
        if (self.in_channels, self.image_size) != (1, 28):
            raise ConfigError(f"this model takes {self.in_channels}x{self.image_size}x{self.image_size} images; "
                              "digit preprocessing makes grey 28x28 digits")
        return self.predict_arrays(np.stack([preprocess_image(p) for p in paths]))
