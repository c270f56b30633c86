"""Named training recipes: the settings that reach a good model fastest, per engine and data set.

A recipe fills in the options the user did not give (`TrainConfig.explicit` lists the
ones they did), and it is resolved once, when a run starts, after the data set is resolved:
`digitlab train` on a machine without MNIST falls back to mnist-5k and gets mnist-5k's recipe.
The checkpoint stores the resolved settings; a resumed run uses those, not this table.
Each recipe's evidence is the benchmark named beside it; the figures are in the README.

PyTorch engine (RECIPES):
  fast  the default: digitnet-lite-dense for digits, digitnet-fast for clothes, digitnet otherwise;
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

from dataclasses import replace

from digitlab.errors import ConfigError
from digitlab.training.config import TrainConfig

# precision "auto": bf16 where the device computes it natively, fp32 where it would only be emulated
_COMMON = dict(model="digitnet", optimizer="adamw", schedule="onecycle", precision="auto", label_smoothing=0.1)
# digits as people write and photograph them: other pens (strokes up to 1 px thicker or thinner) and a quarter
# seen as small scans; on the real test digits this keeps the 28x28 accuracy and reads small scans and markers
# better (benchmarks/robustness.py; a share of 0.4 read no better and cost the 28x28 accuracy a tenth of a point)
_DIGIT_PENS = dict(stroke_width=1.0, low_resolution=0.25)
# a fifth more pictures that are no digit, as the class "not a digit": refuses ~94% of unseen non-digits and 0.2-0.3%
# of real digits (with the elastic warps below; ~0.4% without); a share of 0.1 refused 90% (benchmarks/whole_numbers.py)
_NOT_DIGITS = dict(non_digits=0.2)
# elastic warps of 1 px (3x3 control points) on top of the affine ones: mnist-5k's fast recipe 98.72% -> 98.91% on the
# real test digits (mean of seeds 1-3, a refused digit counted wrong), mostly fewer real digits refused; 2 px (4x4) bent
# them too far (98.1%) (README, "Elastic warps")
_FAST_DIGITS = dict(_COMMON, model="digitnet-lite-dense", batch_size=128, lr=6e-3, shift_pixels=2, rotate_degrees=10,
                    scale=0.1, elastic=1.0, **_DIGIT_PENS, **_NOT_DIGITS)

RECIPES: dict[str, dict[str, dict]] = {
    "fast": {
        # 5,000 digits: affine augmentation does the most; digitnet-lite-dense answers faster than digitnet-fast
        # for a few hundredths of a point less (benchmarks/speed.py prints both)
        "mnist-5k": dict(_FAST_DIGITS, epochs=24, val_fraction=0.0, tta=True),
        "mnist": dict(_FAST_DIGITS, epochs=3, val_fraction=0.1),
        # clothes: mirror images are free data; lr 7e-3 beat 5e-3 and 1e-2 (benchmarks/speed.py; README)
        "fashion-mnist": dict(_COMMON, model="digitnet-fast", epochs=5, batch_size=128, lr=7e-3, hflip=True,
                              val_fraction=0.0, tta=True),
        # photos in class folders (cats vs dogs): mirror images and shifts
        "folder": dict(_COMMON, epochs=10, batch_size=64, lr=3e-3, hflip=True, shift_pixels=4, val_fraction=0.1),
        "*": dict(_COMMON, epochs=5, batch_size=64, lr=3e-3, val_fraction=0.1),
    },
    "best": {
        # every digit augmentation of the fast recipes (_FAST_DIGITS) on a wider network, longer; without the elastic
        # warps it read the real test digits at 99.00%, with them 99.16% (seed 1, ~3 min; the ceiling of 5,000 digits
        # is ~99.2-99.3% however much compute is spent, benchmarks/ceiling.py)
        "mnist-5k": dict(_FAST_DIGITS, model="digitnet-wide", epochs=40, lr=4e-3, rotate_degrees=12, scale=0.12,
                         val_fraction=0.0, tta=True),
        # (elastic warps as the fast mnist recipe has them; neither was measured on full MNIST: it cannot be downloaded)
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
        # 5,000 digits through numpy-lenet in about half a minute on 2 cores (benchmarks/numpy_engine.py)
        # 5,000 digits through numpy-digitnet (BatchNorm) in the PyTorch fast recipe's settings, 24 epochs (about a
        # minute on 2 cores): 99.08-99.18% on real test digits over 3 seeds (98.96-99.20% without the elastic warps),
        # where numpy-lenet's 20 epochs of shifts gave 97.6-97.7%; 30 epochs were no better (benchmarks/numpy_engine.py)
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
