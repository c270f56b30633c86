"""Data sets: IDX files, downloads, image folders, splits, batches, augmentation, and generated pictures
(moving digits, non-digits).

The names below are imported on first use, so that importing one module does not import torch.
"""

import importlib

_EXPORTS = {
    "DATASET_NAMES": "datasets", "DigitDataset": "datasets", "Split": "datasets", "load_dataset": "datasets",
    "BatchLoader": "loader", "normalize": "loader",
}
__all__ = ["DATASET_NAMES", "BatchLoader", "DigitDataset", "Split", "load_dataset", "normalize"]


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'digitlab.data' has no attribute {name!r}")
    return getattr(importlib.import_module(f"digitlab.data.{_EXPORTS[name]}"), name)
