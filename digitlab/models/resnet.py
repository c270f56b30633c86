"""ResNet (He et al., 2015) and ResNeXt (Xie et al., 2016) for 28x28 inputs.

The ImageNet stem (7x7 stride-2 conv and a max-pool) would shrink a digit to 7x7 before
the first block, so it is a single 3x3 stride-1 conv here; the four stages then run at
28, 14, 7 and 4 pixels. ResNeXt is the bottleneck ResNet with grouped 3x3 convs.
"""

from __future__ import annotations

import torch.nn as nn

from digitlab.models.blocks import BasicBlock, Bottleneck, ConvBNReLU, classifier_head
from digitlab.models.registry import register_model


class ResNet(nn.Module):
    def __init__(self, block: type[BasicBlock] | type[Bottleneck], layers: list[int], num_classes: int,
                 in_channels: int, widths=(64, 128, 256, 512), groups: int = 1, stem: int = 64):
        super().__init__()
        self.stem = ConvBNReLU(in_channels, stem, 3)
        stages, channels = [], stem
        for i, (count, width) in enumerate(zip(layers, widths)):
            blocks = []
            for j in range(count):
                blocks.append(block(channels, width, stride=2 if (i > 0 and j == 0) else 1, groups=groups))
                channels = width * block.expansion
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.Sequential(*stages)
        self.head = classifier_head(channels, num_classes)

    def forward(self, x):
        return self.head(self.stages(self.stem(x)))


@register_model("resnet18")
def resnet18(num_classes: int = 10, in_channels: int = 1, image_size: int = 28) -> nn.Module:
    """ResNet-18: basic blocks [2, 2, 2, 2], 64-512 channels, 3x3 stem for 28x28."""
    return ResNet(BasicBlock, [2, 2, 2, 2], num_classes, in_channels)


@register_model("resnet50")
def resnet50(num_classes: int = 10, in_channels: int = 1, image_size: int = 28) -> nn.Module:
    """ResNet-50: bottleneck blocks [3, 4, 6, 3] (1x1 reduce, 3x3, 1x1 expand x4)."""
    return ResNet(Bottleneck, [3, 4, 6, 3], num_classes, in_channels)


@register_model("resnet-bottleneck")
def resnet_bottleneck(num_classes: int = 10, in_channels: int = 1, image_size: int = 28) -> nn.Module:
    """Small bottleneck ResNet for CPUs: blocks [1, 1, 1, 1], widths 16-128 (outputs 64-512)."""
    return ResNet(Bottleneck, [1, 1, 1, 1], num_classes, in_channels, widths=(16, 32, 64, 128), stem=32)


@register_model("resnext")
def resnext(num_classes: int = 10, in_channels: int = 1, image_size: int = 28) -> nn.Module:
    """ResNeXt-style: bottleneck blocks [1, 2, 2, 1] with 8-group 3x3 convs (cardinality 8)."""
    return ResNet(Bottleneck, [1, 2, 2, 1], num_classes, in_channels, widths=(32, 64, 128, 256), groups=8, stem=32)
