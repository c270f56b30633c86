"""The receptive field of every layer of a model: how many input pixels one of its outputs can see.

Walking the layers from the input, with r the field and j the jump (input pixels between two
neighbouring outputs), a layer with kernel k, stride s and dilation d gives
    r_out = r_in + (k_eff - 1) * j_in,   j_out = j_in * s,   k_eff = d * (k - 1) + 1.
The model's graph (torch.fx) is followed rather than its list of modules, so branches (ResNet
shortcuts, Inception, DenseNet's concatenations, Big-Little's two resolutions) count as the
widest path into each node; a node that changes the map's size without a kernel (an upsample)
scales the jump and widens the field by the neighbours it interpolates. `measured_field`
checks the formula against the gradient: which input pixels change one output at the centre,
with max-pools made average pools and activations linear so that no path is switched off.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
import torch.fx
import torch.nn as nn
from torch.fx.passes.shape_prop import ShapeProp

INTERPOLATION_TAPS = {"nearest": 1, "bilinear": 2, "bicubic": 4}  # input pixels each output mixes, per axis


@dataclass
class FieldRow:
    layer: str
    kind: str
    kernel: int
    stride: int
    size: int      # output map side
    jump: float    # input pixels between neighbouring outputs
    field: int     # receptive field side in input pixels


def _window(module: nn.Module) -> tuple[int, int, int] | None:
    """(kernel, stride, dilation) of a 2-D windowed layer, along its first axis."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.MaxPool2d, nn.AvgPool2d)):
        def first(v):
            return v[0] if isinstance(v, tuple) else v
        return first(module.kernel_size), first(module.stride), first(getattr(module, "dilation", 1))
    return None


def _side(node: torch.fx.Node) -> int | None:
    meta = node.meta.get("tensor_meta")
    shape = getattr(meta, "shape", None)
    return int(shape[-1]) if shape is not None and len(shape) == 4 else None


def receptive_fields(model: nn.Module, in_channels: int = 1, image_size: int = 28) -> list[FieldRow]:
    """One row per conv or pooling layer, in the order the graph runs them."""
    model = copy.deepcopy(model).eval()
    graph = torch.fx.symbolic_trace(model)
    ShapeProp(graph).propagate(torch.zeros(1, in_channels, image_size, image_size))
    modules = dict(graph.named_modules())
    state: dict[torch.fx.Node, tuple[float, float]] = {}  # node -> (field, jump)
    rows = []
    for node in graph.graph.nodes:
        inputs = [state[n] for n in node.all_input_nodes if n in state]
        if node.op == "placeholder":
            state[node] = (1.0, 1.0)
            continue
        if not inputs:
            continue
        field, jump = max(inputs)  # the widest path in
        window = _window(modules[node.target]) if node.op == "call_module" else None
        if window:
            kernel, stride, dilation = window
            field, jump = field + (dilation * (kernel - 1)) * jump, jump * stride
            module = modules[node.target]
            rows.append(FieldRow(node.target, type(module).__name__, kernel, stride, _side(node) or 0, jump,
                                 int(round(field))))
        else:
            sides = [_side(n) for n in node.all_input_nodes]
            out = _side(node)
            if out and sides and sides[0] and out != sides[0] and "pool" not in str(node.target).lower():
                # resized without a kernel (an upsample): interpolation mixes `taps` neighbours, then the
                # outputs sit closer together
                taps = INTERPOLATION_TAPS.get(node.kwargs.get("mode", "nearest"), 1)
                field, jump = field + (taps - 1) * jump, jump * sides[0] / out
        state[node] = (field, jump)
    return rows


@torch.no_grad()
def _linearised(model: nn.Module) -> nn.Module:
    """A copy whose every path passes gradient: max-pools -> average pools, activations -> identity,
    weights -> their magnitudes (so that no two paths cancel)."""
    model = copy.deepcopy(model).eval()
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, nn.MaxPool2d):
                setattr(parent, name, nn.AvgPool2d(child.kernel_size, child.stride, child.padding,
                                                   ceil_mode=child.ceil_mode))
            elif isinstance(child, (nn.ReLU, nn.ReLU6, nn.Tanh, nn.Sigmoid, nn.GELU, nn.SiLU)):
                setattr(parent, name, nn.Identity())
    for parameter in model.parameters():
        parameter.abs_()
    return model


def measured_field(model: nn.Module, layer: str, in_channels: int = 1, image_size: int = 28) -> int:
    """The side of the input square whose pixels change `layer`'s centre output (measured by gradient)."""
    model = _linearised(model)
    target = dict(model.named_modules())[layer]
    seen = {}
    handle = target.register_forward_hook(lambda m, i, out: seen.setdefault("out", out))
    x = torch.ones(1, in_channels, image_size, image_size, requires_grad=True)
    try:
        model(x)
    finally:
        handle.remove()
    out = seen["out"]
    centre = out.shape[-1] // 2
    out[0, :, centre, centre].sum().backward()
    touched = x.grad[0].abs().sum(0) > 0
    rows, cols = torch.nonzero(touched.any(1)).flatten(), torch.nonzero(touched.any(0)).flatten()
    return int(max(rows.max() - rows.min(), cols.max() - cols.min()) + 1)
