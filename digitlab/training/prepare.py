"""The data a run trains on: its recipe resolved for the data set actually loaded, and its train,
validation and test splits on the training device."""

from __future__ import annotations

import logging

import torch

from digitlab.data.datasets import DIGITS, DigitDataset, Split, is_picture_dataset, load_dataset
from digitlab.data.handwriting import with_styled_digits
from digitlab.data.non_digits import with_non_digits
from digitlab.data.splits import stratified_split
from digitlab.errors import ConfigError, DataError
from digitlab.training.config import TrainConfig
from digitlab.training.recipes import resolve_recipe

log = logging.getLogger("digitlab")


def prepare_data(cfg: TrainConfig, device: torch.device,
                 resolve: bool = True) -> tuple[TrainConfig, DigitDataset, Split, Split, Split]:
    """The config with its recipe resolved, the data set, and its train/val/test splits on `device`.

    The recipe is resolved once, when a run starts, and once the data set is known (`mnist` may
    have fallen back to `mnist-5k`); a resumed run passes resolve=False and keeps the settings its
    checkpoint stored, whatever the recipe table says today. Validation is carved from the training data.
    """
    if "image_size" in cfg.explicit and not is_picture_dataset(cfg.dataset):
        raise ConfigError(f"--image-size applies to folder: data sets; {cfg.dataset} has its own image size")
    dataset = load_dataset(cfg.dataset, cfg.data_dir, test_set=cfg.test_set, image_size=cfg.image_size)
    if resolve:
        cfg = resolve_recipe(cfg, dataset.name, device)
    if dataset.train is None:
        raise DataError(f"{cfg.dataset}: has no training split (no train-images/train-labels files)")
    if dataset.test is None:
        raise DataError(f"{cfg.dataset}: has no test split (give one with --test-set)")
    train_idx, val_idx = stratified_split(dataset.train.labels, cfg.val_fraction, cfg.seed)
    train_split = with_generated(dataset, dataset.train.subset(train_idx), cfg)
    splits = (train_split.to(device), dataset.train.subset(val_idx).to(device), dataset.test.to(device))
    log.info(f"data: {dataset.name} ({dataset.source}): {len(splits[0])} train, {len(splits[1])} val, "
             f"{len(splits[2])} test on {device}")
    return (cfg, dataset, *splits)


def with_generated(dataset: DigitDataset, train: Split, cfg: TrainConfig) -> Split:
    """`train` with the pictures the config asks to add to a digit data set: non-digits (as a class of their own)
    and digits drawn in the styles MNIST lacks. The board's fine-tuning adds them as training did."""
    if cfg.non_digits:
        train = with_non_digits(dataset, train, cfg.non_digits, cfg.seed, cfg.data_dir)
    if cfg.styled_digits:
        if dataset.classes[:10] != DIGITS or (dataset.in_channels, dataset.image_size) != (1, 28):
            raise ConfigError(f"--styled-digits applies to digit data sets (28x28, classes 0-9), not {dataset.name}")
        train = with_styled_digits(train, cfg.styled_digits, cfg.seed)
    return train
