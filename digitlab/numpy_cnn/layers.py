"""Layers with hand-written forward and backward passes.

Each layer caches what its backward pass needs during `forward`, and `backward(dout)`
takes dL/d(output) and returns dL/d(input), storing dL/d(parameter) in `self.grads`.
Shapes follow PyTorch: images are (N, C, H, W), conv weights (F, C, kh, kw).
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from digitlab.numpy_cnn.init import glorot_uniform, he_normal


class Layer:
    """A layer: parameters and their gradients by name, forward and backward."""

    def __init__(self):
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        self.input_grad = True  # False for a first layer: nobody needs dL/d(image), so skip computing it

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        raise NotImplementedError

    def backward(self, dout: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def __repr__(self) -> str:
        shapes = ", ".join(f"{k}{tuple(v.shape)}" for k, v in self.params.items())
        return f"{type(self).__name__}({shapes})"


def windows(x: np.ndarray, kh: int, kw: int, stride: int) -> np.ndarray:
    """All kh x kw patches of x (N, C, H, W) as a view (N, C, Ho, Wo, kh, kw): no copy."""
    return sliding_window_view(x, (kh, kw), axis=(2, 3))[:, :, ::stride, ::stride]


def scatter_windows(dwin: np.ndarray, shape: tuple[int, ...], stride: int) -> np.ndarray:
    """The adjoint of `windows` (col2im): add each patch's gradient back where the patch came from.

    One vectorised addition per kernel offset (kh * kw of them), not one per pixel.
    """
    n, c, ho, wo, kh, kw = dwin.shape
    dx = np.zeros(shape, dtype=dwin.dtype)
    for i in range(kh):
        for j in range(kw):
            dx[:, :, i:i + stride * ho:stride, j:j + stride * wo:stride] += dwin[:, :, :, :, i, j]
    return dx


class Conv2D(Layer):
    """out[n, f] = sum_c W[f, c] (cross-correlated with) x[n, c] + b[f], as a matrix product over patches.

    forward : cols = im2col(x)  (N*Ho*Wo, C*kh*kw);  out = cols @ W_flat.T + b
    backward: dW = dout_flat.T @ cols;  db = sum(dout);  dx = col2im(dout_flat @ W_flat)
    """

    def __init__(self, in_channels: int, out_channels: int, kernel: int, stride: int = 1, padding: int = 0,
                 rng: np.random.Generator | None = None, dtype=np.float32):
        super().__init__()
        rng = rng or np.random.default_rng()
        self.stride, self.padding, self.kernel = stride, padding, kernel
        fan_in = in_channels * kernel * kernel
        self.params["W"] = he_normal((out_channels, in_channels, kernel, kernel), fan_in, rng, dtype)
        self.params["b"] = np.zeros(out_channels, dtype=dtype)

    def forward(self, x, training=False):
        p, k, s = self.padding, self.kernel, self.stride
        xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p))) if p else x
        win = windows(xp, k, k, s)                                        # (N, C, Ho, Wo, k, k)
        n, c, ho, wo = win.shape[:4]
        cols = win.transpose(0, 2, 3, 1, 4, 5).reshape(n * ho * wo, c * k * k)
        w_flat = self.params["W"].reshape(len(self.params["W"]), -1)      # (F, C*k*k)
        out = cols @ w_flat.T + self.params["b"]                          # (N*Ho*Wo, F)
        self.cache = (xp.shape, cols, (n, c, ho, wo))
        return out.reshape(n, ho, wo, -1).transpose(0, 3, 1, 2)

    def backward(self, dout):
        xp_shape, cols, (n, c, ho, wo) = self.cache
        k, p = self.kernel, self.padding
        w = self.params["W"]
        dout_flat = dout.transpose(0, 2, 3, 1).reshape(n * ho * wo, -1)   # (N*Ho*Wo, F)
        self.grads["W"] = (dout_flat.T @ cols).reshape(w.shape)           # dL/dW = sum over positions of dout * patch
        self.grads["b"] = dout_flat.sum(axis=0)                           # dL/db = sum of dout
        if not self.input_grad:
            return None
        dcols = dout_flat @ w.reshape(len(w), -1)                         # dL/dpatch = dout @ W
        dwin = dcols.reshape(n, ho, wo, c, k, k).transpose(0, 3, 1, 2, 4, 5)
        dxp = scatter_windows(dwin, xp_shape, self.stride)               # col2im
        return dxp[:, :, p:xp_shape[2] - p, p:xp_shape[3] - p] if p else dxp


class MaxPool2D(Layer):
    """out = max over each window; the gradient flows only to the position that was the max.

    Non-overlapping windows that tile the image (the usual 2x2, stride 2) are a reshape of
    the input; other shapes use the general sliding-window view.
    """

    def __init__(self, kernel: int = 2, stride: int | None = None):
        super().__init__()
        self.kernel, self.stride = kernel, stride or kernel

    def _tiles(self, shape) -> bool:
        return self.stride == self.kernel and shape[2] % self.kernel == 0 and shape[3] % self.kernel == 0

    def forward(self, x, training=False):
        k = self.kernel
        n, c, h, w = self.x_shape = x.shape
        if self._tiles(x.shape):   # (N, C, Ho, k, Wo, k) -> (N, C, Ho, Wo, k*k)
            tiles = x.reshape(n, c, h // k, k, w // k, k).transpose(0, 1, 2, 4, 3, 5)
            flat = tiles.reshape(n, c, h // k, w // k, k * k)
        else:
            win = windows(x, k, k, self.stride)
            flat = win.reshape(*win.shape[:4], k * k)
        self.argmax = flat.argmax(axis=-1)                                # which element of each window won
        return np.take_along_axis(flat, self.argmax[..., None], axis=-1)[..., 0]

    def backward(self, dout):
        k = self.kernel
        # dL/dx = dout at the winning position of each window, 0 elsewhere
        onehot = (self.argmax[..., None] == np.arange(k * k)).astype(dout.dtype)
        dwin = (onehot * dout[..., None]).reshape(*dout.shape, k, k)     # (N, C, Ho, Wo, k, k)
        if self._tiles(self.x_shape):
            return dwin.transpose(0, 1, 2, 4, 3, 5).reshape(self.x_shape)
        return scatter_windows(dwin, self.x_shape, self.stride)


class AvgPool2D(Layer):
    """out = mean over each window; every input of a window gets dout / (k*k)."""

    def __init__(self, kernel: int = 2, stride: int | None = None):
        super().__init__()
        self.kernel, self.stride = kernel, stride or kernel

    def forward(self, x, training=False):
        self.x_shape = x.shape
        return windows(x, self.kernel, self.kernel, self.stride).mean(axis=(-2, -1))

    def backward(self, dout):
        k = self.kernel
        dwin = np.broadcast_to((dout / (k * k))[..., None, None], (*dout.shape, k, k))
        return scatter_windows(dwin, self.x_shape, self.stride)


class ReLU(Layer):
    """out = max(0, x);  dL/dx = dout where x > 0, else 0."""

    def forward(self, x, training=False):
        self.mask = x > 0
        return x * self.mask

    def backward(self, dout):
        return dout * self.mask


class Flatten(Layer):
    """(N, C, H, W) -> (N, C*H*W); the gradient is reshaped back."""

    def forward(self, x, training=False):
        self.shape = x.shape
        return x.reshape(len(x), -1)

    def backward(self, dout):
        return dout.reshape(self.shape)


class Dense(Layer):
    """out = x @ W + b, with W of shape (in, out).

    backward: dW = x.T @ dout;  db = sum over the batch of dout;  dx = dout @ W.T
    """

    def __init__(self, in_features: int, out_features: int, rng: np.random.Generator | None = None,
                 dtype=np.float32, init: str = "he"):
        super().__init__()
        rng = rng or np.random.default_rng()
        shape = (in_features, out_features)
        self.params["W"] = (he_normal(shape, in_features, rng, dtype) if init == "he"
                            else glorot_uniform(shape, in_features, out_features, rng, dtype))
        self.params["b"] = np.zeros(out_features, dtype=dtype)

    def forward(self, x, training=False):
        self.x = x
        return x @ self.params["W"] + self.params["b"]

    def backward(self, dout):
        self.grads["W"] = self.x.T @ dout
        self.grads["b"] = dout.sum(axis=0)
        return dout @ self.params["W"].T if self.input_grad else None


class Dropout(Layer):
    """Inverted dropout: in training keep each unit with probability 1-p and scale it by 1/(1-p).

    backward: dL/dx = dout * mask / (1-p); at test time the layer is the identity.
    """

    def __init__(self, p: float = 0.5, rng: np.random.Generator | None = None):
        super().__init__()
        self.p, self.rng = p, rng or np.random.default_rng()
        self.mask = None

    def forward(self, x, training=False):
        if not training or self.p == 0:
            self.mask = None
            return x
        self.mask = (self.rng.random(x.shape) >= self.p).astype(x.dtype) / (1 - self.p)
        return x * self.mask

    def backward(self, dout):
        return dout if self.mask is None else dout * self.mask
