"""A small 3D CNN over a stack of frames (Tran et al.'s C3D, in miniature).

The input's channel axis is read as time: a clip of T grey 28x28 frames arrives as
(N, T, 28, 28), like the `moving-mnist` data set, and becomes (N, 1, T, 28, 28) for the
3D convolutions, whose 3x3x3 kernels look at neighbouring frames as well as pixels. A
still image is a clip of one frame (or of three, for RGB), so the model runs on any data.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from digitlab.models.registry import register_model


def _block(i: int, o: int, pool: tuple[int, int, int]) -> nn.Sequential:
    return nn.Sequential(nn.Conv3d(i, o, 3, padding=1, bias=False), nn.BatchNorm3d(o), nn.ReLU(inplace=True),
                         nn.MaxPool3d(pool, ceil_mode=True))


class Conv3DNet(nn.Module):
    def __init__(self, num_classes: int, frames: int):
        super().__init__()
        self.frames = frames
        self.features = nn.Sequential(
            _block(1, 16, (1, 2, 2)),   # space only: keep early motion detail
            _block(16, 32, (2, 2, 2)),  # then time and space
            _block(32, 64, (2, 2, 2)),
        )
        self.head = nn.Sequential(nn.AdaptiveAvgPool3d(1), nn.Flatten(), nn.Linear(64, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x.unsqueeze(1)))  # (N, T, H, W) -> (N, 1, T, H, W)


@register_model("conv3d")
def conv3d(num_classes: int = 10, in_channels: int = 1, image_size: int = 28) -> nn.Module:
    """3D CNN over frames (channels = time): 3 blocks of 3x3x3 conv 16-32-64, BN, 3D max-pool."""
    return Conv3DNet(num_classes, frames=in_channels)
