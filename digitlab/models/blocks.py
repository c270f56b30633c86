"""Building blocks shared by the model zoo.

Parameter counts (bias-free convolutions, k x k kernel, M input and N output channels):
  standard conv         k*k*M*N
  depthwise-separable   k*k*M + M*N     (a k x k conv per channel, then a 1x1 conv mixing channels)
  group conv (g groups) k*k*M*N / g     (each group sees M/g inputs and makes N/g outputs)
"""

from __future__ import annotations

import torch
import torch.nn as nn


class ConvBNReLU(nn.Sequential):
    """conv (no bias: BatchNorm has one) -> BatchNorm -> ReLU (or ReLU6, or nothing)."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int = 3, stride: int = 1, groups: int = 1,
                 activation: type[nn.Module] | None = nn.ReLU):
        layers = [nn.Conv2d(in_ch, out_ch, kernel, stride, padding=kernel // 2, groups=groups, bias=False),
                  nn.BatchNorm2d(out_ch)]
        if activation is not None:
            layers.append(activation(inplace=True))
        super().__init__(*layers)


class DepthwiseSeparable(nn.Sequential):
    """MobileNet v1's unit: a 3x3 depthwise conv (groups = channels) then a 1x1 pointwise conv."""

    def __init__(self, in_ch: int, out_ch: int, stride: int = 1):
        super().__init__(ConvBNReLU(in_ch, in_ch, 3, stride, groups=in_ch), ConvBNReLU(in_ch, out_ch, 1))


class BasicBlock(nn.Module):
    """ResNet-18/34 block: two 3x3 convs and a shortcut (1x1 conv when the shape changes)."""

    expansion = 1

    def __init__(self, in_ch: int, width: int, stride: int = 1, groups: int = 1):
        super().__init__()
        self.body = nn.Sequential(ConvBNReLU(in_ch, width, 3, stride), ConvBNReLU(width, width, 3, activation=None))
        self.shortcut = _shortcut(in_ch, width, stride)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.body(x) + self.shortcut(x))


class Bottleneck(nn.Module):
    """ResNet-50 block: 1x1 reduce, 3x3 (grouped in ResNeXt), 1x1 expand by 4, plus shortcut.

    The 1x1 convs let the expensive 3x3 work on a quarter of the channels.
    """

    expansion = 4

    def __init__(self, in_ch: int, width: int, stride: int = 1, groups: int = 1):
        super().__init__()
        out_ch = width * self.expansion
        self.body = nn.Sequential(
            ConvBNReLU(in_ch, width, 1),
            ConvBNReLU(width, width, 3, stride, groups=groups),
            ConvBNReLU(width, out_ch, 1, activation=None),
        )
        self.shortcut = _shortcut(in_ch, out_ch, stride)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.body(x) + self.shortcut(x))


def _shortcut(in_ch: int, out_ch: int, stride: int) -> nn.Module:
    if stride == 1 and in_ch == out_ch:
        return nn.Identity()
    return ConvBNReLU(in_ch, out_ch, 1, stride, activation=None)


class InvertedResidual(nn.Module):
    """MobileNet v2's unit: 1x1 expand (x t), 3x3 depthwise, 1x1 linear projection; residual when shapes match."""

    def __init__(self, in_ch: int, out_ch: int, stride: int, expand: int):
        super().__init__()
        hidden = in_ch * expand
        layers = [ConvBNReLU(in_ch, hidden, 1, activation=nn.ReLU6)] if expand != 1 else []
        layers += [ConvBNReLU(hidden, hidden, 3, stride, groups=hidden, activation=nn.ReLU6),
                   ConvBNReLU(hidden, out_ch, 1, activation=None)]  # linear bottleneck: no ReLU here
        self.body = nn.Sequential(*layers)
        self.residual = stride == 1 and in_ch == out_ch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x) if self.residual else self.body(x)


class InceptionBlock(nn.Module):
    """GoogLeNet's block: 1x1, 1x1->3x3, 1x1->5x5 and pool->1x1 branches, concatenated.

    The 1x1 convs reduce channels before the 3x3 and 5x5 ones, which is what keeps it cheap.
    """

    def __init__(self, in_ch: int, c1: int, c3_reduce: int, c3: int, c5_reduce: int, c5: int, pool_proj: int):
        super().__init__()
        self.branch1 = ConvBNReLU(in_ch, c1, 1)
        self.branch3 = nn.Sequential(ConvBNReLU(in_ch, c3_reduce, 1), ConvBNReLU(c3_reduce, c3, 3))
        self.branch5 = nn.Sequential(ConvBNReLU(in_ch, c5_reduce, 1), ConvBNReLU(c5_reduce, c5, 5))
        self.branch_pool = nn.Sequential(nn.MaxPool2d(3, 1, padding=1), ConvBNReLU(in_ch, pool_proj, 1))
        self.out_channels = c1 + c3 + c5 + pool_proj

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.branch1(x), self.branch3(x), self.branch5(x), self.branch_pool(x)], dim=1)


class ChannelShuffle(nn.Module):
    """Mix channels across groups so that stacked group convs do not stay in separate lanes (ShuffleNet)."""

    def __init__(self, groups: int):
        super().__init__()
        self.groups = groups

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        return x.view(n, self.groups, c // self.groups, h, w).transpose(1, 2).reshape(n, c, h, w)


def classifier_head(in_features: int, num_classes: int, dropout: float = 0.0) -> nn.Sequential:
    """Global average pooling, optional dropout, linear: works for any input size."""
    layers: list[nn.Module] = [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
    if dropout:
        layers.append(nn.Dropout(dropout))
    layers.append(nn.Linear(in_features, num_classes))
    return nn.Sequential(*layers)
