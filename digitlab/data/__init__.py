"""Data sets, IDX files, downloads, batches, and MNIST-style image preprocessing."""

from digitlab.data.datasets import DATASET_NAMES, DigitDataset, Split, load_dataset
from digitlab.data.loader import BatchLoader, normalize
from digitlab.data.preprocess import preprocess_image

__all__ = ["DATASET_NAMES", "BatchLoader", "DigitDataset", "Split", "load_dataset", "normalize", "preprocess_image"]
