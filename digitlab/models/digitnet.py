"""digitnet: a small, well-shaped CNN built for accuracy per CPU-second.

Three conv-BN-ReLU blocks (3x3, channels doubling 32-64-128 by default), each followed
by 2x2 max-pooling (28 -> 14 -> 7 -> 3), then one linear layer. BatchNorm lets it train at
high learning rates, pooling early keeps the expensive convolutions small, and it has no
dense hidden layer to overfit with.

digitnet-lite trades a little accuracy for speed: a 4x4 stride-2 first conv (in int8 the
1-channel conv at full size and its pool were the largest share of the time) and channels 24-48-96.

digitnet-poolfirst pools straight after each convolution, then normalises (as the CIFAR-10
speed records do): BatchNorm and ReLU see a quarter of the values, so a training step costs
less, for the same weights. Its BatchNorm cannot be folded into the conv directly;
export swaps it in front of the pool first where that computes the same (positive scales).

digitnet-fast (Fashion-MNIST's recipe) moves capacity from where it is dear to where it is
cheap: 16 first channels instead of 32 (the 1-channel conv on the full 28x28 image was the
most expensive forward conv of a training step) and a 256-unit hidden layer with BatchNorm
after the convolutions, which costs little on a 3x3x128 map. Pool-first blocks as above.

digitnet-lite-dense (the digit recipes' model, so the default one) is digitnet-lite with a
16-channel stem and the same 256-unit BN hidden layer: nearly digitnet-fast's accuracy on
digits at nearly digitnet-lite's int8 speed.

The figures behind each choice come from benchmarks/speed.py and benchmarks/zoo.py;
docs/models.md keeps them.
"""

from __future__ import annotations

import torch.nn as nn

from digitlab.models.blocks import ConvBNReLU
from digitlab.models.registry import register_model


def _head(channels: int, side: int, num_classes: int, hidden: int = 0) -> list[nn.Module]:
    """Linear classifier over the flattened map, with a BN hidden layer of `hidden` units if > 0."""
    if not hidden:
        return [nn.Flatten(), nn.Linear(channels * side * side, num_classes)]
    return [nn.Flatten(), nn.Linear(channels * side * side, hidden, bias=False), nn.BatchNorm1d(hidden),
            nn.ReLU(inplace=True), nn.Linear(hidden, num_classes)]


def _digitnet(widths: tuple[int, int, int], num_classes: int, in_channels: int, image_size: int,
              strided_stem: bool = False, hidden: int = 0) -> nn.Module:
    a, b, c = widths
    side = image_size // 8
    if strided_stem:  # 4x4 conv, stride 2: straight to half size, no full-size activation to pool
        stem = [nn.Conv2d(in_channels, a, 4, stride=2, padding=1, bias=False), nn.BatchNorm2d(a), nn.ReLU(inplace=True)]
    else:
        stem = [ConvBNReLU(in_channels, a, 3), nn.MaxPool2d(2)]
    return nn.Sequential(
        *stem,
        ConvBNReLU(a, b, 3), nn.MaxPool2d(2),
        ConvBNReLU(b, c, 3), nn.MaxPool2d(2),
        *_head(c, side, num_classes, hidden),
    )


@register_model("digitnet")
def digitnet(num_classes: int = 10, in_channels: int = 1, image_size: int = 28) -> nn.Module:
    """Fast BN CNN: conv-BN-ReLU 32-64-128 (3x3), max-pool after each, linear head."""
    return _digitnet((32, 64, 128), num_classes, in_channels, image_size)


@register_model("digitnet-wide")
def digitnet_wide(num_classes: int = 10, in_channels: int = 1, image_size: int = 28) -> nn.Module:
    """Wider digitnet: conv-BN-ReLU 64-128-256 (3x3), max-pool after each, linear head."""
    return _digitnet((64, 128, 256), num_classes, in_channels, image_size)


@register_model("digitnet-lite")
def digitnet_lite(num_classes: int = 10, in_channels: int = 1, image_size: int = 28) -> nn.Module:
    """Faster digitnet: 4x4 stride-2 conv stem, then conv-BN-ReLU 48-96 with max-pools; linear head."""
    return _digitnet((24, 48, 96), num_classes, in_channels, image_size, strided_stem=True)


def _poolfirst_blocks(widths: tuple[int, ...], in_channels: int) -> list[nn.Module]:
    layers: list[nn.Module] = []
    for cin, cout in zip((in_channels, *widths[:-1]), widths):
        layers += [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.MaxPool2d(2), nn.BatchNorm2d(cout),
                   nn.ReLU(inplace=True)]
    return layers


@register_model("digitnet-poolfirst")
def digitnet_poolfirst(num_classes: int = 10, in_channels: int = 1, image_size: int = 28) -> nn.Module:
    """digitnet with each block as conv -> max-pool -> BN -> ReLU: cheaper training steps (benchmarks/zoo.py)."""
    return nn.Sequential(*_poolfirst_blocks((32, 64, 128), in_channels), *_head(128, image_size // 8, num_classes))


@register_model("digitnet-fast")
def digitnet_fast(num_classes: int = 10, in_channels: int = 1, image_size: int = 28) -> nn.Module:
    """Pool-first blocks 16-64-128, then a 256-unit BN hidden layer: Fashion-MNIST's fast recipe."""
    return nn.Sequential(*_poolfirst_blocks((16, 64, 128), in_channels), *_head(128, image_size // 8, num_classes, 256))


@register_model("digitnet-lite-dense")
def digitnet_lite_dense(num_classes: int = 10, in_channels: int = 1, image_size: int = 28) -> nn.Module:
    """digitnet-lite with a 16-channel stem and a 256-unit BN hidden layer: the digit recipes' model."""
    return _digitnet((16, 48, 96), num_classes, in_channels, image_size, strided_stem=True, hidden=256)
