"""ShuffleNet v1 (Zhang et al., 2017) for 28x28 inputs: group convolutions and channel shuffle.

Its unit is a bottleneck whose 1x1 convs are *grouped* (g = 3 here), which cuts their
cost by g; a channel shuffle after the first one lets information cross groups. A
stage's first unit (stride 2 in the paper; stride 1 for the first stage here, to keep
28x28) concatenates an average-pooled shortcut instead of adding it, which grows the channels.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from digitlab.models.blocks import ChannelShuffle, ConvBNReLU, classifier_head
from digitlab.models.registry import register_model


class ShuffleUnit(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, stride: int, groups: int, concat: bool,
                 first_groups: int | None = None):
        super().__init__()
        self.stride, self.concat = stride, concat
        branch_out = out_ch - in_ch if concat else out_ch
        mid = out_ch // 4
        self.body = nn.Sequential(
            ConvBNReLU(in_ch, mid, 1, groups=first_groups or groups),
            ChannelShuffle(first_groups or groups),
            ConvBNReLU(mid, mid, 3, stride, groups=mid, activation=None),  # depthwise
            ConvBNReLU(mid, branch_out, 1, groups=groups, activation=None),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.concat:
            return F.relu(torch.cat([F.avg_pool2d(x, 3, self.stride, 1), self.body(x)], dim=1))
        return F.relu(x + self.body(x))


@register_model("shufflenet")
def shufflenet(num_classes: int = 10, in_channels: int = 1, image_size: int = 28, groups: int = 3) -> nn.Module:
    """ShuffleNet v1 (g=3, 0.5x): grouped 1x1 convs + channel shuffle + depthwise 3x3."""
    stage_out = {3: (120, 240, 480)}[groups]
    layers: list[nn.Module] = [ConvBNReLU(in_channels, 24, 3)]
    channels = 24
    for stage, (out, repeats) in enumerate(zip(stage_out, (4, 8, 4))):
        for i in range(repeats):
            stride = 2 if i == 0 and stage > 0 else 1
            # the very first 1x1 conv sees only 24 channels: not grouped, as in the paper
            first_groups = 1 if channels == 24 else None
            layers.append(ShuffleUnit(channels, out, stride, groups, concat=i == 0, first_groups=first_groups))
            channels = out
    return nn.Sequential(*layers, classifier_head(channels, num_classes))
