"""Batches sliced from a data set that already sits on the training device.

MNIST is 47 MB as uint8: it fits on any device, so there is no reason to pay for a
DataLoader, worker processes or per-item PIL conversions. An epoch is one random
permutation and a series of tensor slices; conversion to float and normalisation
happen once per batch, on the device.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch

from digitlab.data.datasets import Split


def normalize(images: torch.Tensor, mean: tuple[float, ...], std: tuple[float, ...]) -> torch.Tensor:
    """uint8 (N, C, H, W) in 0..255 -> float32, shifted and scaled per channel."""
    mean_t = torch.tensor(mean, device=images.device).view(1, -1, 1, 1)
    std_t = torch.tensor(std, device=images.device).view(1, -1, 1, 1)
    return (images.float().div_(255) - mean_t) / std_t


class BatchLoader:
    """Iterate over (images, labels) batches of a `Split` in a seeded random order."""

    def __init__(self, split: Split, batch_size: int, shuffle: bool = False,
                 generator: torch.Generator | None = None, drop_last: bool = False):
        self.split, self.batch_size = split, batch_size
        self.shuffle, self.generator, self.drop_last = shuffle, generator, drop_last

    def __len__(self) -> int:
        n = len(self.split)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        n = len(self.split)
        device = self.split.labels.device
        order = torch.randperm(n, generator=self.generator).to(device) if self.shuffle else None
        for i in range(len(self)):
            start = i * self.batch_size
            if order is None:
                yield self.split.images[start:start + self.batch_size], self.split.labels[start:start + self.batch_size]
            else:
                idx = order[start:start + self.batch_size]
                yield self.split.images[idx], self.split.labels[idx]
