"""Choosing the device and making runs repeatable."""

from __future__ import annotations

import contextlib
import functools
import random
from collections.abc import Iterator
from pathlib import Path

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
    OpenBLAS needs: the NumPy engine trains much faster with torch on one thread (benchmarks/numpy_engine.py).
    """
    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


# CPU flags of the instructions that compute bfloat16 natively (AVX-512 BF16, Intel AMX).
_BF16_CPU_FLAGS = {"avx512_bf16", "amx_bf16"}


@functools.cache
def _cpu_flags() -> frozenset[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:  # not Linux: no flags known, so no native bf16 assumed
        return frozenset()
    line = next((line for line in text.splitlines() if line.startswith("flags")), "")
    return frozenset(line.partition(":")[2].split())


def native_bf16(device: torch.device | str) -> bool:
    """Whether `device` computes bfloat16 in hardware. Elsewhere PyTorch emulates it, several
    times slower than float32 (benchmarks/speed.py on an AVX2-only CPU), so "auto" means fp32 there."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return device.type == "cpu" and bool(_cpu_flags() & _BF16_CPU_FLAGS)
