"""Moving digits: clips of a digit crossing the frame, for the 3D CNN.

Each clip is one digit moving in a straight line at one pixel per frame (in one of 8
directions) through the centre, with a small random offset. The T frames are stored as
the T channels of a (N, T, 28, 28) uint8 tensor, so clips travel through the same
batching, normalisation and checkpoint code as still images.
"""

from __future__ import annotations

import torch

from digitlab.data.augment import shift_images

DIRECTIONS = torch.tensor([(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if (dy, dx) != (0, 0)])


def moving_clips(images: torch.Tensor, frames: int = 8, seed: int = 0) -> torch.Tensor:
    """uint8 stills (N, 1, H, W) -> uint8 clips (N, frames, H, W)."""
    generator = torch.Generator().manual_seed(seed)
    n = len(images)
    velocity = DIRECTIONS[torch.randint(len(DIRECTIONS), (n,), generator=generator)]  # (n, 2)
    offset = torch.randint(-1, 2, (n, 2), generator=generator)
    middle = frames // 2
    max_shift = max(middle, frames - 1 - middle) + 1
    clip = []
    for t in range(frames):
        shift = velocity * (t - middle) + offset
        clip.append(shift_images(images, shift[:, 0], shift[:, 1], max_shift))
    return torch.cat(clip, dim=1)
