"""Data-parallel training on PyTorch's own engine: torchrun starts the processes, DDP syncs them.

    torchrun --nproc_per_node=2 -m digitlab train ...                         one machine
    torchrun --nnodes=2 --nproc_per_node=1 --rdzv_backend=c10d \\
             --rdzv_endpoint=HOST:29400 -m digitlab train ...                  on each of two machines

torchrun tells each process its RANK, LOCAL_RANK and WORLD_SIZE. Every process holds the
whole data set in memory (MNIST is 47 MB) and draws the same permutation and the same
augmentation of each global batch from the same seeded generator, then runs forward and
backward on its own slice of it; DDP averages the gradients, so every step is the step one
process would take on the global batch (`--batch-size` is the global batch). BatchNorm:
on GPUs the layers become SyncBatchNorm and see the global batch too; gloo (CPU) has no
SyncBatchNorm, so there each process normalises with its slice's statistics.
Only rank 0 writes checkpoints, metrics and logs.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist
import torch.nn as nn

from digitlab.errors import ConfigError
from digitlab.utils.device import resolve_device


def backend_for(device: torch.device) -> str:
    """PyTorch's collective backend for the device: NCCL between GPUs, gloo between CPUs."""
    return "nccl" if device.type == "cuda" else "gloo"


@dataclass(frozen=True)
class Distributed:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @classmethod
    def from_env(cls) -> Distributed:
        """The process's place in a torchrun job, or a single process when not started by torchrun."""
        try:
            return cls(int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)),
                       int(os.environ.get("LOCAL_RANK", 0)))
        except ValueError:
            raise ConfigError("RANK, WORLD_SIZE and LOCAL_RANK must be integers (torchrun sets them)") from None

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def start(self, device_name: str, batch_size: int) -> torch.device:
        """Join the process group (gloo on CPU, NCCL on GPU) and return this process's device."""
        device = resolve_device(device_name)
        if not self.enabled:
            return device
        if batch_size % self.world_size:
            raise ConfigError(f"--batch-size {batch_size} is the global batch: it must be a multiple of the "
                              f"{self.world_size} processes")
        if device.type == "cuda":
            device = torch.device("cuda", self.local_rank)
            torch.cuda.set_device(device)
        if not self.is_main:
            logging.getLogger("digitlab").setLevel(logging.WARNING)  # one process speaks
        if not dist.is_initialized():
            try:
                dist.init_process_group(backend_for(device), timeout=timedelta(minutes=15))
            except (ValueError, RuntimeError) as exc:  # WORLD_SIZE set by hand, no MASTER_ADDR, unreachable peer
                raise ConfigError(f"cannot join the process group of {self.world_size} processes "
                                  f"(start several processes with torchrun): {str(exc).splitlines()[0]}") from None
        return device

    def close(self) -> None:
        if self.enabled and dist.is_initialized():
            dist.destroy_process_group()

    def wrap(self, model: nn.Module, device: torch.device) -> nn.Module:
        """The module the training steps run through: DDP around `model` when distributed."""
        if not self.enabled:
            return model
        if device.type == "cuda":
            model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
        return nn.parallel.DistributedDataParallel(model, device_ids=[device] if device.type == "cuda" else None)

    def shard(self, *tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """This process's slice of a global batch."""
        if not self.enabled:
            return tensors
        return tuple(t.tensor_split(self.world_size)[self.rank] for t in tensors)

    def all_sum(self, values: list[float], device: torch.device) -> list[float]:
        """Element-wise sums over all processes (epoch totals: loss, mistakes, images)."""
        if not self.enabled:
            return values
        tensor = torch.tensor(values, dtype=torch.float64, device=device)
        dist.all_reduce(tensor)
        return tensor.tolist()

    def sync_buffers(self, model: nn.Module) -> None:
        """Give every process rank 0's BatchNorm running statistics (each updated them on its own slice)."""
        if not self.enabled:
            return
        for buffer in model.buffers():
            dist.broadcast(buffer, src=0)

    @contextlib.contextmanager
    def main_first(self) -> Iterator[None]:
        """Rank 0 runs the block first (it downloads the data into the cache), then the others."""
        if self.enabled and not self.is_main:
            dist.barrier()
        yield
        if self.enabled and self.is_main:
            dist.barrier()
