"""int8 ONNX models: weights quantized per channel, activations calibrated on training images.

On a CPU with VNNI instructions, ONNX Runtime's integer convolutions run faster than its
fp32 ones. The activation ranges come from running a sample of the data set the model was
trained on, so they fit the images it will see and the accuracy barely moves
(benchmarks/export.py measures both; docs/benchmarks.md keeps the figures).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from digitlab.errors import DigitlabError
from digitlab.inference.onnx_runtime import import_onnxruntime

CALIBRATION_IMAGES = 512


def calibration_sample(images: np.ndarray, count: int = CALIBRATION_IMAGES, seed: int = 0) -> np.ndarray:
    """A seeded random sample of `count` uint8 images (N, C, H, W): the same file from the same checkpoint."""
    if len(images) == 0:
        raise DigitlabError("int8 calibration needs images, and the data set has none")
    pick = np.random.default_rng(seed).permutation(len(images))[:count]
    return np.ascontiguousarray(images[np.sort(pick)], dtype=np.uint8)


def quantize_onnx(model: bytes, calibration: np.ndarray, batch_size: int = 64) -> bytes:
    """`model` (fp32 ONNX, uint8 input "images") as int8 QDQ ONNX, ranges calibrated on `calibration`."""
    import_onnxruntime()
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Batches(CalibrationDataReader):
        def __init__(self):
            self.batches = iter(calibration[i:i + batch_size] for i in range(0, len(calibration), batch_size))

        def get_next(self):
            batch = next(self.batches, None)
            return None if batch is None else {"images": batch}

    with tempfile.TemporaryDirectory(prefix="digitlab-int8-") as tmp:
        fp32, prepared, int8 = (Path(tmp) / name for name in ("fp32.onnx", "prepared.onnx", "int8.onnx"))
        fp32.write_bytes(model)
        quant_pre_process(str(fp32), str(prepared))  # shape inference and graph clean-up, as ORT recommends
        # reduce_range: 7-bit weights. Without VNNI (AVX2 CPUs, AVX-512 without VNNI) ONNX Runtime multiplies
        # uint8 by int8 with VPMADDUBSW, whose 16-bit pair sums saturate with full-range weights and flip
        # answers (ONNX Runtime's quantization docs); the file must answer right on any x86 CPU.
        quantize_static(str(prepared), str(int8), Batches(), quant_format=QuantFormat.QDQ, per_channel=True,
                        reduce_range=True, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
        return int8.read_bytes()
