"""Counting a model's parameters and multiply-adds (MACs) by running it once.

MACs are counted the usual way: convolutions and linear layers only (BatchNorm,
activations and pooling are comparatively free). A conv's MACs are its output size
times the weights each output sees: out_elements * (in_channels / groups) * kernel volume.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn

from digitlab.models.registry import create_model


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@torch.no_grad()
def count_macs(model: nn.Module, input_shape: tuple[int, ...]) -> int:
    """Multiply-adds for one input of `input_shape` (without the batch axis)."""
    total = 0

    def conv_hook(module: nn.modules.conv._ConvNd, inputs, output):
        nonlocal total
        total += output.numel() * (module.in_channels // module.groups) * math.prod(module.kernel_size)

    def linear_hook(module: nn.Linear, inputs, output):
        nonlocal total
        total += output.numel() * module.in_features

    handles = []
    for module in model.modules():
        if isinstance(module, nn.modules.conv._ConvNd):
            handles.append(module.register_forward_hook(conv_hook))
        elif isinstance(module, nn.Linear):
            handles.append(module.register_forward_hook(linear_hook))
    was_training = model.training
    model.eval()
    try:
        model(torch.zeros(1, *input_shape))
    finally:
        model.train(was_training)
        for handle in handles:
            handle.remove()
    return total


def model_card(name: str, in_channels: int = 1, image_size: int = 28) -> dict:
    """Parameters and MACs of the model as it answers (CondenseNet: after condensation and conversion)."""
    model = create_model(name, in_channels=in_channels, image_size=image_size)
    if hasattr(model, "for_inference"):
        model = model.for_inference()
    return {"params": count_params(model), "macs": count_macs(model, (in_channels, image_size, image_size))}


def conv_comparison(in_ch: int, out_ch: int, kernel: int, groups: int, size: int = 28) -> list[dict]:
    """Standard vs depthwise-separable vs group conv, counted on real (bias-free) layers."""
    if in_ch % groups or out_ch % groups:
        raise ValueError(f"groups ({groups}) must divide both channel counts ({in_ch}, {out_ch})")
    k, m, n, g = kernel, in_ch, out_ch, groups
    layers = {
        "standard": (nn.Conv2d(m, n, k, padding=k // 2, bias=False), "k*k*M*N", k * k * m * n),
        "depthwise-separable": (nn.Sequential(nn.Conv2d(m, m, k, padding=k // 2, groups=m, bias=False),
                                              nn.Conv2d(m, n, 1, bias=False)), "k*k*M + M*N", k * k * m + m * n),
        f"group (g={g})": (nn.Conv2d(m, n, k, padding=k // 2, groups=g, bias=False), "k*k*M*N/g", k * k * m * n // g),
    }
    rows = []
    for kind, (layer, formula, expected) in layers.items():
        params = count_params(layer)
        rows.append({"layer": kind, "params": params, "formula": formula, "formula_value": expected,
                     "macs": count_macs(layer, (m, size, size))})
    standard = rows[0]["params"]
    for row in rows:
        row["ratio_to_standard"] = row["params"] / standard
    return rows
