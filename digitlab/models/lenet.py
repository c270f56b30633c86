"""LeNet-5 (LeCun et al., 1998), as designed: 5x5 convolutions, average pooling, tanh.

The paper fed 32x32 images; padding the first convolution by 2 gives the same 28x28 map
for MNIST's 28x28 digits. C5 is a 5x5 convolution over a 5x5 map, i.e. fully connected.
"""

from __future__ import annotations

import torch.nn as nn

from digitlab.models.registry import register_model


@register_model("lenet5")
def lenet5(num_classes: int = 10, in_channels: int = 1, image_size: int = 28) -> nn.Module:
    """LeNet-5: conv6 5x5, avg-pool, conv16 5x5, avg-pool, conv120, dense 84, tanh (1998)."""
    return nn.Sequential(
        nn.Conv2d(in_channels, 6, 5, padding=2), nn.Tanh(), nn.AvgPool2d(2),   # C1, S2: 6@14x14
        nn.Conv2d(6, 16, 5), nn.Tanh(), nn.AvgPool2d(2),                       # C3, S4: 16@5x5
        nn.AdaptiveAvgPool2d(5),                                               # identity at 28x28
        nn.Conv2d(16, 120, 5), nn.Tanh(), nn.Flatten(),                        # C5: 120
        nn.Linear(120, 84), nn.Tanh(),                                         # F6
        nn.Linear(84, num_classes),
    )
