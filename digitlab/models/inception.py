"""GoogLeNet-style Inception network (Szegedy et al., 2014) for 28x28 inputs.

A 3x3 stem, then two stages of Inception blocks (parallel 1x1, 3x3, 5x5 and pooling
branches, each larger one behind a 1x1 reduction) with max-pooling between, global
average pooling and dropout, as in GoogLeNet's head.
"""

from __future__ import annotations

import torch.nn as nn

from digitlab.models.blocks import ConvBNReLU, InceptionBlock, classifier_head
from digitlab.models.registry import register_model


@register_model("inception")
def inception(num_classes: int = 10, in_channels: int = 1, image_size: int = 28) -> nn.Module:
    """GoogLeNet-style: 4 Inception blocks (1x1/3x3/5x5/pool branches with 1x1 reductions)."""
    a = InceptionBlock(64, 32, 48, 64, 8, 16, 16)          # -> 128 channels, 28x28
    b = InceptionBlock(a.out_channels, 64, 64, 96, 16, 48, 32)    # -> 240
    c = InceptionBlock(b.out_channels, 96, 48, 104, 8, 24, 32)    # -> 256, 14x14
    d = InceptionBlock(c.out_channels, 128, 80, 160, 16, 48, 48)  # -> 384
    return nn.Sequential(
        ConvBNReLU(in_channels, 64, 3),
        a, b, nn.MaxPool2d(2),
        c, d, nn.MaxPool2d(2),
        classifier_head(d.out_channels, num_classes, dropout=0.4),
    )
