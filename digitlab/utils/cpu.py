"""How many cores this process may run on (torch-free: the ONNX predictor uses it too)."""

from __future__ import annotations

import os


def usable_cores() -> int:
    """The cores this process may use (its affinity mask, as a container or `taskset` set it), at least 1."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
