"""How accuracy holds up when test digits are shifted, rotated, noised or blurred.

Each perturbation is applied to the whole test set as a batch tensor, the result is
rounded back to uint8 (the form every model reads) and scored by the ordinary
`evaluate`. Level 0 of every curve is the unperturbed test set, so it equals the plain
test accuracy exactly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn as nn
import torch.nn.functional as F

from digitlab.data.augment import shift_images
from digitlab.data.datasets import Split
from digitlab.training.evaluate import evaluate

SHIFT_DIRECTIONS = {"right": (0, 1), "left": (0, -1), "down": (1, 0), "up": (-1, 0)}


@dataclass
class RobustnessStudy:
    shifts: list[int] = field(default_factory=lambda: list(range(7)))          # pixels
    angles: list[float] = field(default_factory=lambda: [0, 5, 10, 15, 20, 25, 30, 35, 40, 45])  # degrees
    noise: list[float] = field(default_factory=lambda: [0.0, 0.1, 0.2, 0.3, 0.4, 0.5])  # std, pixels in [0, 1]
    blur: list[float] = field(default_factory=lambda: [0.0, 0.5, 1.0, 1.5, 2.0])         # Gaussian sigma, pixels


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
              study: RobustnessStudy | None = None) -> dict:
    """{"plain": accuracy, "shift": {direction: [acc per pixel]}, "rotation": [...], "noise": [...], "blur": [...]}."""
    study = study or RobustnessStudy()

    def accuracy(images: torch.Tensor) -> float:
        return evaluate(model, Split(images, split.labels), mean, std, num_classes).accuracy

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
    }
