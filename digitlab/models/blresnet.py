"""Big-Little Net (Chen, Fan, Mallinar, Sercu and Feris, ICLR 2019): bL-ResNet for 28x28 inputs.

A bL-module runs two branches on the same input. The Big branch is deep and wide but
works at half the resolution (its first block has stride 2), so its many convolutions
cost a quarter as much; the Little branch keeps the full resolution for detail but is
shallow and narrow (1/alpha of the channels, 1/beta of the blocks). The big output is
upsampled (bilinear), the little one widened by a 1x1 conv, the two are added, and one
residual block at full resolution fuses them. For 28x28 the first two stages are
bL-modules (full resolution 28 and 14; the big branches run at 14 and 7), as the paper
uses bL-modules in all stages but the last; the last stage is plain residual blocks at 7.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from digitlab.models.blocks import BasicBlock, ConvBNReLU, classifier_head
from digitlab.models.registry import register_model


class BigLittleModule(nn.Module):
    """Big: `blocks` residual blocks at half resolution; Little: blocks / beta at full resolution with
    channels / alpha; merged by upsampling and addition, then a fusing residual block."""

    def __init__(self, channels: int, blocks: int, alpha: int = 2, beta: int = 2):
        super().__init__()
        little = channels // alpha
        self.big = nn.Sequential(BasicBlock(channels, channels, stride=2),
                                 *[BasicBlock(channels, channels) for _ in range(blocks - 1)])
        self.little = nn.Sequential(BasicBlock(channels, little),
                                    *[BasicBlock(little, little) for _ in range(max(1, blocks // beta) - 1)],
                                    ConvBNReLU(little, channels, 1, activation=None))
        self.relu = nn.ReLU(inplace=True)
        self.fuse = BasicBlock(channels, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        little = self.little(x)
        big = F.interpolate(self.big(x), size=little.shape[-2:], mode="bilinear", align_corners=False)
        return self.fuse(self.relu(big + little))


@register_model("bl-resnet")
def bl_resnet(num_classes: int = 10, in_channels: int = 1, image_size: int = 28) -> nn.Module:
    """bL-ResNet (alpha 2, beta 2): big-little modules at 28 and 14 px (big branches at 14 and 7), 32-128 channels."""
    return nn.Sequential(
        ConvBNReLU(in_channels, 32, 3),
        BigLittleModule(32, blocks=2),            # 28x28 (big branch at 14x14)
        BasicBlock(32, 64, stride=2),
        BigLittleModule(64, blocks=2),            # 14x14 (big branch at 7x7)
        BasicBlock(64, 128, stride=2),
        BasicBlock(128, 128),                     # 7x7: too small to halve again
        classifier_head(128, num_classes),
    )
