"""Named training recipes: the settings that reach a good model fastest, per data set.

A recipe fills in the options the user did not give (`TrainConfig.explicit` lists the
ones they did), and it is chosen after the data set is resolved: `digitlab train` on a
machine without MNIST falls back to mnist-5k and gets mnist-5k's recipe.

  fast  the default: digitnet-lite-dense for digits, digitnet-fast for clothes, digitnet otherwise;
        bfloat16 autocast, one-cycle AdamW, label smoothing, batch augmentation
  best  longer training of a wider digitnet, for the last fraction of a point
  none  TrainConfig's plain defaults (seed-cnn, 4 epochs, fp32): the tutorial setting
"""

from __future__ import annotations

from dataclasses import replace

from digitlab.errors import ConfigError
from digitlab.training.config import TrainConfig

_COMMON = dict(model="digitnet", optimizer="adamw", schedule="onecycle", precision="bf16", label_smoothing=0.1)
_FAST_DIGITS = dict(_COMMON, model="digitnet-lite-dense", batch_size=128, lr=6e-3, shift_pixels=2, rotate_degrees=10,
                    scale=0.1)

RECIPES: dict[str, dict[str, dict]] = {
    "fast": {
        # 5,000 digits: affine augmentation does the most; 24 epochs of 5,000 through digitnet-lite-dense take ~18 s
        # on 2 cores: 99.20/99.20/99.08% on real MNIST test digits, seeds 0/1/2, and it answers ~1.6x as fast as
        # digitnet-fast (99.28/99.28/99.18% in ~21 s); digitnet: 99.04% in ~27 s
        "mnist-5k": dict(_FAST_DIGITS, epochs=24, val_fraction=0.0, tta=True),
        "mnist": dict(_FAST_DIGITS, epochs=3, val_fraction=0.1),
        # clothes: mirror images are free data; 5 epochs of 60,000 through digitnet-fast take ~52 s on 2 cores:
        # 93.64/93.64/93.59%, seeds 0/1/2 (lr 5e-3 93.49%, 1e-2 93.63%; digitnet-poolfirst 93.10% in ~58 s)
        "fashion-mnist": dict(_COMMON, model="digitnet-fast", epochs=5, batch_size=128, lr=7e-3, hflip=True,
                              val_fraction=0.0, tta=True),
        # photos in class folders (cats vs dogs): mirror images and shifts
        "folder": dict(_COMMON, epochs=10, batch_size=64, lr=3e-3, hflip=True, shift_pixels=4, val_fraction=0.1),
        "*": dict(_COMMON, epochs=5, batch_size=64, lr=3e-3, val_fraction=0.1),
    },
    "best": {
        "mnist-5k": dict(_COMMON, model="digitnet-wide", epochs=40, batch_size=128, lr=4e-3, shift_pixels=2,
                         rotate_degrees=12, scale=0.12, val_fraction=0.0, tta=True),
        "mnist": dict(_COMMON, model="digitnet-wide", epochs=15, batch_size=128, lr=4e-3, shift_pixels=2,
                      rotate_degrees=10, scale=0.1, tta=True),
        "fashion-mnist": dict(_COMMON, model="digitnet-wide", epochs=30, batch_size=128, lr=3e-3, hflip=True,
                              shift_pixels=2, tta=True),
        "folder": dict(_COMMON, model="resnet18", epochs=30, batch_size=64, lr=2e-3, hflip=True, shift_pixels=6,
                       rotate_degrees=10, scale=0.1, tta=True),
        "*": dict(_COMMON, model="digitnet-wide", epochs=20, batch_size=64, lr=3e-3),
    },
    "none": {"*": {}},
}


def recipe_settings(recipe: str, dataset: str) -> dict:
    if recipe not in RECIPES:
        raise ConfigError(f"unknown recipe {recipe!r}: choose one of {', '.join(RECIPES)}")
    table = RECIPES[recipe]
    kind = dataset.split(":")[0]  # "folder:DIR" -> "folder"
    return dict(table.get(dataset, table.get(kind, table["*"])))


def apply_recipe(cfg: TrainConfig, dataset: str) -> TrainConfig:
    """`cfg` with the recipe's settings for `dataset` wherever the user gave no value."""
    if not cfg.recipe:
        return cfg
    settings = {k: v for k, v in recipe_settings(cfg.recipe, dataset).items() if k not in cfg.explicit}
    return replace(cfg, **settings).validate()
