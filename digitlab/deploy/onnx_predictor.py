"""Predicting with an exported .onnx file through ONNX Runtime: no torch on the way.

The file carries everything needed (see export.py): the normalisation is in the graph,
the class names and input description in its metadata.
"""

from __future__ import annotations

import json
import os

import numpy as np

from digitlab.errors import CheckpointError, DigitlabError
from digitlab.prediction import Classifier

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
    def __init__(self, path: str | os.PathLike, threads: int | None = None):
        ort = import_onnxruntime()
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
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
        super().__init__(classes, channels, size, takes_pictures=self.meta.get("input") == "picture")
        self.input_name = self.session.get_inputs()[0].name

    def logits(self, images: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self.input_name: images})[0]
