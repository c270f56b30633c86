"""Choosing the device and making runs repeatable."""

from __future__ import annotations

import contextlib
import random
from typing import Iterator

import numpy as np
import torch

from digitlab.errors import ConfigError

DEVICE_CHOICES = ("auto", "cpu", "cuda")


def resolve_device(name: str = "auto") -> torch.device:
    """'auto' picks CUDA when present; asking for CUDA without one is an error, not a fallback."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ConfigError(f"--device {name}: no CUDA device is available on this machine")
        return torch.device(name)
    if name == "cpu":
        return torch.device("cpu")
    raise ConfigError(f"unknown device {name!r}: choose one of {', '.join(DEVICE_CHOICES)}")


def seed_everything(seed: int) -> torch.Generator:
    """Seed every RNG a run touches and return the generator that drives data order.

    Data order and augmentation draw from their own generator so that its state can be
    saved in a checkpoint and a resumed run continues the exact same sequence.
    """
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


@contextlib.contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """Run a block with `count` torch threads, e.g. 1 while NumPy's BLAS does the real work.

    Idle OpenMP threads of torch spin for a while after each small op and steal the cores
    OpenBLAS needs: the NumPy engine trains 2x faster with torch on one thread.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)
