"""CondenseNet (Huang, Liu, van der Maaten and Weinberger, CVPR 2018) for 28x28 inputs.

A DenseNet whose 1x1 bottleneck convs learn their own group structure. Each learned group
conv (LGC) splits its output filters into G groups; during the first half of training,
C - 1 condensation stages each remove, per group, the 1/C of the input channels whose
weights in that group matter least (smallest L1 norm), while a group-lasso penalty pushes
whole (group, input channel) columns towards zero so that removing them costs little. At
the end every group reads 1/C of its inputs. For inference the LGC becomes what it now is:
an index layer (gather each group's inputs) and a standard group conv, with the same
outputs (tested) and 1/C of the 1x1 conv's weights and MACs. A channel shuffle lets the
3x3 group conv after it see the outputs of every LGC group. Transitions only pool, and the
growth rate doubles from block to block, as in the paper (exponentially increasing growth,
full dense connectivity across blocks).

The trainer drives the stages through two hooks any model may define: `training_progress(p)`
(p = fraction of training steps done) and `regularization()` (added to the loss).
"""

from __future__ import annotations

import copy

import torch
import torch.nn as nn
import torch.nn.functional as F

from digitlab.models.blocks import ChannelShuffle, classifier_head
from digitlab.models.densenet import bn_relu_conv
from digitlab.models.registry import register_model

GROUP_LASSO = 1e-5   # weight of the group-lasso penalty (per summed column L2 norm), as small as in the paper's code


class LearnedGroupConv(nn.Module):
    """BN -> ReLU -> 1x1 conv whose `groups` groups of output filters each learn which inputs to keep."""

    def __init__(self, in_ch: int, out_ch: int, groups: int, condense: int):
        super().__init__()
        if out_ch % groups:
            raise ValueError(f"{out_ch} output channels do not split into {groups} groups")
        self.groups, self.condense = groups, condense
        self.norm, self.relu = nn.BatchNorm2d(in_ch), nn.ReLU(inplace=True)
        self.conv = nn.Conv2d(in_ch, out_ch, 1, bias=False)
        self.register_buffer("mask", torch.ones(out_ch, in_ch))      # 1: this filter reads this input
        self.register_buffer("stage", torch.zeros((), dtype=torch.long))  # condensation stages done

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(self.relu(self.norm(x)), self.conv.weight * self.mask[:, :, None, None])

    def _group_weights(self) -> torch.Tensor:
        """(groups, filters per group, inputs): the masked weights, grouped."""
        out_ch, in_ch = self.mask.shape
        return (self.conv.weight[:, :, 0, 0] * self.mask).reshape(self.groups, out_ch // self.groups, in_ch)

    def group_lasso(self) -> torch.Tensor:
        """Sum over (group, input) columns of the column's L2 norm: zero columns are free, others cost."""
        return self._group_weights().pow(2).sum(1).add(1e-12).sqrt().sum()

    @property
    def drop_per_stage(self) -> int:
        return self.mask.shape[1] // self.condense

    @torch.no_grad()
    def condense_to(self, stage: int) -> None:
        """Run condensation stages until `stage` (at most C - 1) are done: each drops, per group, the
        `in/C` kept inputs with the smallest L1 norm over the group's filters."""
        stage = min(stage, self.condense - 1)
        while int(self.stage) < stage:
            importance = self._group_weights().abs().sum(1)           # (groups, inputs)
            importance[self._group_mask() == 0] = float("inf")        # already dropped
            dropped = importance.argsort(dim=1)[:, :self.drop_per_stage]
            per_group = self.mask.reshape(self.groups, -1, self.mask.shape[1])
            for g in range(self.groups):
                per_group[g][:, dropped[g]] = 0
            self.stage += 1

    def _group_mask(self) -> torch.Tensor:
        return self.mask.reshape(self.groups, -1, self.mask.shape[1])[:, 0, :]  # a group's filters share columns

    def converted(self) -> IndexedGroupConv:
        """The inference form: the kept inputs of each group gathered, then one standard group conv."""
        kept = [torch.nonzero(row).flatten() for row in self._group_mask()]
        if len({len(k) for k in kept}) != 1:
            raise ValueError("groups keep different numbers of inputs: condense to the same stage first")
        index = torch.cat(kept)
        per_group = len(kept[0])
        conv = nn.Conv2d(len(index), self.mask.shape[0], 1, groups=self.groups, bias=False)
        weights = self.conv.weight[:, :, 0, 0].reshape(self.groups, -1, self.mask.shape[1])
        conv.weight.data = torch.stack([weights[g][:, k] for g, k in enumerate(kept)]).reshape(
            self.mask.shape[0], per_group, 1, 1).clone()
        norm = nn.BatchNorm2d(len(index)).eval()
        for name in ("weight", "bias", "running_mean", "running_var"):
            getattr(norm, name).data = getattr(self.norm, name).data[index].clone()
        norm.eps = self.norm.eps
        return IndexedGroupConv(index, norm, conv)


class IndexedGroupConv(nn.Module):
    """Gather the input channels each group reads (a channel may be read by several), BN -> ReLU -> group conv."""

    def __init__(self, index: torch.Tensor, norm: nn.BatchNorm2d, conv: nn.Conv2d):
        super().__init__()
        self.register_buffer("index", index)
        self.norm, self.relu, self.conv = norm, nn.ReLU(inplace=True), conv

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(self.relu(self.norm(x.index_select(1, self.index))))


class CondenseLayer(nn.Module):
    """LGC to 4 x growth channels, shuffle, 3x3 group conv to `growth` new ones, concatenated to the input."""

    def __init__(self, in_ch: int, growth: int, groups: int, condense: int, bottleneck: int = 4):
        super().__init__()
        self.reduce = LearnedGroupConv(in_ch, bottleneck * growth, groups, condense)
        self.shuffle = ChannelShuffle(groups)
        self.conv = bn_relu_conv(bottleneck * growth, growth, 3, groups=groups)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x, self.conv(self.shuffle(self.reduce(x)))], dim=1)


class CondenseNet(nn.Module):
    def __init__(self, num_classes: int, in_channels: int, layers=(4, 6, 8), growth=(8, 16, 32), groups: int = 4,
                 condense: int = 4):
        super().__init__()
        channels = 2 * growth[0]
        parts: list[nn.Module] = [nn.Conv2d(in_channels, channels, 3, padding=1, bias=False)]
        for i, (count, rate) in enumerate(zip(layers, growth)):
            if i:
                parts.append(nn.AvgPool2d(2, ceil_mode=True))  # no compressing conv: every feature stays reachable
            for _ in range(count):
                parts.append(CondenseLayer(channels, rate, groups, condense))
                channels += rate
        parts += [nn.BatchNorm2d(channels), nn.ReLU(inplace=True)]
        self.features = nn.Sequential(*parts)
        self.head = classifier_head(channels, num_classes)
        self.condense = condense

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))

    def _lgcs(self) -> list[LearnedGroupConv]:
        return [m for m in self.modules() if isinstance(m, LearnedGroupConv)]

    def training_progress(self, progress: float) -> None:
        """Stage s of C - 1 happens at s / (2 (C - 1)) of training: all are done half-way (the paper's schedule)."""
        stage = int(progress * 2 * (self.condense - 1) + 1e-9)
        for lgc in self._lgcs():
            lgc.condense_to(stage)

    def regularization(self) -> torch.Tensor:
        return GROUP_LASSO * sum(lgc.group_lasso() for lgc in self._lgcs())

    def for_inference(self) -> nn.Module:
        """A copy with every LGC converted to an index layer and a group conv (fully condensed first)."""
        model = copy.deepcopy(self).eval()
        model.training_progress(1.0)
        for parent in list(model.modules()):
            for name, child in list(parent.named_children()):
                if isinstance(child, LearnedGroupConv):
                    setattr(parent, name, child.converted())
        return model


@register_model("condensenet")
def condensenet(num_classes: int = 10, in_channels: int = 1, image_size: int = 28) -> nn.Module:
    """CondenseNet: learned group convs (G=4, each keeps 1/4 of its inputs), growth 8-16-32 over 4-6-8 layers."""
    return CondenseNet(num_classes, in_channels)
