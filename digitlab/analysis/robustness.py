"""How accuracy holds up when test digits are shifted, rotated, noised or blurred, and when they
come as people's pictures: another pen, a small scan, a side-lit photo.

Shifts, rotation, noise and blur are applied to the whole test set as a batch tensor, the
result is rounded back to uint8 (the form every model reads) and scored by the ordinary
`evaluate`; level 0 of each of these curves is the unperturbed test set, so it equals the plain
test accuracy exactly. The picture curves (grey 28x28 models only) redraw the first
`picture_digits` test digits as pictures (analysis/pictures.py) and read each back through
the same preprocessing as `digitlab predict`; a picture read as holding no digit counts as wrong.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from digitlab.analysis.pictures import low_resolution, pen_width, side_light
from digitlab.data.augment import shift_images
from digitlab.data.datasets import Split
from digitlab.errors import ImageError
from digitlab.reading.framing import preprocess_image
from digitlab.reading.refusal import Refusal
from digitlab.training.evaluate import evaluate

SHIFT_DIRECTIONS = {"right": (0, 1), "left": (0, -1), "down": (1, 0), "up": (-1, 0)}


@dataclass
class RobustnessStudy:
    shifts: list[int] = field(default_factory=lambda: list(range(7)))          # pixels
    angles: list[float] = field(default_factory=lambda: [0, 5, 10, 15, 20, 25, 30, 35, 40, 45])  # degrees
    noise: list[float] = field(default_factory=lambda: [0.0, 0.1, 0.2, 0.3, 0.4, 0.5])  # std, pixels in [0, 1]
    blur: list[float] = field(default_factory=lambda: [0.0, 0.5, 1.0, 1.5, 2.0])         # Gaussian sigma, pixels
    pen: list[float] = field(default_factory=lambda: [-1.0, -0.5, 0.0, 0.5, 1.0, 1.5, 2.0])  # pixels thicker, at 28x28
    resolution: list[int] = field(default_factory=lambda: [28, 20, 14, 12, 10, 8, 6])  # scanned at N x N pixels
    lighting: list[float] = field(default_factory=lambda: [1.0, 0.8, 0.6, 0.45, 0.3])  # brightness of the darker side
    picture_digits: int = 300  # test digits redrawn for the picture curves (each picture is preprocessed: slower)


def shifted(images: torch.Tensor, pixels: int, direction: str) -> torch.Tensor:
    dy, dx = SHIFT_DIRECTIONS[direction]
    n = len(images)
    return shift_images(images, torch.full((n,), dy * pixels), torch.full((n,), dx * pixels), max(pixels, 1))


def rotated(images: torch.Tensor, degrees: float) -> torch.Tensor:
    """Rotate about the centre; half the digits clockwise, half anticlockwise (every other one)."""
    if degrees == 0:
        return images
    n = len(images)
    sign = torch.where(torch.arange(n) % 2 == 0, 1.0, -1.0)
    theta = sign * math.radians(degrees)
    cos, sin = torch.cos(theta), torch.sin(theta)
    matrix = torch.stack([torch.stack([cos, -sin, torch.zeros(n)], 1), torch.stack([sin, cos, torch.zeros(n)], 1)], 1)
    grid = F.affine_grid(matrix.to(images.device), list(images.shape), align_corners=False)
    out = F.grid_sample(images.float(), grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return out.round().clamp(0, 255).to(torch.uint8)


def noised(images: torch.Tensor, std: float, seed: int = 0) -> torch.Tensor:
    if std == 0:
        return images
    generator = torch.Generator().manual_seed(seed)
    noise = torch.randn(images.shape, generator=generator).to(images.device) * std * 255
    return (images.float() + noise).round().clamp(0, 255).to(torch.uint8)


def blurred(images: torch.Tensor, sigma: float) -> torch.Tensor:
    if sigma == 0:
        return images
    radius = max(1, int(math.ceil(3 * sigma)))
    xs = torch.arange(-radius, radius + 1, dtype=torch.float32)
    kernel = torch.exp(-xs ** 2 / (2 * sigma ** 2))
    kernel = (kernel / kernel.sum()).to(images.device)
    c = images.shape[1]
    x = images.float()
    x = F.conv2d(F.pad(x, (radius, radius, 0, 0), mode="replicate"), kernel.view(1, 1, 1, -1).repeat(c, 1, 1, 1),
                 groups=c)
    x = F.conv2d(F.pad(x, (0, 0, radius, radius), mode="replicate"), kernel.view(1, 1, -1, 1).repeat(c, 1, 1, 1),
                 groups=c)
    return x.round().clamp(0, 255).to(torch.uint8)


def run_study(model: nn.Module, split: Split, mean, std, num_classes: int,
              study: RobustnessStudy | None = None, refusal: Refusal | None = None) -> dict:
    """{"plain": accuracy, "shift": {direction: [acc per pixel]}, "rotation": [...], "noise": [...], "blur": [...]}."""
    study = study or RobustnessStudy()

    def accuracy(images: torch.Tensor, labels: torch.Tensor = split.labels) -> float:
        return evaluate(model, Split(images, labels), mean, std, num_classes, refusal=refusal).accuracy

    plain = accuracy(split.images)
    return {
        "count": len(split),
        "plain": plain,
        "shift": {"pixels": study.shifts,
                  **{d: [plain if p == 0 else accuracy(shifted(split.images, p, d)) for p in study.shifts]
                     for d in SHIFT_DIRECTIONS}},
        "rotation": {"degrees": study.angles, "accuracy": [accuracy(rotated(split.images, a)) for a in study.angles]},
        "noise": {"std": study.noise, "accuracy": [accuracy(noised(split.images, s)) for s in study.noise]},
        "blur": {"sigma": study.blur, "accuracy": [accuracy(blurred(split.images, s)) for s in study.blur]},
        **(_picture_curves(split.subset(torch.arange(min(study.picture_digits, len(split)))), accuracy, study)
           if tuple(split.images.shape[1:]) == (1, 28, 28) and study.picture_digits else {}),
    }


def _picture_curves(split: Split, accuracy, study: RobustnessStudy) -> dict:
    """Accuracy on the digits redrawn with other pens, scanned small and lit from one side."""
    digits = split.images[:, 0].cpu().numpy()

    def read(make) -> float:
        inputs = []
        for digit in digits:
            try:
                inputs.append(preprocess_image(make(digit)))
            except ImageError:  # read as no digit: wrong, as a blank input is
                inputs.append(np.zeros((28, 28), np.uint8))
        return accuracy(torch.from_numpy(np.stack(inputs))[:, None], split.labels) if len(digits) else float("nan")

    count = {"count": len(digits)}
    return {
        "pen": {"pixels": study.pen, **count,
                "accuracy": [read(lambda d, p=p: pen_width(d, p)) for p in study.pen]},
        "resolution": {"pixels": study.resolution, **count,
                       "accuracy": [read(lambda d, r=r: low_resolution(d, r)) for r in study.resolution]},
        "lighting": {"darkest": study.lighting, **count,
                     "accuracy": [read(lambda d, b=b: side_light(d, b)) for b in study.lighting]},
    }
