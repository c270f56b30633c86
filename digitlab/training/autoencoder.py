"""Training the lesson's convolutional autoencoder to remove noise (models/autoencoder.py).

Denoising: the input is the digit with Gaussian noise added, the target the clean digit, so
one model both reconstructs clean digits and cleans noisy ones. Mean squared error on pixels
in 0..1, Adam at 2e-3 (a small model's usual rate), batches of 64.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from digitlab.data.datasets import Split
from digitlab.data.loader import BatchLoader
from digitlab.models.autoencoder import ConvAutoencoder

NOISE = 0.3  # std of the Gaussian noise added to pixels in 0..1


@dataclass
class AutoencoderResult:
    model: ConvAutoencoder
    losses: list[float]            # training loss per epoch
    reconstruction_mse: float      # clean test digits -> their reconstruction
    noisy_mse: float               # noisy test digits, as they are
    denoised_mse: float            # noisy test digits -> the model's output


def add_noise(pixels: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    noise = torch.randn(pixels.shape, generator=generator) * NOISE
    return (pixels + noise).clamp_(0, 1)


def train_autoencoder(train: Split, test: Split, epochs: int = 5, seed: int = 0, code: int = 16,
                      progress: Callable[[int, float], None] | None = None) -> AutoencoderResult:
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    model = ConvAutoencoder(code, train.images.shape[1])
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    losses = []
    for epoch in range(1, epochs + 1):
        model.train()
        total, count = 0.0, 0
        for images, _ in BatchLoader(train, 64, shuffle=True, generator=generator):
            clean = images.float() / 255
            loss = F.mse_loss(model(add_noise(clean, generator)), clean)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total, count = total + loss.item() * len(images), count + len(images)
        losses.append(total / count)
        if progress:
            progress(epoch, losses[-1])
    model.eval()
    with torch.no_grad():
        clean = test.images.float() / 255
        noisy = add_noise(clean, torch.Generator().manual_seed(seed + 1))
        return AutoencoderResult(model, losses, F.mse_loss(model(clean), clean).item(),
                                 F.mse_loss(noisy, clean).item(), F.mse_loss(model(noisy), clean).item())


@torch.no_grad()
def walk(model: ConvAutoencoder, start: torch.Tensor, end: torch.Tensor, steps: int = 8) -> torch.Tensor:
    """Decoded points on the straight line between two digits' codes: (steps, C, 28, 28) in 0..1."""
    codes = model.encoder(torch.stack([start, end]).float() / 255)
    weights = torch.linspace(0, 1, steps)[:, None]
    return model.decoder((1 - weights) * codes[0] + weights * codes[1])
