"""VGG (Simonyan & Zisserman, 2014) with BatchNorm: stacks of 3x3 convs, channels doubling after each pool.

A 28x28 digit survives four 2x2 poolings (28 -> 14 -> 7 -> 3 -> 1), not five, so the
last pool is dropped; the three 4096-unit dense layers become global average pooling
and one linear layer, as in the CIFAR variants of VGG.
"""

from __future__ import annotations

import torch.nn as nn

from digitlab.models.blocks import ConvBNReLU, classifier_head
from digitlab.models.registry import register_model

# channels per conv; "M" is a 2x2 max-pool
CONFIGS = {
    "vgg11": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512],
    "vgg16": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512],
}


def _vgg(config: list, num_classes: int, in_channels: int) -> nn.Module:
    layers, channels = [], in_channels
    for item in config:
        if item == "M":
            layers.append(nn.MaxPool2d(2))
        else:
            layers.append(ConvBNReLU(channels, item, 3))
            channels = item
    return nn.Sequential(*layers, classifier_head(channels, num_classes, dropout=0.3))


@register_model("vgg11")
def vgg11(num_classes: int = 10, in_channels: int = 1, image_size: int = 28) -> nn.Module:
    """VGG-11 with BatchNorm: 8 convs 3x3 (64 to 512 channels), 4 max-pools."""
    return _vgg(CONFIGS["vgg11"], num_classes, in_channels)


@register_model("vgg16")
def vgg16(num_classes: int = 10, in_channels: int = 1, image_size: int = 28) -> nn.Module:
    """VGG-16 with BatchNorm: 13 convs 3x3 (64 to 512 channels), 4 max-pools."""
    return _vgg(CONFIGS["vgg16"], num_classes, in_channels)
