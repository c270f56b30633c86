"""DenseNet-BC (Huang et al., 2017) for 28x28 inputs.

Every layer of a dense block gets the feature maps of all layers before it, concatenated,
and adds `growth` new ones: features are reused instead of re-learned, so a DenseNet needs
far fewer parameters than a ResNet of the same accuracy. "BC": each layer first narrows its
input with a 1x1 conv to 4 x growth channels (Bottleneck), and each transition between
blocks halves the channels (Compression 0.5) as it halves the resolution. Layers are
pre-activated (BN -> ReLU -> conv), as in the paper. For 28x28, three blocks run at 28, 14
and 7 pixels, with growth 12 and 6 layers per block (depth 40, the paper's smallest).
"""

from __future__ import annotations

import torch
import torch.nn as nn

from digitlab.models.blocks import classifier_head
from digitlab.models.registry import register_model


def bn_relu_conv(in_ch: int, out_ch: int, kernel: int, groups: int = 1) -> nn.Sequential:
    """Pre-activation: BatchNorm -> ReLU -> conv (no bias: the next BatchNorm has one)."""
    return nn.Sequential(nn.BatchNorm2d(in_ch), nn.ReLU(inplace=True),
                         nn.Conv2d(in_ch, out_ch, kernel, padding=kernel // 2, groups=groups, bias=False))


class DenseLayer(nn.Module):
    """1x1 conv to 4 x growth channels, then 3x3 conv to `growth` new ones, concatenated to the input."""

    def __init__(self, in_ch: int, growth: int, bottleneck: int = 4):
        super().__init__()
        width = bottleneck * growth
        self.body = nn.Sequential(bn_relu_conv(in_ch, width, 1), bn_relu_conv(width, growth, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x, self.body(x)], dim=1)


def transition(in_ch: int, out_ch: int) -> nn.Sequential:
    """Between blocks: a 1x1 conv compresses the channels, a 2x2 average pool halves the resolution."""
    return nn.Sequential(bn_relu_conv(in_ch, out_ch, 1), nn.AvgPool2d(2, ceil_mode=True))


class DenseNet(nn.Module):
    def __init__(self, num_classes: int, in_channels: int, growth: int = 12, layers: tuple[int, ...] = (6, 6, 6),
                 compression: float = 0.5):
        super().__init__()
        channels = 2 * growth
        parts: list[nn.Module] = [nn.Conv2d(in_channels, channels, 3, padding=1, bias=False)]
        for i, count in enumerate(layers):
            for _ in range(count):
                parts.append(DenseLayer(channels, growth))
                channels += growth
            if i < len(layers) - 1:
                out = int(channels * compression)
                parts.append(transition(channels, out))
                channels = out
        parts += [nn.BatchNorm2d(channels), nn.ReLU(inplace=True)]
        self.features = nn.Sequential(*parts)
        self.head = classifier_head(channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


@register_model("densenet")
def densenet(num_classes: int = 10, in_channels: int = 1, image_size: int = 28) -> nn.Module:
    """DenseNet-BC-40 (growth 12): dense blocks of 6 bottleneck layers at 28, 14, 7 px, compression 0.5."""
    return DenseNet(num_classes, in_channels)
