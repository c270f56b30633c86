"""Augmentation applied to a whole batch tensor at once, on its device."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def random_shift(images: torch.Tensor, max_shift: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Move each image by its own random (dy, dx) in [-max_shift, max_shift], filling with zeros.

    Pad once, then gather each image's window with advanced indexing: one kernel for
    the batch instead of a Python loop over images.
    """
    if max_shift <= 0:
        return images
    n, _, h, w = images.shape
    shifts = torch.randint(-max_shift, max_shift + 1, (2, n), generator=generator).to(images.device)
    padded = F.pad(images, (max_shift,) * 4)
    rows = (torch.arange(h, device=images.device) + max_shift).unsqueeze(0) - shifts[0].unsqueeze(1)  # (n, h)
    cols = (torch.arange(w, device=images.device) + max_shift).unsqueeze(0) - shifts[1].unsqueeze(1)  # (n, w)
    batch = torch.arange(n, device=images.device).view(n, 1, 1)
    out = padded.permute(0, 2, 3, 1)[batch, rows.unsqueeze(2), cols.unsqueeze(1)]  # (n, h, w, c)
    return out.permute(0, 3, 1, 2).contiguous()
