"""Small lessons on what a convolution layer computes, in NumPy alone (after the tutorials).

1. corr2d          : 2-D cross-correlation written as two loops over the output.
2. edges           : the kernel [1, -1] answers +1/-1 at vertical edges, and finds nothing
                     once the image is transposed (its edges are horizontal then).
3. learn_kernel    : given only inputs and outputs of that edge detector, gradient descent on
                     the squared error recovers the kernel.
4. transposed conv : what ConvTranspose2d computes, two ways: each input pixel scatters a copy
                     of the kernel (the definition), and zero insertion + padding + an ordinary
                     correlation with the flipped kernel (the same numbers).
5. im2col          : every patch as a column, so that a whole convolution is one matrix product.
6. pooling         : max and average pooling as weight-free windows, beside a strided conv.
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


# -- transposed convolution ---------------------------------------------------------------------

def conv_transpose_output_size(n: int, kernel: int, stride: int, padding: int) -> int:
    """(n - 1) * stride - 2 * padding + kernel: the size a transposed conv makes from n pixels."""
    return (n - 1) * stride - 2 * padding + kernel


def conv_transpose_scatter(x: np.ndarray, kernel: np.ndarray, stride: int = 1, padding: int = 0) -> np.ndarray:
    """The definition: input pixel (i, j) adds x[i, j] * kernel at output (i * stride, j * stride);
    the `padding` outermost rows and columns of that sum are then cut off."""
    k = kernel.shape[0]
    full = np.zeros(((x.shape[0] - 1) * stride + k, (x.shape[1] - 1) * stride + k))
    for i in range(x.shape[0]):
        for j in range(x.shape[1]):
            full[i * stride:i * stride + k, j * stride:j * stride + k] += x[i, j] * kernel
    return full[padding:full.shape[0] - padding, padding:full.shape[1] - padding]


def zero_insert(x: np.ndarray, stride: int) -> np.ndarray:
    """stride - 1 zeros between neighbouring pixels: a 2x2 input with stride 2 becomes 3x3."""
    out = np.zeros(((x.shape[0] - 1) * stride + 1, (x.shape[1] - 1) * stride + 1))
    out[::stride, ::stride] = x
    return out


def conv_transpose_as_conv(x: np.ndarray, kernel: np.ndarray, stride: int = 1, padding: int = 0) -> np.ndarray:
    """The same result by an ordinary convolution: insert zeros, pad by k - 1 - p, correlate with the
    kernel flipped in both axes."""
    k = kernel.shape[0]
    if padding > k - 1:
        raise ValueError(f"padding {padding} is more than kernel - 1 = {k - 1}")
    spread = np.pad(zero_insert(x, stride), k - 1 - padding)
    return corr2d(spread, kernel[::-1, ::-1])


# -- im2col -------------------------------------------------------------------------------------

def im2col(x: np.ndarray, kernel: int, stride: int = 1) -> np.ndarray:
    """(C, H, W) -> (C * k * k, Ho * Wo): column p holds the patch that output pixel p sees."""
    c, h, w = x.shape
    ho, wo = (h - kernel) // stride + 1, (w - kernel) // stride + 1
    cols = np.empty((c * kernel * kernel, ho * wo), dtype=x.dtype)
    for i in range(ho):
        for j in range(wo):
            cols[:, i * wo + j] = x[:, i * stride:i * stride + kernel, j * stride:j * stride + kernel].ravel()
    return cols


def conv_by_im2col(x: np.ndarray, weights: np.ndarray, stride: int = 1) -> np.ndarray:
    """A whole convolution layer as one matrix product: (F, C*k*k) @ (C*k*k, Ho*Wo) -> (F, Ho, Wo)."""
    f, _, k, _ = weights.shape
    ho = (x.shape[1] - k) // stride + 1
    return (weights.reshape(f, -1) @ im2col(x, k, stride)).reshape(f, ho, -1)


def conv_direct(x: np.ndarray, weights: np.ndarray, stride: int = 1) -> np.ndarray:
    """The same layer with loops: each filter correlated with each input channel, summed over channels."""
    return np.stack([sum(corr2d(x[c], w[c])[::stride, ::stride] for c in range(x.shape[0])) for w in weights])


def im2col_cost(channels: int, filters: int, kernel: int, size: int, bytes_per_value: int = 4) -> dict:
    """What im2col costs for one k x k, stride-1, 'same'-padded layer on a size x size map."""
    positions = size * size
    column_values = channels * kernel * kernel * positions
    return {"input_values": channels * positions, "column_values": column_values,
            "blow_up": column_values / (channels * positions), "column_bytes": column_values * bytes_per_value,
            "macs": filters * channels * kernel * kernel * positions}


# -- pooling ------------------------------------------------------------------------------------

def pool2d(x: np.ndarray, size: int = 2, mode: str = "max") -> np.ndarray:
    """Non-overlapping size x size windows, each replaced by its maximum or mean: no weights to learn."""
    h, w = x.shape[0] // size * size, x.shape[1] // size * size
    blocks = x[:h, :w].reshape(h // size, size, w // size, size)
    return blocks.max(axis=(1, 3)) if mode == "max" else blocks.mean(axis=(1, 3))
