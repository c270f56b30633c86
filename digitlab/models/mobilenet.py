"""MobileNet v1 (Howard et al., 2017) and v2 (Sandler et al., 2018) for 28x28 inputs.

v1 replaces every standard conv by a depthwise-separable one; v2 stacks inverted
residuals (expand with 1x1, filter depthwise, project linearly). Both keep their
ImageNet layer lists with the early strides set to 1, so a 28x28 digit is downsampled
three times (to 4x4) instead of five.
"""

from __future__ import annotations

import torch.nn as nn

from digitlab.models.blocks import ConvBNReLU, DepthwiseSeparable, InvertedResidual, classifier_head
from digitlab.models.registry import register_model

# (output channels, stride) for v1's 13 depthwise-separable layers
V1_LAYERS = [(64, 1), (128, 1), (128, 1), (256, 2), (256, 1), (512, 2),
             (512, 1), (512, 1), (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1)]
# (expansion t, output channels c, repeats n, stride s) for v2, as in the paper's table 2
V2_LAYERS = [(1, 16, 1, 1), (6, 24, 2, 1), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]


def _scaled(channels: int, width: float) -> int:
    return max(8, int(channels * width + 4) // 8 * 8)


@register_model("mobilenet_v1")
def mobilenet_v1(num_classes: int = 10, in_channels: int = 1, image_size: int = 28, width: float = 0.5) -> nn.Module:
    """MobileNet v1 (width 0.5): 13 depthwise-separable convs, 3 stride-2 stages."""
    channels = _scaled(32, width)
    layers = [ConvBNReLU(in_channels, channels, 3)]
    for out, stride in V1_LAYERS:
        layers.append(DepthwiseSeparable(channels, _scaled(out, width), stride))
        channels = _scaled(out, width)
    return nn.Sequential(*layers, classifier_head(channels, num_classes, dropout=0.2))


@register_model("mobilenet_v2")
def mobilenet_v2(num_classes: int = 10, in_channels: int = 1, image_size: int = 28, width: float = 0.5) -> nn.Module:
    """MobileNet v2 (width 0.5): 17 inverted residuals with linear bottlenecks, ReLU6."""
    channels = _scaled(32, width)
    layers = [ConvBNReLU(in_channels, channels, 3, activation=nn.ReLU6)]
    for t, c, n, s in V2_LAYERS:
        for i in range(n):
            layers.append(InvertedResidual(channels, _scaled(c, width), s if i == 0 else 1, t))
            channels = _scaled(c, width)
    last = 1280 if width <= 1.0 else _scaled(1280, width)
    layers.append(ConvBNReLU(channels, last, 1, activation=nn.ReLU6))
    return nn.Sequential(*layers, classifier_head(last, num_classes, dropout=0.2))
