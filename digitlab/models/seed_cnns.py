"""The small CNNs of the tutorials digitlab grew from.

`seed-cnn`  : the classic PyTorch MNIST tutorial net (conv16 5x5 -> pool -> conv32 -> pool -> linear).
`seed-cnn3` : three conv blocks (32-64-128, 3x3), each conv-ReLU-max-pool, then a linear head.
`seed-tiny` : a very small conv4/conv8 net with a 512-unit dense layer and dropout.
All keep the spatial size through the convs ('same' padding), so two poolings give 7x7 on MNIST.
"""

from __future__ import annotations

import torch.nn as nn

from digitlab.models.registry import register_model


def _conv_relu_pool(in_ch: int, out_ch: int, kernel: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(in_ch, out_ch, kernel, padding=kernel // 2), nn.ReLU(inplace=True), nn.MaxPool2d(2))


@register_model("seed-cnn")
def seed_cnn(num_classes: int = 10, in_channels: int = 1, image_size: int = 28) -> nn.Module:
    """Tutorial CNN: conv16 5x5, pool, conv32 5x5, pool, linear (seed 003)."""
    side = image_size // 4
    return nn.Sequential(
        _conv_relu_pool(in_channels, 16, 5),
        _conv_relu_pool(16, 32, 5),
        nn.Flatten(),
        nn.Linear(32 * side * side, num_classes),
    )


@register_model("seed-cnn3")
def seed_cnn3(num_classes: int = 10, in_channels: int = 1, image_size: int = 28) -> nn.Module:
    """Three conv blocks 32-64-128 (3x3, ReLU, max-pool) and a linear head (seed 001)."""
    side = image_size // 8
    return nn.Sequential(
        _conv_relu_pool(in_channels, 32, 3),
        _conv_relu_pool(32, 64, 3),
        _conv_relu_pool(64, 128, 3),
        nn.Flatten(),
        nn.Linear(128 * side * side, num_classes),
    )


@register_model("seed-tiny")
def seed_tiny(num_classes: int = 10, in_channels: int = 1, image_size: int = 28) -> nn.Module:
    """Tiny CNN: conv4 5x5, pool, conv8 5x5, pool, dense 512, dropout 0.5 (seed 000)."""
    side = image_size // 4
    return nn.Sequential(
        _conv_relu_pool(in_channels, 4, 5),
        _conv_relu_pool(4, 8, 5),
        nn.Flatten(),
        nn.Linear(8 * side * side, 512),
        nn.ReLU(inplace=True),
        nn.Dropout(0.5),
        nn.Linear(512, num_classes),
    )
