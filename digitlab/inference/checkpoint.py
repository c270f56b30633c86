"""Checkpoints of both engines: saving (atomic), loading (safely), the model they describe and
the data set it was trained on. Everything that reads a trained model starts here, and nothing
here imports a training loop.

A PyTorch checkpoint (`checkpoint.pt`) holds only tensors, numbers, strings, lists and dicts, so
it loads with PyTorch's safe unpickler (`weights_only=True`); a file carrying any other object
(code to run) is refused. A NumPy-engine checkpoint (`checkpoint.npz`) holds arrays and one JSON
record, read with `allow_pickle=False`.
"""

from __future__ import annotations

import json
import os
import pickle
import re
import zipfile
from pathlib import Path

import torch
import torch.nn as nn

import digitlab.numpy_cnn as numpy_cnn
from digitlab.data.datasets import DigitDataset, Split, load_dataset
from digitlab.errors import CheckpointError, DataError
from digitlab.inference.numpy_module import NumpyModule
from digitlab.models import create_model
from digitlab.utils.files import atomic_write

FORMAT = "digitlab-checkpoint"
VERSION = 1
CHECKPOINT_NAME = "checkpoint.pt"
NPZ_CHECKPOINT_NAME = "checkpoint.npz"


def save_checkpoint(path: str | os.PathLike, payload: dict) -> None:
    with atomic_write(path) as handle:
        torch.save({"format": FORMAT, "version": VERSION, **payload}, handle)


def load_checkpoint(path: str | os.PathLike) -> dict:
    """Load a checkpoint file, or the one inside a run folder."""
    path = Path(path)
    if path.is_dir():
        path = path / CHECKPOINT_NAME
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint")
    if not zipfile.is_zipfile(path):  # every torch.save since PyTorch 1.6 writes a zip archive
        raise CheckpointError(f"{path}: not a readable checkpoint (not a PyTorch checkpoint file)")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        match = re.search(r"GLOBAL ([\w.]+)", str(exc))
        what = f" ({match.group(1)})" if match else ""
        raise CheckpointError(f"{path}: refused: it holds objects other than tensors and plain data{what}, "
                              "which could run code when loaded") from None
    except Exception as exc:  # noqa: BLE001 - torch.load on damaged bytes raises anything from IndexError to RuntimeError
        raise CheckpointError(f"{path}: not a readable checkpoint ({type(exc).__name__}: {str(exc)[:200]})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a digitlab checkpoint")
    if payload.get("version", 0) > VERSION:
        raise CheckpointError(f"{path}: written by a newer digitlab (format version {payload['version']})")
    for key in ("model", "state_dict", "classes", "normalization"):
        if key not in payload:
            raise CheckpointError(f"{path}: damaged checkpoint (no {key!r})")
    problem = spec_problem(payload)
    if problem:
        raise CheckpointError(f"{path}: damaged checkpoint: its model description is invalid ({problem})")
    return payload


# Limits on what a checkpoint may ask digitlab to build: a damaged or hostile file must not
# make it allocate a layer with a trillion outputs.
_SPEC_LIMITS = {"num_classes": (1, 100_000), "in_channels": (1, 64), "image_size": (8, 1024)}


def spec_problem(payload: dict) -> str | None:
    """What is wrong with the model description, class names and normalisation, or None."""
    spec, classes, norm = payload["model"], payload["classes"], payload["normalization"]
    if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
        return "no model name"
    for key, (low, high) in _SPEC_LIMITS.items():
        value = spec.get(key)
        if type(value) is not int or not low <= value <= high:
            return f"{key} must be an integer in {low}..{high}, not {value!r}"
    if (not isinstance(classes, list) or len(classes) != spec["num_classes"]
            or not all(isinstance(c, str) for c in classes)):
        return f"expected {spec['num_classes']} class names"
    if not isinstance(norm, dict) or not all(
            isinstance(norm.get(k), list) and len(norm[k]) == spec["in_channels"]
            and all(isinstance(v, (int, float)) for v in norm[k]) for k in ("mean", "std")):
        return "normalisation must give a mean and std per channel"
    if not isinstance(payload["state_dict"], dict):
        return "weights are not a dictionary of tensors"
    return None


def model_from_checkpoint(payload: dict, device: torch.device | str = "cpu") -> nn.Module:
    """Rebuild the model a checkpoint describes and load its weights, in eval mode."""
    spec = payload["model"]
    model = create_model(spec["name"], num_classes=spec["num_classes"], in_channels=spec["in_channels"],
                         image_size=spec["image_size"])
    try:
        model.load_state_dict(payload["state_dict"])
    except (RuntimeError, KeyError, TypeError) as exc:
        raise CheckpointError(f"checkpoint weights do not fit model {spec['name']!r}: {str(exc)[:200]}") from None
    if all(p.ndim <= 4 for p in model.parameters()):
        model = model.to(memory_format=torch.channels_last)  # as it trained: see TrainConfig.channels_last
    return model.to(device).eval()


def load_npz_checkpoint(path: str | os.PathLike) -> tuple[nn.Module, dict]:
    """(NumPy-engine model behind nn.Module, in eval mode; its metadata record)."""
    try:
        net, meta = numpy_cnn.load_npz(path)
    except (OSError, ValueError, KeyError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{path}: not a readable NumPy checkpoint "
                              f"({type(exc).__name__}: {str(exc)[:200]})") from None
    return NumpyModule(net).eval(), meta


def load_model(path: str | os.PathLike, device: torch.device | str = "cpu") -> tuple[nn.Module, dict]:
    """(the trained network in eval mode, its checkpoint record) for a checkpoint file or run folder of
    either engine. The network as trained: how it answers (precision, TTA) is trained_model's business."""
    path = checkpoint_file(path)
    if path.suffix == ".npz" and path.is_file():
        return load_npz_checkpoint(path)
    payload = load_checkpoint(path)
    return model_from_checkpoint(payload, device), payload


def checkpoint_file(path: str | os.PathLike) -> Path:
    """The checkpoint file a path names: itself, or the one inside a run folder (PyTorch's, else NumPy's)."""
    path = Path(path)
    if path.is_dir():
        return path / (NPZ_CHECKPOINT_NAME if not (path / CHECKPOINT_NAME).exists()
                       and (path / NPZ_CHECKPOINT_NAME).exists() else CHECKPOINT_NAME)
    return path


def checkpoint_dataset(payload: dict, dataset: str | None = None, data_dir: str | None = None) -> DigitDataset:
    """`dataset`, else the data set the checkpoint was trained with, test split included.

    A model trained with --test-set has seen every image of its own data set: only that
    other test split is held out from it, so it is the one loaded with it.
    """
    config = payload.get("config", {})
    return load_dataset(dataset or payload.get("dataset") or config.get("dataset"), data_dir or config.get("data_dir"),
                        test_set=None if dataset else config.get("test_set"), image_size=payload["model"]["image_size"])


def check_fits_model(split: Split, payload: dict, source: str) -> None:
    """A DataError unless the split's images have the shape the checkpoint's model reads."""
    spec = payload["model"]
    if tuple(split.images.shape[1:]) != (spec["in_channels"], spec["image_size"], spec["image_size"]):
        raise DataError(f"{source}: images of shape {tuple(split.images.shape[1:])} do not fit this model "
                        f"({spec['in_channels']}x{spec['image_size']}x{spec['image_size']})")


def checkpoint_test_split(payload: dict, dataset: str | None = None, data_dir: str | None = None) -> tuple[Split, str]:
    """The split to score a checkpoint on: `dataset`'s test split, else the one it was trained with."""
    loaded = checkpoint_dataset(payload, dataset, data_dir)
    if loaded.test is None:
        raise DataError(f"{loaded.name}: has no test split")
    check_fits_model(loaded.test, payload, loaded.name)
    return loaded.test, f"{loaded.name} test split"
