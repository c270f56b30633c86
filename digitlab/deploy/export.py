"""Export a checkpoint as a self-contained ONNX or TorchScript model.

The exported graph takes what an application has at hand, uint8 images (N, C, H, W) in
0..255, and returns logits: the division by 255 and the data set's normalisation are part
of the graph, so nothing about training has to be re-implemented next to it. BatchNorm
layers are folded into the convolutions before them (eval-mode BN is an affine map, so the
conv's weights absorb it): one layer less per block for runtimes that would not fuse them.
The class names and input description travel inside the file as metadata.
The export is the fp32 model (or, with int8, its quantized copy, see deploy/quantize.py):
test-time augmentation and bf16 autocast stay in digitlab.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import warnings
from pathlib import Path

import torch
import torch.nn as nn

from digitlab.data.datasets import is_picture_dataset
from digitlab.deploy.quantize import calibration_sample, quantize_onnx
from digitlab.errors import CheckpointError, DigitlabError
from digitlab.inference.checkpoint import check_fits_model, checkpoint_dataset, load_checkpoint, model_from_checkpoint
from digitlab.inference.onnx_runtime import METADATA_KEY
from digitlab.models.folding import fold_batchnorm
from digitlab.reading.refusal import THRESHOLD_KEY
from digitlab.utils.files import atomic_write
from digitlab.version import __version__

FORMATS = ("onnx", "torchscript")


class NormalizedModel(nn.Module):
    """uint8 pixels in, logits out: the preprocessing a checkpoint's model expects, inside the graph."""

    def __init__(self, model: nn.Module, mean, std):
        super().__init__()
        self.model = model
        self.register_buffer("scale", 1.0 / (255.0 * torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1)))
        self.register_buffer("shift", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1)
                             / torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.model(images.float() * self.scale - self.shift)


def export_metadata(payload: dict) -> dict:
    spec = payload["model"]
    dataset = str(payload.get("dataset") or payload.get("config", {}).get("dataset", ""))
    return {
        "format_version": 1, "digitlab": __version__, "model": spec["name"], "dataset": dataset,
        "classes": list(payload["classes"]), "in_channels": spec["in_channels"], "image_size": spec["image_size"],
        "input": "picture" if is_picture_dataset(dataset) else "digit",
        "input_description": "uint8 images (N, C, H, W), pixel values 0..255; output: logits (N, classes)",
        "test_accuracy": payload.get("test_accuracy"), THRESHOLD_KEY: payload.get(THRESHOLD_KEY),
    }


def export_checkpoint(checkpoint: str | os.PathLike, out: str | os.PathLike, fmt: str,
                      fold_bn: bool = True, int8: bool = False, calibration: str | None = None,
                      data_dir: str | None = None) -> dict:
    """Write `checkpoint`'s model to `out` (atomically) as ONNX or TorchScript; return a summary.

    `int8`: ONNX only; activation ranges calibrated on training images of `calibration`
    (a data set name; default: the one the checkpoint was trained on).
    """
    if fmt not in FORMATS:
        raise DigitlabError(f"unknown export format {fmt!r}: choose one of {', '.join(FORMATS)}")
    if int8 and fmt != "onnx":
        raise DigitlabError("int8 export makes ONNX files: use --format onnx")
    checkpoint = Path(checkpoint)
    if checkpoint.suffix == ".npz" or (checkpoint / "checkpoint.npz").is_file():
        raise CheckpointError(f"{checkpoint}: export takes checkpoints of the torch engine (the NumPy engine's "
                              ".npz runs in NumPy already)")
    payload = load_checkpoint(checkpoint)
    model = model_from_checkpoint(payload, "cpu").float().eval()
    folded = 0
    if fold_bn:
        model, folded = fold_batchnorm(model)
    norm, spec = payload["normalization"], payload["model"]
    wrapped = NormalizedModel(model, norm["mean"], norm["std"]).eval()
    example = torch.zeros(2, spec["in_channels"], spec["image_size"], spec["image_size"], dtype=torch.uint8)
    meta = export_metadata(payload)
    if fmt == "torchscript":
        data = _to_torchscript(wrapped, example, meta)
    elif int8:
        images = _calibration_images(payload, calibration, data_dir)
        meta.update(precision="int8", calibration=f"{len(images)} training images of {calibration or meta['dataset']}")
        with _quiet_exporter():
            data = _with_metadata(quantize_onnx(_to_onnx(wrapped, example), images), meta)
    else:
        data = _with_metadata(_to_onnx(wrapped, example), {**meta, "precision": "fp32"})
    with atomic_write(out) as handle:
        handle.write(data)
    return {"out": str(out), "format": fmt, "bytes": len(data), "batchnorm_folded": folded, **meta}


@contextlib.contextmanager
def _quiet_exporter():
    """The exporter and the quantizer log each pass; the exporter warns about torchvision and its own deprecations."""
    loggers = [logging.getLogger(name) for name in ("torch", "onnxscript", "onnx_ir", "onnxruntime")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", category=FutureWarning)
            warnings.simplefilter("ignore", category=DeprecationWarning)
            yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


def _calibration_images(payload: dict, dataset: str | None, data_dir: str | None):
    train = checkpoint_dataset(payload, dataset, data_dir).train
    check_fits_model(train, payload, dataset or "the calibration data set")
    return calibration_sample(train.images.numpy())


def _to_onnx(model: nn.Module, example: torch.Tensor) -> bytes:
    try:
        import onnx
        import onnxscript  # noqa: F401 - the torch.export-based exporter needs it
    except ImportError:
        raise DigitlabError("ONNX export needs the onnx packages: pip install 'digitlab[onnx]'") from None
    try:
        with _quiet_exporter(), torch.no_grad():
            program = torch.onnx.export(model, (example,), dynamo=True, verbose=False, optimize=True,
                                        input_names=["images"], output_names=["logits"],
                                        dynamic_shapes=({0: torch.export.Dim("batch", min=1)},))
    except Exception as exc:  # noqa: BLE001 - the exporter raises many types; the user needs one line
        raise DigitlabError(f"ONNX export failed: {type(exc).__name__}: {str(exc).splitlines()[0]}") from None
    onnx.checker.check_model(program.model_proto)
    return program.model_proto.SerializeToString()


def _with_metadata(model: bytes, meta: dict) -> bytes:
    """The ONNX file with digitlab's description in its metadata (replacing any there)."""
    import onnx

    proto = onnx.load_from_string(model)
    kept = [(p.key, p.value) for p in proto.metadata_props if p.key != METADATA_KEY]
    del proto.metadata_props[:]
    for key, value in [*kept, (METADATA_KEY, json.dumps(meta))]:
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    proto.producer_name = "digitlab"
    return proto.SerializeToString()


def _to_torchscript(model: nn.Module, example: torch.Tensor, meta: dict) -> bytes:
    buffer = io.BytesIO()
    with _quiet_exporter(), torch.no_grad():
        traced = torch.jit.trace(model, example)  # deprecated in favour of torch.export, still what C++ loads
        torch.jit.save(traced, buffer, _extra_files={f"{METADATA_KEY}.json": json.dumps(meta)})
    return buffer.getvalue()
