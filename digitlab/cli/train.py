"""digitlab train: train a model and report its test accuracy.

Under torchrun (torchrun --nproc_per_node=N -m digitlab train ...) the processes train one
model with DistributedDataParallel; --batch-size is the global batch. See docs/training.md.

Options that are not given take the value of the recipe (--recipe fast by default) for the
data set being trained on; the chosen settings are printed and saved in the checkpoint.
"""

from __future__ import annotations

from digitlab.cli.common import add_data_options, add_device, add_json, print_json
from digitlab.errors import ConfigError
from digitlab.training import TrainConfig, train
from digitlab.training.config import ENGINES, OPTIMIZERS, PRECISIONS, SCHEDULES
from digitlab.training.distributed import Distributed
from digitlab.training.recipes import RECIPE_NAMES

# option name -> TrainConfig field it sets (all default to None: "not given on the command line")
_OVERRIDES = ["dataset", "engine", "model", "epochs", "batch_size", "lr", "optimizer", "weight_decay", "schedule",
              "label_smoothing", "shift_pixels", "rotate_degrees", "scale", "precision", "val_fraction", "seed",
              "data_dir", "test_set", "image_size", "stroke_width", "low_resolution",
              "elastic", "non_digits", "styled_digits"]


def add_parser(commands) -> None:
    defaults = TrainConfig()
    p = commands.add_parser("train", help="train a model", description=__doc__)
    p.set_defaults(run=run)
    add_data_options(p, default=None)
    p.add_argument("--recipe", choices=RECIPE_NAMES, default=None,
                   help="preset settings per engine and data set for the options not given: fast (default), "
                        "best (torch engine), or none (plain defaults); see docs/models.md")
    p.add_argument("--model", help="model name, see 'digitlab models' (default: the recipe's, digitnet-fast "
                                   "for digits and clothes, digitnet otherwise; numpy-lenet with --engine numpy)")
    p.add_argument("--engine", choices=ENGINES, help="torch, or numpy: the from-scratch NumPy network "
                                                     "(models numpy-lenet, numpy-seed) (default: torch)")
    p.add_argument("--epochs", type=int,
                   help=f"passes over the training data (default: the recipe's, else {defaults.epochs})")
    p.add_argument("--batch-size", type=int,
                   help=f"images per step (default: the recipe's, else {defaults.batch_size})")
    p.add_argument("--lr", type=float, help=f"peak learning rate (default: the recipe's, else {defaults.lr})")
    p.add_argument("--optimizer", choices=OPTIMIZERS, help=f"(default: the recipe's, else {defaults.optimizer})")
    p.add_argument("--weight-decay", type=float, help=f"(default: the recipe's, else {defaults.weight_decay})")
    p.add_argument("--schedule", choices=SCHEDULES,
                   help=f"learning-rate schedule (default: the recipe's, else {defaults.schedule})")
    p.add_argument("--label-smoothing", type=float, help=f"(default: the recipe's, else {defaults.label_smoothing})")
    p.add_argument("--shift-pixels", type=int,
                   help=f"random shift augmentation (default: the recipe's, else {defaults.shift_pixels})")
    p.add_argument("--rotate-degrees", type=float,
                   help="random rotation augmentation, degrees (default: the recipe's, else 0)")
    p.add_argument("--scale", type=float, help="random zoom augmentation in [1-s, 1+s] (default: the recipe's, else 0)")
    p.add_argument("--stroke-width", type=float, metavar="PIXELS",
                   help="random thicker or thinner strokes by up to PIXELS (default: the recipe's, else 0)")
    p.add_argument("--low-resolution", type=float, metavar="SHARE",
                   help="share of training images seen as small scans, enlarged back (default: the recipe's, else 0)")
    p.add_argument("--elastic", type=float, metavar="PIXELS",
                   help="random smooth bends of the strokes, as a hand wobbles, of about PIXELS (default: the "
                        "recipe's, else 0)")
    p.add_argument("--non-digits", type=float, metavar="SHARE",
                   help="digit data sets: add generated non-digits (letters, scribbles, shapes, pairs of digits, "
                        "clothes) as SHARE of the training split, as a class 'not a digit' the model answers for "
                        "pictures that are no digit (default: the recipe's, else 0)")
    p.add_argument("--styled-digits", type=float, metavar="SHARE",
                   help="digit data sets: add digits drawn in the styles people write them and MNIST lacks (a 1 with a "
                        "flag, a crossed 7, an open 4, ...) as SHARE of the training split (default: the recipe's, "
                        "else 0)")
    p.add_argument("--precision", choices=PRECISIONS, help="bf16 autocasts convolutions and matmuls; auto: bf16 "
                                                           "where the hardware computes it natively, else fp32 "
                                                           "(default: the recipe's, auto; else fp32)")
    p.add_argument("--val-fraction", type=float, help=f"share of training data held out for validation "
                                                      f"(default: the recipe's, else {defaults.val_fraction})")
    p.add_argument("--test-set", metavar="NAME", help="evaluate on this data set's test split instead "
                                                      "(e.g. idx:DIR holding a t10k or other IDX pair)")
    p.add_argument("--image-size", type=int, metavar="PIXELS",
                   help=f"folder: data sets: pictures are fitted to PIXELS x PIXELS (default: {defaults.image_size})")
    p.add_argument("--seed", type=int, help=f"random seed; the same seed gives the same run on CPU "
                                            f"(default: the recipe's, else {defaults.seed})")
    add_device(p)
    p.add_argument("--out", metavar="RUN_DIR", help="run folder for checkpoint.pt and metrics.jsonl "
                                                    "(default: runs/DATASET-MODEL-TIME)")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue the run in RUN_DIR where it stopped")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_json(p)


def _config(args) -> TrainConfig:
    """The options given on the command line, as a config; a recipe fills in the rest when a new run starts."""
    given = {name: getattr(args, name) for name in _OVERRIDES if getattr(args, name) is not None}
    return TrainConfig(**given, recipe=args.recipe or "fast", explicit=sorted(given), device=args.device)


def run(args) -> int:
    if args.resume and args.recipe:
        raise ConfigError("--resume continues a run with the recipe it started with; drop --recipe")
    if args.resume and args.out:
        raise ConfigError("give either --out or --resume, not both")
    cfg = _config(args)
    result = train(cfg, run_dir=args.resume or args.out, resume=bool(args.resume), progress=not args.no_progress)
    if not Distributed.from_env().is_main:
        return 0  # under torchrun, rank 0 reports for all
    summary = result.summary()
    if args.json:
        print_json(summary)
    else:
        val = f", validation accuracy {summary['val_accuracy']:.2%}" if summary["val_accuracy"] is not None else ""
        print(f"test accuracy {summary['test_accuracy']:.2%}{val} "
              f"({result.dataset.name}, {summary['model']}, {summary['epochs']} epochs, "
              f"{summary['train_seconds']:.1f} s, "
              f"{summary['train_images_per_s']:.0f} images/s)")
        print(f"checkpoint: {summary['checkpoint']}")
    return 0
