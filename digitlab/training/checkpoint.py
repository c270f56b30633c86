"""Saving and loading checkpoints: atomic on write, `weights_only=True` on read.

A checkpoint holds only tensors, numbers, strings, lists and dicts, so it loads with
PyTorch's safe unpickler; a file carrying any other object (code to run) is refused.
"""

from __future__ import annotations

import os
import pickle
import re
import zipfile
from pathlib import Path

import torch
import torch.nn as nn

from digitlab.errors import CheckpointError
from digitlab.models import create_model
from digitlab.utils.files import atomic_write

FORMAT = "digitlab-checkpoint"
VERSION = 1
CHECKPOINT_NAME = "checkpoint.pt"


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
    if not isinstance(classes, list) or len(classes) != spec["num_classes"] or not all(isinstance(c, str) for c in classes):
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
        model = model.to(memory_format=torch.channels_last)  # 2-3x faster convolutions on CPU
    return model.to(device).eval()
