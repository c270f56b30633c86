"""Augmentation applied to a whole batch tensor at once, on its device.

Both training engines draw their batches' augmentation from here (the NumPy engine too: torch
only prepares its batches), and the 3D CNN's moving digits are built from `shift_images`.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def shift_images(images: torch.Tensor, dy: torch.Tensor, dx: torch.Tensor, max_shift: int) -> torch.Tensor:
    """Move image i by (dy[i], dx[i]) pixels (|shift| <= max_shift), filling with zeros.

    Pad once, then gather each image's window with advanced indexing: one kernel for
    the batch instead of a Python loop over images.
    """
    n, _, h, w = images.shape
    padded = F.pad(images, (max_shift,) * 4)
    rows = (torch.arange(h, device=images.device) + max_shift).unsqueeze(0) - dy.to(images.device).unsqueeze(1)
    cols = (torch.arange(w, device=images.device) + max_shift).unsqueeze(0) - dx.to(images.device).unsqueeze(1)
    batch = torch.arange(n, device=images.device).view(n, 1, 1)
    out = padded.permute(0, 2, 3, 1)[batch, rows.unsqueeze(2), cols.unsqueeze(1)]  # (n, h, w, c)
    return out.permute(0, 3, 1, 2).contiguous()


def random_shift(images: torch.Tensor, max_shift: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Move each image by its own random (dy, dx) in [-max_shift, max_shift]."""
    if max_shift <= 0:
        return images
    dy, dx = torch.randint(-max_shift, max_shift + 1, (2, len(images)), generator=generator)
    return shift_images(images, dy, dx, max_shift)


def random_affine(images: torch.Tensor, degrees: float, scale: float, max_shift: int,
                  generator: torch.Generator | None = None) -> torch.Tensor:
    """Rotate by U(-degrees, degrees), scale by U(1-scale, 1+scale) and shift by U(-max_shift, max_shift)
    pixels, each image its own draw: one affine_grid + grid_sample for the whole batch."""
    n, _, h, w = images.shape
    angle = (torch.rand(n, generator=generator) * 2 - 1) * math.radians(degrees)
    zoom = 1 + (torch.rand(n, generator=generator) * 2 - 1) * scale
    shift = (torch.rand(2, n, generator=generator) * 2 - 1) * max_shift * 2 / torch.tensor([[w], [h]])
    cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom  # the grid maps output to input: inverse zoom
    theta = torch.stack([torch.stack([cos, -sin, shift[0]], 1), torch.stack([sin, cos, shift[1]], 1)], 1)
    grid = F.affine_grid(theta.to(images.device), [n, images.shape[1], h, w], align_corners=False)
    out = F.grid_sample(images.float(), grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return out.round_().clamp_(0, 255).to(torch.uint8)


def augment_batch(images: torch.Tensor, generator: torch.Generator | None = None, shift_pixels: int = 0,
                  rotate_degrees: float = 0.0, scale: float = 0.0, hflip: bool = False) -> torch.Tensor:
    """A training batch's augmentation: a random affine warp per image (or only a shift), then random
    mirror images. uint8 (N, C, H, W) in and out."""
    if rotate_degrees or scale:
        images = random_affine(images, rotate_degrees, scale, shift_pixels, generator)
    else:
        images = random_shift(images, shift_pixels, generator)
    if hflip:
        flip = (torch.rand(len(images), generator=generator) < 0.5).to(images.device).view(-1, 1, 1, 1)
        images = torch.where(flip, images.flip(-1), images)
    return images
