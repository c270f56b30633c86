"""How a trained model answers: under the precision it was trained in, with test-time augmentation.

bfloat16 autocast makes a bf16-trained model's convolutions several times faster on a CPU with
AVX-512 BF16 (benchmarks/export.py) at no cost in accuracy. Test-time augmentation averages the
logits over a few transformed copies of each input: for models trained with mirror images, the
image and its mirror; for digits, the image and its four one-pixel shifts.
"""

from __future__ import annotations

import contextlib
import os

import torch
import torch.nn as nn
import torch.nn.functional as F

from digitlab.data.loader import normalize
from digitlab.inference.checkpoint import load_model
from digitlab.inference.numpy_module import NumpyModule
from digitlab.models.folding import fold_batchnorm
from digitlab.utils.device import native_bf16, resolve_device

SHIFTS = ((0, 1), (0, -1), (1, 0), (-1, 0))
STACK_LIMIT = 320  # up to this many images (views x batch), the views share one model call


def _shifted(x: torch.Tensor) -> list[torch.Tensor]:
    """The images moved one pixel each way (SHIFTS), filled with each image's background (its minimum)."""
    fill = x.amin(dim=(1, 2, 3), keepdim=True)
    padded = F.pad(x - fill, (1, 1, 1, 1)) + fill  # once: each shift is a window of it
    h, w = x.shape[-2:]
    return [padded[..., 1 - dy:1 - dy + h, 1 - dx:1 - dx + w] for dy, dx in SHIFTS]


class InferenceModel(nn.Module):
    def __init__(self, model: nn.Module, tta: bool = False, hflip: bool = False, bf16: bool = False):
        super().__init__()
        self.model, self.tta, self.hflip, self.bf16 = model, tta, hflip, bf16
        # a frozen model keeps its weights in bf16: its inputs are cast once instead of its weights at every call
        self.bf16_weights = any(p.dtype == torch.bfloat16 for p in model.parameters())

    def views(self, x: torch.Tensor) -> list[torch.Tensor]:
        if not self.tta:
            return [x]
        return [x, x.flip(-1)] if self.hflip else [x, *_shifted(x)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        views = self.views(x.to(torch.bfloat16) if self.bf16_weights else x)
        autocast = self.bf16 and not self.bf16_weights
        with torch.autocast(x.device.type, dtype=torch.bfloat16) if autocast else contextlib.nullcontext():
            if len(views) * len(x) <= STACK_LIMIT:
                # A few images (a drawing): all views in one call instead of five; per-call overhead dominates there.
                logits = self.model(torch.cat(views)).float().view(len(views), len(x), -1)
            else:
                # Big batches: one call per view; five times the batch would not fit the CPU's caches.
                logits = torch.stack([self.model(v).float() for v in views])
        return logits.mean(0)


def with_inference_options(model: nn.Module, config: dict, freeze: bool = False, bf16: bool | None = None) -> nn.Module:
    """Wrap `model` as its training config says it should answer (nothing to wrap: itself).

    A model trained in bf16 answers in bf16 where its device computes bf16 natively, in float32
    elsewhere (emulated bf16 would only be slower; the fp32 weights are the trained ones); `bf16`
    overrides that choice.

    `freeze`, for a model that will only answer from now on: a copy with BatchNorm folded into
    the layer before it and, if trained in bf16, its weights stored in bf16 rather than cast at
    every call, which makes a drawing's five views markedly cheaper (benchmarks/speed.py); the answers
    stay those of the trained model (tests/test_recipes.py checks it on real digits).
    """
    tta = bool(config.get("tta"))
    if bf16 is None:
        bf16 = config.get("precision") == "bf16" and native_bf16(model_device(model))
    if freeze:
        model, _ = fold_batchnorm(model)  # a copy: the trained model stays as it is
        if bf16:
            model = model.to(torch.bfloat16)
    if not (tta or bf16):
        return model
    return InferenceModel(model, tta=tta, hflip=bool(config.get("hflip")), bf16=bf16).eval()


def load_trained(path: str | os.PathLike, device: str = "cpu", tta: bool | None = None,
                 freeze: bool = False) -> tuple[nn.Module, dict]:
    """(model in eval mode, checkpoint record) for a checkpoint file or run folder of either engine.

    It answers as it was trained to (bf16, test-time augmentation); `tta` overrides the latter.
    `freeze`: for answering only (see with_inference_options).
    """
    model, payload = load_model(path, resolve_device(device))
    config = payload.get("config", {}) if tta is None else {**payload.get("config", {}), "tta": tta}
    freeze = freeze and not isinstance(model, NumpyModule)  # folding is for torch layers
    return with_inference_options(model, config, freeze), payload


def model_device(model: nn.Module) -> torch.device:
    """Where the model's parameters live (the CPU for a parameterless wrapper such as NumpyModule)."""
    first = next(model.parameters(), None)
    return first.device if first is not None else torch.device("cpu")


@torch.inference_mode()
def predict_logits(model: nn.Module, images: torch.Tensor, mean, std, batch_size: int = 500) -> torch.Tensor:
    """Logits for uint8 images (N, C, H, W), in batches, with the model in eval mode.

    A model already in eval mode is left alone: walking its modules at every call costs a served
    drawing measurable time (benchmarks/speed.py's serving rows).
    """
    was_training = model.training
    if was_training:
        model.eval()
    device = model_device(model)
    outs = [model(normalize(images[i:i + batch_size].to(device), mean, std)) for i in range(0, len(images), batch_size)]
    if was_training:
        model.train()
    return torch.cat(outs) if outs else torch.empty(0)
