"""A small convolutional autoencoder: strided convs down to a 16-number code, transposed convs back up.

Not a classifier, so not in the zoo's registry: it is the model of `digitlab lab autoencoder`,
where transposed convolution ("deconvolution") does what it is for, upsampling. Each
ConvTranspose2d (k 3, stride 2, padding 1, output_padding 1) doubles the map: 7 -> 14 -> 28,
by the size rule (n - 1)*s - 2p + k + output_padding.
"""

from __future__ import annotations

import torch
import torch.nn as nn


class ConvAutoencoder(nn.Module):
    def __init__(self, code: int = 16, in_channels: int = 1):
        super().__init__()
        self.encoder = nn.Sequential(
            nn.Conv2d(in_channels, 16, 3, stride=2, padding=1), nn.ReLU(inplace=True),   # 28 -> 14
            nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.ReLU(inplace=True),            # 14 -> 7
            nn.Flatten(), nn.Linear(32 * 7 * 7, code),
        )
        self.decoder = nn.Sequential(
            nn.Linear(code, 32 * 7 * 7), nn.ReLU(inplace=True), nn.Unflatten(1, (32, 7, 7)),
            nn.ConvTranspose2d(32, 16, 3, stride=2, padding=1, output_padding=1), nn.ReLU(inplace=True),  # 7 -> 14
            nn.ConvTranspose2d(16, in_channels, 3, stride=2, padding=1, output_padding=1), nn.Sigmoid(),  # 14 -> 28
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Pictures in 0..1 (N, C, 28, 28) -> their reconstructions, in 0..1."""
        return self.decoder(self.encoder(x))
