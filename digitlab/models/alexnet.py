"""AlexNet (Krizhevsky et al., 2012) scaled to 28x28 digits.

Same shape of network — five convolutions with 64-192-384-256-256 channels, max-pooling
after the 1st, 2nd and 5th, ReLU, then a dropout-regularised dense classifier — but with
3x3 kernels and stride 1 in place of the 11x11 stride-4 stem meant for 224x224 photos,
and 1024-unit dense layers instead of 4096.
"""

from __future__ import annotations

import torch.nn as nn

from digitlab.models.registry import register_model


@register_model("alexnet")
def alexnet(num_classes: int = 10, in_channels: int = 1, image_size: int = 28) -> nn.Module:
    """AlexNet: 5 convs 64-192-384-256-256 with ReLU and max-pool, dropout dense 1024-1024."""
    def conv(i, o):
        return [nn.Conv2d(i, o, 3, padding=1), nn.ReLU(inplace=True)]
    model = nn.Sequential(
        *conv(in_channels, 64), nn.MaxPool2d(2),     # 14x14
        *conv(64, 192), nn.MaxPool2d(2),             # 7x7
        *conv(192, 384), *conv(384, 256), *conv(256, 256),
        nn.MaxPool2d(2),                             # 3x3
        nn.AdaptiveAvgPool2d(3), nn.Flatten(),
        nn.Dropout(0.5), nn.Linear(256 * 3 * 3, 1024), nn.ReLU(inplace=True),
        nn.Dropout(0.5), nn.Linear(1024, 1024), nn.ReLU(inplace=True),
        nn.Linear(1024, num_classes),
    )
    # Eight ReLU layers and no BatchNorm: with PyTorch's default init the signal shrinks
    # layer by layer and the loss sits at log(10). He init for the convs keeps its scale;
    # the dense layers start small (N(0, 0.01), as in the paper) so the first logits are near 0.
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, 0.0, 0.01)
            nn.init.zeros_(module.bias)
    return model
