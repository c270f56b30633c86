"""Image folders as data sets: `folder:DIR` with one sub-folder of pictures per class.

    DIR/cat/0001.jpg, DIR/dog/0001.png, ...            test split held out (20%, seeded)
    DIR/train/cat/..., DIR/test/cat/...                 the given train and test splits

Pictures of any size, colour or grey, are fitted to `image_size` squares (shorter side
scaled, centre cropped); the data set is grey (1 channel) only when every picture is.
Unreadable files are skipped and counted, never a crash. Nothing outside DIR is read:
a symbolic link that leads out of DIR is refused. Decoded pictures are cached (keyed by
every file's path, size and modification time), so a second run does not decode them again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from digitlab.data.download import cache_root
from digitlab.errors import DataError, ImageError
from digitlab.reading.images import load_image
from digitlab.utils.files import atomic_write

log = logging.getLogger("digitlab")

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff"}
FOLDER_TEST_FRACTION = 0.2
MAX_FOLDER_PIXELS = 8192 * 8192  # per picture: larger files are skipped as bad
CACHE_FORMAT = 1


def fit_picture(image: Image.Image, size: int, channels: int = 3) -> np.ndarray:
    """A photo of any size -> uint8 (channels, size, size): shorter side scaled to `size`, centre cropped.

    Photos (cats, dogs) keep their aspect ratio; squeezing them would distort what the
    model learns. Transparency is flattened onto white.
    """
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        background = Image.new("RGBA", image.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, image.convert("RGBA"))
    image = image.convert("RGB" if channels == 3 else "L")
    fitted = ImageOps.fit(image, (size, size), Image.Resampling.BILINEAR)
    array = np.asarray(fitted, dtype=np.uint8)
    return array.transpose(2, 0, 1).copy() if channels == 3 else array[None].copy()


@dataclass
class FolderScan:
    """What is in DIR: classes, the files of each split, and what was refused and why."""

    root: Path
    classes: list[str]
    files: dict[str, list[tuple[Path, int]]]  # split name ("all", or "train"/"test") -> (file, class index)
    refused: list[str] = field(default_factory=list)


@dataclass
class FolderImages:
    images: np.ndarray  # uint8 (N, C, S, S)
    labels: np.ndarray  # int64 (N,)
    skipped: list[str]  # "path: reason" of each file that could not be used


def scan_folder(directory: Path) -> FolderScan:
    root = directory.expanduser().resolve()
    if not root.is_dir():
        raise DataError(f"folder:{directory}: no such folder")
    split_dirs = {name: root / name for name in ("train", "test")}
    if all(d.is_dir() for d in split_dirs.values()):
        train_classes = _class_dirs(root, split_dirs["train"])
        classes = sorted(train_classes)
        scan = FolderScan(root, classes, {})
        for split, split_dir in split_dirs.items():
            class_dirs = train_classes if split == "train" else _class_dirs(root, split_dir)
            unknown = sorted(set(class_dirs) - set(classes))
            if unknown:
                raise DataError(f"folder:{directory}: test classes {unknown} have no training folder")
            scan.files[split] = _list_files(root, class_dirs, classes, scan.refused)
    else:
        class_dirs = _class_dirs(root, root)
        classes = sorted(class_dirs)
        scan = FolderScan(root, classes, {})
        scan.files["all"] = _list_files(root, class_dirs, classes, scan.refused)
    if len(classes) < 2:
        raise DataError(f"folder:{directory}: needs at least two class folders (DIR/<class>/*.jpg), "
                        f"found {len(classes)}")
    return scan


def _inside(root: Path, path: Path) -> bool:
    try:
        path.resolve().relative_to(root)
        return True
    except (ValueError, OSError, RuntimeError):  # outside root, unreadable, or a symlink loop
        return False


def _class_dirs(root: Path, parent: Path) -> dict[str, Path]:
    dirs = {}
    for entry in sorted(parent.iterdir()):
        if entry.name.startswith(".") or not entry.is_dir():
            continue
        if not _inside(root, entry):
            raise DataError(f"folder:{root}: {entry} is a link that leads outside the data folder")
        dirs[entry.name] = entry
    return dirs


def _list_files(root: Path, class_dirs: dict[str, Path], classes: list[str],
                refused: list[str]) -> list[tuple[Path, int]]:
    files = []
    for name, class_dir in class_dirs.items():
        label = classes.index(name)
        # os.walk does not descend into linked folders; linked files are checked one by one.
        for parent, dirnames, filenames in os.walk(class_dir):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for filename in sorted(filenames):
                path = Path(parent) / filename
                if filename.startswith(".") or path.suffix.lower() not in IMAGE_SUFFIXES:
                    continue
                if not _inside(root, path):
                    refused.append(f"{path}: a link that leads outside the data folder")
                    continue
                files.append((path, label))
    return files


def _decode(path: Path, size: int) -> np.ndarray | str:
    """The picture as uint8 (3, size, size), or the reason it cannot be used."""
    try:
        return fit_picture(load_image(path, max_pixels=MAX_FOLDER_PIXELS), size, channels=3)
    except ImageError as exc:
        return str(exc)
    except (OSError, ValueError) as exc:  # a picture that opens but will not convert
        return f"{path}: cannot decode image ({exc})"


def decode_files(files: list[tuple[Path, int]], size: int, progress: bool = True) -> FolderImages:
    from tqdm import tqdm
    pictures, labels, skipped = [], [], []
    # Pillow releases the GIL while decoding and resizing, so threads use every core.
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        results = pool.map(lambda item: _decode(item[0], size), files)
        for (_, label), result in tqdm(zip(files, results), total=len(files), desc="reading pictures",
                                          unit="img", leave=False, disable=None if progress else True):
            if isinstance(result, str):
                skipped.append(result)
                continue
            pictures.append(result)
            labels.append(label)
    images = np.stack(pictures) if pictures else np.zeros((0, 3, size, size), np.uint8)
    return FolderImages(images, np.asarray(labels, dtype=np.int64), skipped)


def _fingerprint(scan: FolderScan, size: int) -> str:
    import PIL

    from digitlab.version import __version__
    # A new digitlab or Pillow may decode differently (or decode what it skipped before).
    digest = hashlib.sha256(f"{CACHE_FORMAT}:{__version__}:{PIL.__version__}:{scan.root}:{size}".encode())
    for split in sorted(scan.files):
        for path, label in scan.files[split]:
            stat = path.stat()
            digest.update(f"{split}:{path}:{label}:{stat.st_size}:{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:32]


def load_folder_images(directory: Path, size: int, data_dir=None,
                       progress: bool = True) -> tuple[FolderScan, dict[str, FolderImages]]:
    """Scan DIR and decode every split, from the cache when nothing changed since the last time."""
    if not 8 <= size <= 512:
        raise DataError(f"--image-size must be in 8..512, not {size}")
    scan = scan_folder(directory)
    for reason in scan.refused[:3]:
        log.warning(f"refused {reason}")
    cache = cache_root(data_dir) / "folders" / f"{_fingerprint(scan, size)}.npz"
    if cache.is_file():
        try:
            with np.load(cache, allow_pickle=False) as stored:
                meta = json.loads(str(stored["meta"]))
                splits = {s: FolderImages(stored[f"{s}_images"], stored[f"{s}_labels"], meta["skipped"][s])
                          for s in scan.files}
            log.info(f"folder:{directory}: decoded pictures read from the cache {cache}")
            return scan, _finish(directory, scan, splits)
        except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile):
            log.warning(f"{cache}: unreadable cache file, decoding the pictures again")
    splits = {split: decode_files(files, size, progress) for split, files in scan.files.items()}
    finished = _finish(directory, scan, splits)
    arrays = {}
    for split, part in splits.items():
        arrays[f"{split}_images"], arrays[f"{split}_labels"] = part.images, part.labels
    meta = json.dumps({"skipped": {s: part.skipped for s, part in splits.items()}})
    with atomic_write(cache) as handle:
        np.savez(handle, meta=np.asarray(meta), **arrays)
    return scan, finished


def _finish(directory: Path, scan: FolderScan, splits: dict[str, FolderImages]) -> dict[str, FolderImages]:
    """Report what was skipped, check every class kept pictures, and drop colour if all pictures are grey."""
    skipped = [reason for part in splits.values() for reason in part.skipped]
    if skipped or scan.refused:
        log.warning(f"folder:{directory}: skipped {len(skipped)} unreadable picture(s) and refused "
                    f"{len(scan.refused)} link(s) leading outside the folder"
                    + (f"; first: {skipped[0]}" if skipped else ""))
    for split, part in splits.items():
        counts = np.bincount(part.labels, minlength=len(scan.classes))
        empty = [scan.classes[i] for i in np.flatnonzero(counts == 0)]
        if empty and split != "test":
            raise DataError(f"folder:{directory}: no readable pictures for class(es) {', '.join(empty)}")
    all_grey = all(_grey(part.images) for part in splits.values())
    if all_grey:
        splits = {s: FolderImages(p.images[:, :1], p.labels, p.skipped) for s, p in splits.items()}
    return splits


def _grey(images: np.ndarray) -> bool:
    """True when all three channels are equal: the pictures carry no colour."""
    return bool(np.array_equal(images[:, 0], images[:, 1]) and np.array_equal(images[:, 1], images[:, 2]))
