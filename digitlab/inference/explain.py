"""Why the model read a picture as it did: Grad-CAM over the picture itself, the saliency of the
28x28 it read, and the first conv layer's feature maps.

The maps come from the same Inspector the report uses (inference/inspector.py); here they are
placed back on the picture, through the square of it that preprocessing framed as the 28x28,
so that a person sees the heat over their own strokes. Shared by `digitlab explain` and the
board's POST /api/explain.
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from digitlab.errors import ConfigError
from digitlab.inference.classifier import Prediction
from digitlab.inference.inspector import Inspector
from digitlab.reading.framing import read_as_mnist
from digitlab.reading.images import to_grey

HEAT_OPACITY = 0.6  # of the hottest pixel of the Grad-CAM overlay


@dataclass
class Explanation:
    prediction: Prediction
    input28: np.ndarray        # uint8 (28, 28): what the model read
    gradcam: np.ndarray        # float (H, W) in [0, 1], over the whole picture
    saliency: np.ndarray       # float (28, 28) in [0, 1]
    feature_maps: np.ndarray   # float (F, h, w): the first conv layer's activations
    frame: list[float]         # [x0, y0, x1, y1]: the square of the picture the 28x28 shows

    def pictures(self, picture: Image.Image) -> dict[str, Image.Image]:
        """The explanation as images: Grad-CAM over the picture, the heat alone (RGBA, to lay over a
        canvas), the saliency and the input at 28x28 (enlarged), and a grid of the feature maps."""
        heat = heat_colours(self.gradcam)
        base = picture.convert("RGBA")
        return {"gradcam": Image.alpha_composite(base, heat).convert("RGB"), "heat": heat,
                "saliency": Image.fromarray(np.uint8(self.saliency * 255)).resize((112, 112), Image.Resampling.NEAREST),
                "input": Image.fromarray(self.input28).resize((112, 112), Image.Resampling.NEAREST),
                "feature_maps": feature_grid(self.feature_maps)}


def explain_picture(predictor, picture: Image.Image) -> Explanation:
    """Read `picture` as `predict` does and explain the answer (the best digit's score)."""
    model = getattr(predictor, "model", None)
    if model is None:
        raise ConfigError("explain needs a checkpoint (an exported ONNX model has no gradients to show)")
    input28, (x0, y0, side) = read_as_mnist(to_grey(picture))
    prediction = predictor.predict_arrays(input28[None])[0]
    inspector = Inspector.for_model(model, predictor.mean, predictor.std)  # of a private copy: serving goes on
    images = torch.from_numpy(input28[None, None].copy())
    with torch.enable_grad():
        saliency, cam = inspector.saliency_and_gradcam(images, torch.tensor([prediction.label]))
    maps = inspector.feature_maps(images)[0][1][0]
    frame = [x0, y0, x0 + side, y0 + side]
    return Explanation(prediction, input28, on_picture(cam[0], frame, picture.size), saliency[0], maps, frame)


def on_picture(map28: np.ndarray, frame: list[float], size: tuple[int, int]) -> np.ndarray:
    """A 28x28 map laid over the picture (`size` = (width, height)) where the 28x28 came from."""
    x0, y0, x1, y1 = frame
    width, height = size
    side = max(1, round(x1 - x0))
    scaled = np.asarray(Image.fromarray(map28.astype(np.float32), mode="F").resize((side, side),
                                                                                    Image.Resampling.BILINEAR))
    out = np.zeros((height, width), np.float32)
    left, top = round(x0), round(y0)
    # the part of the scaled map that falls inside the picture
    sx0, sy0 = max(0, -left), max(0, -top)
    dx0, dy0 = max(0, left), max(0, top)
    w, h = min(side - sx0, width - dx0), min(side - sy0, height - dy0)
    if w > 0 and h > 0:
        out[dy0:dy0 + h, dx0:dx0 + w] = scaled[sy0:sy0 + h, sx0:sx0 + w]
    return np.clip(out, 0.0, 1.0)


def heat_colours(heat: np.ndarray) -> Image.Image:
    """[0, 1] heat -> RGBA, inferno colours, as transparent as the heat is low."""
    from matplotlib import colormaps
    rgba = colormaps["inferno"](heat)
    rgba[..., 3] = heat * HEAT_OPACITY
    return Image.fromarray(np.uint8(rgba * 255), mode="RGBA")


def feature_grid(maps: np.ndarray, columns: int = 8, cell: int = 56) -> Image.Image:
    """Feature maps side by side, each scaled to [0, 1] and enlarged to `cell` pixels, one pixel apart."""
    rows = int(np.ceil(len(maps) / columns))
    grid = np.full((rows * (cell + 1) - 1, min(columns, len(maps)) * (cell + 1) - 1), 255, np.uint8)
    for k, fmap in enumerate(maps):
        lo, hi = float(fmap.min()), float(fmap.max())
        unit = (fmap - lo) / (hi - lo) if hi > lo else np.zeros_like(fmap)
        tile = Image.fromarray(np.uint8(unit * 255)).resize((cell, cell), Image.Resampling.NEAREST)
        r, c = divmod(k, columns)
        grid[r * (cell + 1):r * (cell + 1) + cell, c * (cell + 1):c * (cell + 1) + cell] = np.asarray(tile)
    return Image.fromarray(grid)


def data_url(picture: Image.Image) -> str:
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
