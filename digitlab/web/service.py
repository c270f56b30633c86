"""The model behind the drawing board: its predictions, readings and explanations, and the swap to another."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from starlette.concurrency import run_in_threadpool

from digitlab.errors import ConfigError
from digitlab.inference.explain import data_url, explain_picture
from digitlab.inference.predictor import Predictor
from digitlab.reading.framing import preprocess_image
from digitlab.reading.images import load_image
from digitlab.reading.page import read_page
from digitlab.web.batcher import MicroBatcher
from digitlab.web.protocol import answer, check_upload_size
from digitlab.web.workers import PredictWorkers


@dataclass
class ModelInfo:
    version: int
    checkpoint: str
    name: str
    dataset: str
    accuracy: float | None


def load_servable(checkpoint: str | Path, tta: bool | None = None) -> Predictor:
    """The checkpoint loaded, or a one-line error if the board cannot serve it."""
    predictor = Predictor.from_checkpoint(checkpoint, tta=tta)
    if not predictor.reads_digits:
        raise ConfigError(f"{checkpoint}: the drawing board serves digit models (grey 28x28 input); this one "
                          f"takes {predictor.in_channels}x{predictor.image_size}x{predictor.image_size} pictures")
    return predictor


def model_info(predictor: Predictor, checkpoint: str | Path, version: int) -> ModelInfo:
    return ModelInfo(version, str(checkpoint), predictor.meta["model"]["name"],
                     str(predictor.meta.get("dataset", "?")), predictor.meta.get("test_accuracy"))


class ModelService:
    """Holds the serving model; a new version is swapped in under a lock, between two predictions.

    With `workers`, drawings are answered in that many worker processes (web/workers.py);
    with none, in this process: decoded in the request's thread, then one model call for
    all drawings waiting (web/batcher.py).
    """

    def __init__(self, checkpoint: str | Path, tta: bool | None = None, workers: int = 0, version: int = 1,
                 loaded: Predictor | None = None):
        """`loaded`: the checkpoint already loaded (and checked) by the caller, which need not be loaded again."""
        self.tta = tta  # None: as each checkpoint was trained; False: one view per drawing (5x less work)
        self._lock = threading.Lock()
        self.swap(checkpoint, version, loaded=loaded)  # checks the checkpoint before any worker starts
        self._workers = PredictWorkers(workers, self.info.checkpoint, self.info.version, tta) if workers else None
        self._model_calls = None if workers else MicroBatcher(self._predict_batch)  # the in-process path

    def close(self) -> None:
        if self._workers:
            self._workers.close()

    def swap(self, checkpoint: str | Path, version: int, commit: Callable[[], None] | None = None,
             loaded: Predictor | None = None) -> ModelInfo:
        """Load `checkpoint` fully (unless `loaded` is it already), then make it the serving model in one step.
        `commit` (recording the switch in the board's database) runs under the same lock, so the database and
        the model serving change in the same order; if it raises, nothing changes."""
        predictor = loaded or load_servable(checkpoint, self.tta)
        info = model_info(predictor, checkpoint, version)
        with self._lock:
            if commit:
                commit()
            self._predictor, self.info = predictor, info
        return info

    async def predict(self, image_bytes: bytes) -> bytes:
        """The answer for a drawing, as JSON."""
        check_upload_size(len(image_bytes))
        if self._workers:
            with self._lock:
                checkpoint, version = self.info.checkpoint, self.info.version
            return await self._workers.predict(image_bytes, checkpoint, version)
        return await run_in_threadpool(self._predict_here, image_bytes)

    def _predict_here(self, image_bytes: bytes) -> bytes:
        input28 = preprocess_image(image_bytes)  # in the request's thread: decoding runs beside model calls
        prediction, version = self._model_calls.submit(input28)
        return answer(prediction, input28, version)

    def _predict_batch(self, inputs: np.ndarray) -> list:
        """Every drawing waiting for the model, in one call to the version serving now."""
        with self._lock:
            predictor, version = self._predictor, self.info.version
        return [(prediction, version) for prediction in predictor.predict_arrays(inputs)]

    def read(self, image_bytes: bytes, signs: bool = True) -> dict:
        """The numbers in a drawing, line by line, as `digitlab read --json` gives them for a file (in the server
        process: reading is many model calls on small crops, rarer than single predictions)."""
        check_upload_size(len(image_bytes))
        with self._lock:
            predictor, version = self._predictor, self.info.version
        return {**read_page(predictor, load_image(image_bytes), signs).to_dict(), "model_version": version}

    def explain(self, image_bytes: bytes) -> dict:
        """Why the serving model reads a drawing as it does: Grad-CAM heat to lay over the canvas and the
        first conv layer's feature maps, as PNG data URLs (the same pictures as `digitlab explain`)."""
        check_upload_size(len(image_bytes))
        with self._lock:
            predictor, version = self._predictor, self.info.version
        picture = load_image(image_bytes)
        explanation = explain_picture(predictor, picture)
        pictures = explanation.pictures(picture)
        return {"digit": explanation.prediction.label, "is_digit": explanation.prediction.is_digit,
                "heat": data_url(pictures["heat"]), "saliency": data_url(pictures["saliency"]),
                "feature_maps": data_url(pictures["feature_maps"]), "frame": [round(v, 1) for v in explanation.frame],
                "model_version": version}

    def input28(self, image_bytes: bytes) -> np.ndarray:
        return preprocess_image(image_bytes)

