"""Predicting with an exported .onnx file through ONNX Runtime: no torch on the way.

The file carries everything needed (see digitlab/deploy/export.py): the normalisation is in the graph,
the class names and input description in its metadata.
"""

from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from digitlab.errors import CheckpointError, DigitlabError
from digitlab.inference.classifier import Classifier
from digitlab.reading.refusal import THRESHOLD_KEY
from digitlab.utils.cpu import usable_cores

METADATA_KEY = "digitlab"


def import_onnxruntime():
    """onnxruntime, imported with its usage telemetry off unless the user has set it.

    Otherwise ONNX Runtime 1.32 keeps a usage database under ~/.../Microsoft/DeveloperTools
    and a session file in $TMPDIR: files a digitlab command would leave outside its cache.
    """
    os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
    try:
        import onnxruntime
    except ImportError:
        raise DigitlabError("ONNX Runtime is not installed: pip install 'digitlab[onnx]'") from None
    return onnxruntime


class OnnxPredictor(Classifier):
    """An exported model in ONNX Runtime, on `threads` cores (default: all this process may use).

    Each call of the model runs on one core; a batch of at least 2 x MIN_PART images is split
    into one part per core, run side by side. ONNX Runtime's own threads would split every
    layer instead and wait for each other after each one, which ran slower on the project's
    2-core machine (benchmarks/export.py; docs/deploy.md).
    """

    MIN_PART = 64  # a smaller part costs more in handing over than it gains

    def __init__(self, path: str | os.PathLike, threads: int | None = None):
        ort = import_onnxruntime()
        options = ort.SessionOptions()
        options.intra_op_num_threads = options.inter_op_num_threads = 1
        self.threads = threads or usable_cores()
        self._pool = ThreadPoolExecutor(self.threads, "digitlab-onnx") if self.threads > 1 else None
        try:
            self.session = ort.InferenceSession(os.fspath(path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own exception types
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise CheckpointError(f"{path}: not a loadable ONNX model ({reason[:200]})") from None
        custom = self.session.get_modelmeta().custom_metadata_map
        try:
            self.meta = json.loads(custom[METADATA_KEY])
            classes, channels, size = self.meta["classes"], int(self.meta["in_channels"]), int(self.meta["image_size"])
        except (KeyError, ValueError, TypeError):
            raise CheckpointError(f"{path}: an ONNX model without digitlab's metadata "
                                  "(export it with 'digitlab export')") from None
        super().__init__(classes, channels, size, takes_pictures=self.meta.get("input") == "picture",
                         refusal_threshold=self.meta.get(THRESHOLD_KEY))
        self.input_name = self.session.get_inputs()[0].name

    def logits(self, images: np.ndarray) -> np.ndarray:
        parts = min(self.threads, len(images) // self.MIN_PART)
        if parts < 2:
            return self._run(images)
        return np.concatenate(list(self._pool.map(self._run, np.array_split(images, parts))))

    def _run(self, images: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self.input_name: images})[0]  # ONNX Runtime lets go of the GIL meanwhile
