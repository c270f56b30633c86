"""Seeded, stratified splits: every class keeps its share in each part."""

from __future__ import annotations

import torch


def stratified_split(labels: torch.Tensor, fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices (kept, held_out) with `fraction` of each class held out, chosen by `seed`."""
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"split fraction must be in [0, 1), not {fraction}")
    generator = torch.Generator().manual_seed(seed)
    kept, held = [], []
    for cls in torch.unique(labels):
        members = torch.nonzero(labels == cls).flatten()
        members = members[torch.randperm(len(members), generator=generator)]
        n_held = int(round(len(members) * fraction))
        held.append(members[:n_held])
        kept.append(members[n_held:])
    kept_idx, held_idx = torch.cat(kept), torch.cat(held)
    # Interleave classes again so that a plain slice is not one class long.
    kept_idx = kept_idx[torch.randperm(len(kept_idx), generator=generator)]
    held_idx = held_idx[torch.randperm(len(held_idx), generator=generator)]
    return kept_idx, held_idx
