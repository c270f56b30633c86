"""Augmentation applied to a whole batch tensor at once, on its device.

Both training engines draw their batches' augmentation from here (the NumPy engine too: torch
only prepares its batches), and the 3D CNN's moving digits are built from `shift_images`.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from digitlab.reading.framing import BOX_SIDE, CENTRE, INK_THRESHOLD


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


ELASTIC_CELLS = 3  # control points across an image for elastic warps: a 3x3 grid bends whole strokes as a hand
                   # does (evidence: docs/models.md, "Elastic warps")


def elastic_field(n: int, h: int, w: int, pixels: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """A smooth random displacement per image, (n, h, w, 2) in affine_grid's units: each control point of an
    ELASTIC_CELLS grid moves by N(0, pixels) in x and y, bicubic in between. Simard et al. (2003) smooth
    per-pixel noise with a wide Gaussian; a coarse grid gives the same smoothness at a fraction of the cost."""
    moves = torch.randn(n, 2, ELASTIC_CELLS, ELASTIC_CELLS, generator=generator) * pixels
    field = F.interpolate(moves, size=(h, w), mode="bicubic", align_corners=True)
    return (field * (2 / torch.tensor([w, h], dtype=field.dtype)).view(1, 2, 1, 1)).permute(0, 2, 3, 1)


def random_affine(images: torch.Tensor, degrees: float, scale: float, max_shift: int,
                  generator: torch.Generator | None = None, elastic: float = 0.0) -> torch.Tensor:
    """Rotate by U(-degrees, degrees), scale by U(1-scale, 1+scale) and shift by U(-max_shift, max_shift)
    pixels, each image its own draw, and bend it by an elastic_field of `elastic` pixels: one affine_grid +
    grid_sample for the whole batch."""
    n, _, h, w = images.shape
    angle = (torch.rand(n, generator=generator) * 2 - 1) * math.radians(degrees)
    zoom = 1 + (torch.rand(n, generator=generator) * 2 - 1) * scale
    shift = (torch.rand(2, n, generator=generator) * 2 - 1) * max_shift * 2 / torch.tensor([[w], [h]])
    cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom  # the grid maps output to input: inverse zoom
    theta = torch.stack([torch.stack([cos, -sin, shift[0]], 1), torch.stack([sin, cos, shift[1]], 1)], 1)
    grid = F.affine_grid(theta.to(images.device), [n, images.shape[1], h, w], align_corners=False)
    if elastic > 0:
        grid = grid + elastic_field(n, h, w, elastic, generator).to(grid.device)
    out = F.grid_sample(images.float(), grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return out.round_().clamp_(0, 255).to(torch.uint8)


def random_stroke_width(images: torch.Tensor, pixels: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Each image's strokes thicker or thinner by up to `pixels` (a fine pen, a marker): a 3x3 grey
    dilation or erosion (one pixel on each side) blended in by a random share."""
    if pixels <= 0:
        return images
    n = len(images)
    share = (torch.rand(n, generator=generator) * min(pixels, 2.0) / 2).to(images.device).view(-1, 1, 1, 1)
    thicker = (torch.rand(n, generator=generator) < 0.5).to(images.device).view(-1, 1, 1, 1)
    x = images.float()
    grown, shrunk = F.max_pool2d(x, 3, 1, 1), -F.max_pool2d(-x, 3, 1, 1)
    out = x + share * (torch.where(thicker, grown, shrunk) - x)
    return out.round_().clamp_(0, 255).to(torch.uint8)


def refit_like_mnist(images: torch.Tensor) -> torch.Tensor:
    """Each image re-framed as reading.framing.mnist_style frames a picture: its ink (above a fifth of its
    peak) scaled to fit 20x20, its centre of mass moved to the centre, faint ink under a tenth dropped.
    One affine_grid + grid_sample for the batch. uint8 (N, 1, 28, 28) in and out."""
    n, _, h, w = images.shape
    x = images.float()
    peak = x.amax(dim=(1, 2, 3), keepdim=True).clamp_min(1.0)
    x = torch.where(x >= INK_THRESHOLD / 2 * peak, x, torch.zeros_like(x))
    strong = (x > INK_THRESHOLD * peak)[:, 0]
    ys, xs = torch.arange(h, device=x.device), torch.arange(w, device=x.device)
    rows, cols = strong.any(dim=2), strong.any(dim=1)
    top = torch.where(rows, ys, h).amin(dim=1)
    bottom = torch.where(rows, ys, -1).amax(dim=1)
    left = torch.where(cols, xs, w).amin(dim=1)
    right = torch.where(cols, xs, -1).amax(dim=1)
    extent = torch.maximum(bottom - top + 1, right - left + 1).clamp_min(1).float()
    scale = BOX_SIDE / extent                                         # output pixels per input pixel
    mass = x[:, 0].sum(dim=(1, 2)).clamp_min(1e-6)
    cy = (x[:, 0].sum(dim=2) * ys).sum(dim=1) / mass                 # centre of mass, in pixel indices
    cx = (x[:, 0].sum(dim=1) * xs).sum(dim=1) / mass
    # output index = scale * input index + shift, the shift rounded to whole pixels as mnist_style places its
    # box (so that an MNIST digit comes back as it was); then in affine_grid's normalised coordinates
    shift_x, shift_y = torch.round(CENTRE - scale * cx), torch.round(CENTRE - scale * cy)
    tx = (w - 1 - 2 * shift_x) / (w * scale) + 1 / w - 1
    ty = (h - 1 - 2 * shift_y) / (h * scale) + 1 / h - 1
    zero = torch.zeros_like(scale)
    theta = torch.stack([torch.stack([1 / scale, zero, tx], 1), torch.stack([zero, 1 / scale, ty], 1)], 1)
    grid = F.affine_grid(theta, [n, 1, h, w], align_corners=False)
    out = F.grid_sample(x / peak * 255, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return out.round_().clamp_(0, 255).to(torch.uint8)


def random_low_resolution(images: torch.Tensor, share: float, generator: torch.Generator | None = None,
                          smallest: int = 7) -> torch.Tensor:
    """`share` of the images as a small scan would show them once preprocessed: averaged down to
    `smallest`..half their size, enlarged back (bilinear) and re-framed as preprocessing frames it."""
    if share <= 0:
        return images
    n, _, h, w = images.shape
    chosen = torch.rand(n, generator=generator) < share
    sizes = torch.randint(smallest, max(smallest, h // 2) + 1, (n,), generator=generator)
    out = images.clone()
    for size in sizes[chosen].unique().tolist():
        pick = (chosen & (sizes == size)).nonzero().flatten().to(images.device)
        small = F.interpolate(images[pick].float(), size=(size, size * w // h), mode="area")
        big = F.interpolate(small, size=(h, w), mode="bilinear", align_corners=False).round_().clamp_(0, 255)
        digits = tuple(images.shape[1:]) == (1, 28, 28)  # framed like MNIST's digits; other pictures are not
        out[pick] = refit_like_mnist(big.to(torch.uint8)) if digits else big.to(torch.uint8)
    return out


def augment_batch(images: torch.Tensor, generator: torch.Generator | None = None, shift_pixels: int = 0,
                  rotate_degrees: float = 0.0, scale: float = 0.0, hflip: bool = False, stroke_width: float = 0.0,
                  low_resolution: float = 0.0, elastic: float = 0.0) -> torch.Tensor:
    """A training batch's augmentation: other pens and small scans, a random affine (and elastic) warp per
    image (or only a shift), then random mirror images. uint8 (N, C, H, W) in and out."""
    images = random_low_resolution(random_stroke_width(images, stroke_width, generator), low_resolution, generator)
    if rotate_degrees or scale or elastic:
        images = random_affine(images, rotate_degrees, scale, shift_pixels, generator, elastic)
    else:
        images = random_shift(images, shift_pixels, generator)
    if hflip:
        flip = (torch.rand(len(images), generator=generator) < 0.5).to(images.device).view(-1, 1, 1, 1)
        images = torch.where(flip, images.flip(-1), images)
    return images
