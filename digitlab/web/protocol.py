"""What the server and its prediction workers share: the upload limit, decoding a data URL, and
the answer format of /api/predict. Both import it; neither imports the other for it."""

from __future__ import annotations

import base64
import binascii
import json

import numpy as np

from digitlab.errors import ImageError, UploadTooLarge
from digitlab.inference.classifier import Prediction

MAX_UPLOAD_BYTES = 2 * 1024 * 1024


def check_upload_size(size: int) -> None:
    """The one check of the upload limit, in bytes: an uploaded file, a data URL's image, the bytes a worker is
    handed (the server's body cap, app.MAX_BODY_BYTES, only bounds what it holds in memory)."""
    if size > MAX_UPLOAD_BYTES:
        raise UploadTooLarge(f"image larger than {MAX_UPLOAD_BYTES:,} bytes")


def decode_data_url(value: str) -> bytes:
    """The bytes of a `data:image/...;base64,...` URL (or of bare base64)."""
    if not isinstance(value, str) or not value:
        raise ImageError("expected an image as a data URL (data:image/png;base64,...)")
    payload = value.split(",", 1)[1] if value.startswith("data:") else value
    check_upload_size(len(payload) * 3 // 4)  # base64: 4 characters hold 3 bytes
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise ImageError("the data URL is not valid base64") from None


def answer(prediction: Prediction, input28: np.ndarray, version: int) -> bytes:
    """What /api/predict returns for one drawing, as JSON: encoded where it was predicted (a worker
    process), so that the server process, which every request goes through, only passes it on."""
    return json.dumps({"digit": prediction.label, "probabilities": prediction.probabilities,
                       "is_digit": prediction.is_digit, "digit_score": prediction.digit_score,
                       "input28": input28.tolist(), "model_version": version}, separators=(",", ":")).encode()
