"""Named training recipes: the settings that reach a good model fastest, per engine and data set.

A recipe fills in the options the user did not give (`TrainConfig.explicit` lists the
ones they did), and it is resolved once, when a run starts, after the data set is resolved:
`digitlab train` on a machine without MNIST falls back to mnist-5k and gets mnist-5k's recipe.
The checkpoint stores the resolved settings; a resumed run uses those, not this table.
Each recipe's evidence is the benchmark named beside it; the figures are in docs/models.md and docs/benchmarks.md.

PyTorch engine (RECIPES):
  fast  the default: digitnet-fast for digits and clothes, digitnet otherwise;
        bfloat16 autocast where the hardware has it, one-cycle AdamW, label smoothing, batch augmentation
        (benchmarks/speed.py); digits also learn the class "not a digit" (benchmarks/whole_numbers.py)
  best  longer training of a wider digitnet, for the last fraction of a point
  none  TrainConfig's plain defaults (seed-cnn, 4 epochs, fp32): the tutorial setting
NumPy engine (NUMPY_RECIPES):
  fast  the default: numpy-digitnet with the digit augmentations on mnist-5k, numpy-lenet elsewhere; one-cycle
        Adam (benchmarks/numpy_engine.py)
  none  TrainConfig's plain defaults with numpy-lenet
"""

from __future__ import annotations

import logging
from dataclasses import replace

import torch

from digitlab.errors import ConfigError
from digitlab.training.config import TrainConfig
from digitlab.utils.device import native_bf16

log = logging.getLogger("digitlab")

# Units: lr is the one-cycle schedule's peak; shift_pixels, stroke_width and elastic are pixels at 28x28; rotate_degrees
# degrees; scale a share (zoom in [1 - s, 1 + s]); low_resolution and non_digits shares of the training set.

# precision "auto": bf16 where the device computes it natively, fp32 where it would only be emulated
_COMMON = dict(model="digitnet", optimizer="adamw", schedule="onecycle", precision="auto", label_smoothing=0.1)
# digits as people write and photograph them: other pens and a quarter of them seen as small scans, which reads small
# scans and markers better without losing 28x28 accuracy; evidence: benchmarks/robustness.py
_DIGIT_PENS = dict(stroke_width=1.0, low_resolution=0.25)
# pictures that are no digit, a fifth of the training set, as the class "not a digit"; evidence:
# benchmarks/whole_numbers.py (refusal rows)
_NOT_DIGITS = dict(non_digits=0.2)
# elastic warps of 1 px (3x3 control points) on top of the affine ones: fewer real digits refused and misread;
# evidence: docs/models.md, "Elastic warps"
_WARPS = dict(elastic=1.0)
# digits in the styles MNIST lacks (a 1 with a flag, a crossed 7, an open 4, ...), a fifth of the training set:
# every style read as well as MNIST's own; digitnet-fast's capacity keeps the real digits read as before (with
# digitnet-lite-dense they lose ~0.15 points); evidence: benchmarks/styles.py, docs/models.md ("Styles")
_STYLES = dict(styled_digits=0.2)
_FAST_DIGITS = dict(_COMMON, model="digitnet-fast", batch_size=128, lr=6e-3, shift_pixels=2, rotate_degrees=10,
                    scale=0.1, **_WARPS, **_DIGIT_PENS, **_NOT_DIGITS, **_STYLES)

RECIPES: dict[str, dict[str, dict]] = {
    "fast": {
        # 5,000 digits: affine and elastic augmentation do the most
        "mnist-5k": dict(_FAST_DIGITS, epochs=24, val_fraction=0.0, tta=True),
        "mnist": dict(_FAST_DIGITS, epochs=3, val_fraction=0.1),
        # clothes: mirror images are free data; lr chosen among 5e-3, 7e-3 and 1e-2 (evidence: benchmarks/speed.py)
        "fashion-mnist": dict(_COMMON, model="digitnet-fast", epochs=5, batch_size=128, lr=7e-3, hflip=True,
                              val_fraction=0.0, tta=True),
        # photos in class folders (cats vs dogs): mirror images and shifts
        "folder": dict(_COMMON, epochs=10, batch_size=64, lr=3e-3, hflip=True, shift_pixels=4, val_fraction=0.1),
        "*": dict(_COMMON, epochs=5, batch_size=64, lr=3e-3, val_fraction=0.1),
    },
    "best": {
        # every digit augmentation of the fast recipes on a wider network, longer: the last fraction of a point
        # that 5,000 digits allow (evidence: benchmarks/ceiling.py)
        "mnist-5k": dict(_FAST_DIGITS, model="digitnet-wide", epochs=40, lr=4e-3, rotate_degrees=12, scale=0.12,
                         val_fraction=0.0, tta=True),
        # full MNIST cannot be downloaded where digitlab is developed: this recipe is the mnist-5k one's, unmeasured
        "mnist": dict(_FAST_DIGITS, model="digitnet-wide", epochs=15, lr=4e-3, val_fraction=0.1, tta=True),
        "fashion-mnist": dict(_COMMON, model="digitnet-wide", epochs=30, batch_size=128, lr=3e-3, hflip=True,
                              shift_pixels=2, tta=True),
        "folder": dict(_COMMON, model="resnet18", epochs=30, batch_size=64, lr=2e-3, hflip=True, shift_pixels=6,
                       rotate_degrees=10, scale=0.1, tta=True),
        "*": dict(_COMMON, model="digitnet-wide", epochs=20, batch_size=64, lr=3e-3),
    },
    "none": {"*": {}},
}


_NUMPY_DIGITS = dict(model="numpy-lenet", optimizer="adamw", schedule="onecycle", batch_size=64, lr=4e-3,
                     shift_pixels=2)

NUMPY_RECIPES: dict[str, dict[str, dict]] = {
    "fast": {
        # 5,000 digits through numpy-digitnet (the PyTorch default model, BatchNorm) in the PyTorch fast recipe's
        # settings: about a minute on 2 cores, well above numpy-lenet (evidence: benchmarks/numpy_engine.py)
        "mnist-5k": dict(_NUMPY_DIGITS, model="numpy-digitnet", batch_size=128, lr=6e-3, rotate_degrees=10, scale=0.1,
                         elastic=1.0, label_smoothing=0.1, **_DIGIT_PENS, epochs=24, val_fraction=0.0, tta=True),
        "mnist": dict(_NUMPY_DIGITS, epochs=3, val_fraction=0.1),
        "fashion-mnist": dict(_NUMPY_DIGITS, epochs=5, shift_pixels=0, hflip=True, val_fraction=0.0),
        "*": dict(_NUMPY_DIGITS, epochs=5, shift_pixels=0, val_fraction=0.1),
    },
    "none": {"*": dict(model="numpy-lenet")},
}

RECIPE_NAMES = tuple(dict.fromkeys([*RECIPES, *NUMPY_RECIPES]))


def recipe_settings(recipe: str, dataset: str, engine: str = "torch") -> dict:
    tables = NUMPY_RECIPES if engine == "numpy" else RECIPES
    if recipe not in tables:
        raise ConfigError(f"unknown recipe {recipe!r} for the {engine} engine: choose one of {', '.join(tables)}")
    table = tables[recipe]
    kind = dataset.split(":")[0]  # "folder:DIR" -> "folder"
    return dict(table.get(dataset, table.get(kind, table["*"])))


def apply_recipe(cfg: TrainConfig, dataset: str) -> TrainConfig:
    """`cfg` with the recipe's settings for `dataset` and its engine wherever the user gave no value."""
    if not cfg.recipe:
        return cfg
    settings = {k: v for k, v in recipe_settings(cfg.recipe, dataset, cfg.engine).items() if k not in cfg.explicit}
    return replace(cfg, **settings).validate()


def resolve_recipe(cfg: TrainConfig, dataset: str, device: torch.device) -> TrainConfig:
    """The settings a new run trains with, stored as they are: the recipe applied for the data set actually
    loaded, and precision "auto" made bf16 or fp32 for `device`."""
    cfg = apply_recipe(cfg, dataset)
    if cfg.precision == "auto":
        cfg = replace(cfg, precision="bf16" if cfg.engine == "torch" and native_bf16(device) else "fp32")
    if cfg.recipe:
        log.info(f"recipe {cfg.recipe} for {dataset}: {cfg.model}, {cfg.epochs} epochs, "
                 f"batch {cfg.batch_size}, lr {cfg.lr}, {cfg.precision}" + (", TTA" if cfg.tta else ""))
    return cfg
