"""Folding eval-mode BatchNorm into the convolution before it, for models that only answer.

An eval-mode BN is a per-channel affine map, so the conv's weights and bias can absorb it:
one layer less per block, for ONNX export and for the Predictor that answers drawings.
"""

from __future__ import annotations

import copy
import logging

import torch
import torch.nn as nn

log = logging.getLogger("digitlab")


def fold_batchnorm(model: nn.Module) -> tuple[nn.Module, int]:
    """(a copy of `model`, in eval mode, with each conv->BN pair merged into one conv; how many BN
    layers were folded). `model` itself is left as it was.

    A model with an inference form of its own (`for_inference()`: CondenseNet's learned group
    convs become index layers and group convs) is converted first. Max-pools are moved behind
    the BN and ReLU that follow them where that computes the same. Uses torch.fx to find the
    pairs; a model fx cannot trace is returned unfolded.
    """
    from torch.fx.experimental.optimization import fuse

    # the one copy: fuse below works on it in place
    model = model.for_inference() if hasattr(model, "for_inference") else copy.deepcopy(model).eval()
    before = sum(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())
    _move_pooling_after_activation(model)
    try:
        fused = fuse(model, inplace=True)
    except Exception as exc:  # noqa: BLE001 - fx cannot trace every model; folding is an optimisation
        log.info(f"BatchNorm not folded: torch.fx cannot trace this model ({type(exc).__name__})")
        return model, 0
    after = sum(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in fused.modules())
    return fused, before - after


def _move_pooling_after_activation(model: nn.Module) -> None:
    """Turn max-pool -> BN -> ReLU into BN -> ReLU -> max-pool wherever that computes the same.

    Max-pooling commutes with any increasing per-channel map: ReLU, and an eval-mode BN
    (x * scale + shift per channel) whose scales are all positive. Moved behind them, the BN
    can fold into the conv before it and the ReLU fuse with it, and the int8 model keeps its
    pools in uint8 (in pool-first order ONNX Runtime dequantized around each pool, at a large cost
    in int8 speed: benchmarks/export.py). Training keeps pool-first order, where it is cheaper.
    """
    for sequence in [m for m in model.modules() if isinstance(m, nn.Sequential)]:
        for i in range(len(sequence) - 1):  # a pool swapped forward is looked at again at i + 1
            if isinstance(sequence[i], nn.MaxPool2d) and _commutes_with_max(sequence[i + 1]):
                sequence[i], sequence[i + 1] = sequence[i + 1], sequence[i]


def _commutes_with_max(layer: nn.Module) -> bool:
    if isinstance(layer, nn.ReLU):
        return True
    if isinstance(layer, nn.BatchNorm2d) and layer.track_running_stats:
        weight = layer.weight if layer.affine else torch.ones_like(layer.running_var)
        return bool((weight / torch.sqrt(layer.running_var + layer.eps) > 0).all())
    return False
