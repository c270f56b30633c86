"""Everything that defines a training run, in one dataclass saved with every checkpoint."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

from digitlab.errors import ConfigError

ENGINES = ("torch", "numpy")
OPTIMIZERS = ("adamw", "sgd")
PRECISIONS = ("fp32", "bf16", "auto")
SCHEDULES = ("onecycle", "cosine", "constant")


@dataclass
class TrainConfig:
    dataset: str = "mnist"
    engine: str = "torch"        # "numpy": the from-scratch engine in digitlab.numpy_cnn
    model: str = "seed-cnn"
    epochs: int = 4
    batch_size: int = 64
    lr: float = 3e-3             # peak learning rate of the schedule
    optimizer: str = "adamw"
    momentum: float = 0.9        # SGD only
    weight_decay: float = 1e-4
    schedule: str = "onecycle"   # linear warm-up to `lr`, then cosine decay to zero
    warmup_fraction: float = 0.15
    label_smoothing: float = 0.0
    shift_pixels: int = 0        # random translation of each training digit, in pixels (augmentation)
    rotate_degrees: float = 0.0  # random rotation in [-d, d] degrees (with scale: one affine warp per image)
    scale: float = 0.0           # random zoom in [1 - s, 1 + s]
    hflip: bool = False          # random horizontal flips (clothes, not digits)
    stroke_width: float = 0.0    # random thicker or thinner strokes, by up to this many pixels (pens and markers)
    low_resolution: float = 0.0  # share of training images seen as a small scan (7-14 px across, enlarged back)
    elastic: float = 0.0         # random smooth bends of the strokes (a hand's wobble), pixels (std at 3x3 points)
    non_digits: float = 0.0      # digit data sets: pictures that are no digit (letters, scribbles, ...) added to the
                                 # training split, as a share of it, as an eleventh class "not a digit"
    styled_digits: float = 0.0   # digit data sets: digits drawn from templates of the ways people write them (a 1 with
                                 # a flag, a crossed 7, ...) added to the training split, as a share of it
    precision: str = "fp32"      # "bf16": autocast matmuls and convolutions to bfloat16; "auto": bf16 where the
                                 # device computes it natively (AVX-512 BF16, AMX, recent GPUs), else fp32
    tta: bool = False            # test-time augmentation: average the logits over small shifts (and flips with hflip)
    val_fraction: float = 0.1    # carved from the training data, stratified and seeded
    seed: int = 1
    device: str = "auto"
    data_dir: str | None = None
    test_set: str | None = None  # another data set whose test split replaces this one's
    image_size: int = 64         # folder: data sets: pictures are fitted to image_size squares
    eval_batch_size: int = 500
    channels_last: bool = True   # NHWC layout: oneDNN's faster CPU convolutions (benchmarks/zoo.py)
    log_every: int = 10          # steps between per-step records in metrics.jsonl
    recipe: str | None = None    # fills in the settings not in `explicit`, per data set (see recipes.py)
    explicit: list[str] = field(default_factory=list)  # settings the user gave, which a recipe keeps

    def validate(self) -> TrainConfig:
        checks = [
            (self.epochs >= 1, f"--epochs must be at least 1, not {self.epochs}"),
            (self.batch_size >= 1, f"--batch-size must be at least 1, not {self.batch_size}"),
            (self.lr > 0, f"--lr must be positive, not {self.lr}"),
            (0 <= self.val_fraction < 1, f"--val-fraction must be in [0, 1), not {self.val_fraction}"),
            (0 <= self.warmup_fraction < 1, f"warmup_fraction must be in [0, 1), not {self.warmup_fraction}"),
            (0 <= self.label_smoothing < 1, f"--label-smoothing must be in [0, 1), not {self.label_smoothing}"),
            (0 <= self.rotate_degrees <= 180, f"--rotate-degrees must be in 0..180, not {self.rotate_degrees}"),
            (0 <= self.scale < 1, f"--scale must be in [0, 1), not {self.scale}"),
            (0 <= self.shift_pixels <= 8, f"--shift-pixels must be in 0..8, not {self.shift_pixels}"),
            (0 <= self.stroke_width <= 2, f"--stroke-width must be in 0..2 pixels, not {self.stroke_width}"),
            (0 <= self.low_resolution <= 1, f"--low-resolution must be in [0, 1], not {self.low_resolution}"),
            (0 <= self.elastic <= 4, f"--elastic must be in 0..4 pixels, not {self.elastic}"),
            (0 <= self.non_digits <= 1, f"--non-digits must be in [0, 1], not {self.non_digits}"),
            (0 <= self.styled_digits <= 1, f"--styled-digits must be in [0, 1], not {self.styled_digits}"),
            (self.engine in ENGINES, f"unknown engine {self.engine!r}: choose one of {', '.join(ENGINES)}"),
            (self.optimizer in OPTIMIZERS,
             f"unknown optimizer {self.optimizer!r}: choose one of {', '.join(OPTIMIZERS)}"),
            (self.precision in PRECISIONS,
             f"unknown precision {self.precision!r}: choose one of {', '.join(PRECISIONS)}"),
            (self.schedule in SCHEDULES, f"unknown schedule {self.schedule!r}: choose one of {', '.join(SCHEDULES)}"),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(message)
        return self

    def resumed_from(self, saved: dict) -> TrainConfig:
        """The run's stored settings (recipe resolved when it started); only `epochs` and `device` come
        from this config: a run resumes exactly as it started (nanoGPT's train.py does the same)."""
        resumed = TrainConfig.from_dict(saved)
        if self.epochs != resumed.epochs:
            resumed.epochs, resumed.explicit = self.epochs, sorted({*resumed.explicit, "epochs"})
        resumed.device = self.device
        return resumed

    def augmentation(self) -> dict:
        """The batch augmentation settings, as data.augment.augment_batch takes them."""
        return {"shift_pixels": self.shift_pixels, "rotate_degrees": self.rotate_degrees, "scale": self.scale,
                "hflip": self.hflip, "stroke_width": self.stroke_width, "low_resolution": self.low_resolution,
                "elastic": self.elastic}

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})
