"""Three small lessons on what a convolution layer computes (after the seed tutorials).

1. corr2d        : 2-D cross-correlation written as two loops over the output.
2. edges         : the kernel [1, -1] answers +1/-1 at vertical edges, and finds nothing
                   once the image is transposed (its edges are horizontal then).
3. learn_kernel  : given only inputs and outputs of that edge detector, gradient descent on
                   the squared error recovers the kernel, with this engine's Conv2D backward.
"""

from __future__ import annotations

import numpy as np


def corr2d(x: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """y[i, j] = sum over (a, b) of x[i + a, j + b] * kernel[a, b]  (what deep learning calls convolution)."""
    h, w = kernel.shape
    y = np.zeros((x.shape[0] - h + 1, x.shape[1] - w + 1))
    for i in range(y.shape[0]):
        for j in range(y.shape[1]):
            y[i, j] = (x[i:i + h, j:j + w] * kernel).sum()
    return y


def edge_image() -> np.ndarray:
    """6x8 white image with a black band in columns 2-5: two vertical edges."""
    x = np.ones((6, 8))
    x[:, 2:6] = 0
    return x


EDGE_KERNEL = np.array([[1.0, -1.0]])


def learn_kernel(steps: int = 20, lr: float = 3e-2, seed: int = 0) -> tuple[np.ndarray, list[float]]:
    """Recover EDGE_KERNEL from (image, edge map) alone by gradient descent on L = sum((corr2d(x, k) - y)^2)."""
    x = edge_image()
    y = corr2d(x, EDGE_KERNEL)                                   # the answers the kernel should give
    kernel = np.random.default_rng(seed).standard_normal((1, 2))  # a random 1x2 start
    losses = []
    for _ in range(steps):
        error = corr2d(x, kernel) - y
        losses.append(float((error ** 2).sum()))
        # dL/dk[a, b] = sum over (i, j) of 2 * error[i, j] * x[i + a, j + b]: x correlated with 2 * error
        kernel -= lr * corr2d(x, 2 * error)
    return kernel, losses
