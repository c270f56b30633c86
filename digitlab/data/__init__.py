"""Data sets, IDX files, downloads, batches, and MNIST-style image preprocessing.

The names below are imported on first use, so that `digitlab.data.preprocess` (NumPy and
Pillow only) can be used without importing torch, as the ONNX Runtime predictor does.
"""

import importlib

_EXPORTS = {
    "DATASET_NAMES": "datasets", "DigitDataset": "datasets", "Split": "datasets", "load_dataset": "datasets",
    "BatchLoader": "loader", "normalize": "loader", "preprocess_image": "preprocess",
}
__all__ = ["DATASET_NAMES", "BatchLoader", "DigitDataset", "Split", "load_dataset", "normalize", "preprocess_image"]


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'digitlab.data' has no attribute {name!r}")
    return getattr(importlib.import_module(f"digitlab.data.{_EXPORTS[name]}"), name)
