"""Layers with hand-written forward and backward passes.

Each layer caches what its backward pass needs during `forward`, and `backward(dout)`
takes dL/d(output) and returns dL/d(input), storing dL/d(parameter) in `self.grads`.
Shapes follow PyTorch: images are (N, C, H, W), conv weights (F, C, kh, kw).

Memory is channels-last, as in PyTorch's `channels_last` format: a layer's (N, C, H, W) output
is a view of an (N, H, W, C) array, because that is the layout a convolution's matrix product
writes (one row per position, one column per filter). The spatial layers work on that array
directly (`channels_last`, free for such views), so no layer copies between layouts; an ordinary
(N, C, H, W) array works too, at the cost of one copy.
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
        self.buffers: dict[str, np.ndarray] = {}  # state that is saved but not trained (BatchNorm's running stats)
        self.input_grad = True  # False for a first layer: nobody needs dL/d(image), so skip computing it

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        raise NotImplementedError

    def backward(self, dout: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def __repr__(self) -> str:
        shapes = ", ".join(f"{k}{tuple(v.shape)}" for k, v in self.params.items())
        return f"{type(self).__name__}({shapes})"


def channels_last(x: np.ndarray) -> np.ndarray:
    """The values of x (N, C, H, W) as a C-contiguous (N, H, W, C) array: a view when x is a layer's output."""
    return np.ascontiguousarray(x.transpose(0, 2, 3, 1))


def channels_first(x: np.ndarray) -> np.ndarray:
    """An (N, H, W, C) array as the (N, C, H, W) view that layers pass on."""
    return x.transpose(0, 3, 1, 2)


def offsets(x: np.ndarray, k: int, stride: int, out_size: tuple[int, int]):
    """(i, j, view) for each of the k*k kernel offsets: the (N, Ho, Wo, C) values of x (N, H, W, C) that
    offset sees, one per output position. Sums and maxima over a window are sums and maxima of these views."""
    ho, wo = out_size
    for i in range(k):
        for j in range(k):
            yield i, j, x[:, i:i + stride * ho:stride, j:j + stride * wo:stride]


class Conv2D(Layer):
    """out[n, f] = sum_c W[f, c] (cross-correlated with) x[n, c] + b[f], as a matrix product over patches.

    forward : cols = im2col(x)  (N*Ho*Wo, kh*kw*C);  out = cols @ W_flat.T + b
    backward: dW = dout_flat.T @ cols;  db = sum(dout);
              dx = col2im(dout_flat @ W_flat), computed per kernel offset (i, j): the positions that offset saw
              get dout_flat @ W[:, :, i, j]. These kh*kw small products, each added in place, are cheaper than
              one large product whose (N*Ho*Wo, kh*kw*C) result is then scattered (benchmarks/numpy_engine.py).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel: int, stride: int = 1, padding: int = 0,
                 rng: np.random.Generator | None = None, dtype=np.float32, bias: bool = True):
        super().__init__()
        rng = rng or np.random.default_rng()
        self.stride, self.padding, self.kernel = stride, padding, kernel
        fan_in = in_channels * kernel * kernel
        self.params["W"] = he_normal((out_channels, in_channels, kernel, kernel), fan_in, rng, dtype)
        if bias:  # no bias before a BatchNorm, which subtracts it again
            self.params["b"] = np.zeros(out_channels, dtype=dtype)

    def forward(self, x, training=False):
        p, k, s = self.padding, self.kernel, self.stride
        w = self.params["W"]
        xp = channels_last(x)
        if p:
            xp = np.pad(xp, ((0, 0), (p, p), (p, p), (0, 0)))
        win = sliding_window_view(xp, (k, k), axis=(1, 2))[:, ::s, ::s]     # (N, Ho, Wo, C, k, k), a view
        n, ho, wo, c = win.shape[:4]
        cols = win.transpose(0, 1, 2, 4, 5, 3).reshape(n * ho * wo, k * k * c)   # im2col: one row per position
        w_flat = w.transpose(0, 2, 3, 1).reshape(len(w), -1)               # (F, k*k*C), the columns' order
        out = cols @ w_flat.T                                              # (N*Ho*Wo, F)
        if "b" in self.params:
            out += self.params["b"]
        self.cache = (xp.shape, cols, (n, ho, wo, c))
        return channels_first(out.reshape(n, ho, wo, -1))

    def backward(self, dout):
        xp_shape, cols, (n, ho, wo, c) = self.cache
        k, p, s = self.kernel, self.padding, self.stride
        w = self.params["W"]
        dout_flat = channels_last(dout).reshape(n * ho * wo, -1)          # (N*Ho*Wo, F)
        dw = (dout_flat.T @ cols).reshape(len(w), k, k, c)                 # dL/dW = sum over positions of dout * patch
        self.grads["W"] = np.ascontiguousarray(dw.transpose(0, 3, 1, 2))
        if "b" in self.params:
            self.grads["b"] = dout_flat.sum(axis=0)                       # dL/db = sum of dout
        if not self.input_grad:
            return None
        dxp = np.zeros(xp_shape, dtype=dout.dtype)                         # col2im, one kernel offset at a time
        for i, j, seen in offsets(dxp, k, s, (ho, wo)):
            seen += (dout_flat @ w[:, :, i, j]).reshape(n, ho, wo, c)
        dx = dxp[:, p:xp_shape[1] - p, p:xp_shape[2] - p] if p else dxp
        return channels_first(dx)


class MaxPool2D(Layer):
    """out = max over each window; the gradient flows only to the position that was the max
    (the first one in the window, row by row, where several tie, as in PyTorch).

    Both passes work on the k*k offset views (see `offsets`): elementwise, no window array.
    """

    def __init__(self, kernel: int = 2, stride: int | None = None):
        super().__init__()
        self.kernel, self.stride = kernel, stride or kernel

    def forward(self, x, training=False):
        k, s = self.kernel, self.stride
        xh = channels_last(x)
        n, h, w, c = xh.shape
        views = offsets(xh, k, s, ((h - k) // s + 1, (w - k) // s + 1))
        best = next(views)[2].copy()
        for _, _, seen in views:
            np.maximum(best, seen, out=best)
        self.cache = (xh, best)
        return channels_first(best)

    def backward(self, dout):
        xh, best = self.cache
        d = channels_last(dout)
        dx = np.zeros(xh.shape, dtype=d.dtype)
        unclaimed = np.ones(best.shape, dtype=bool)  # windows whose max has not been found yet
        for (_, _, seen), (_, _, dx_seen) in zip(offsets(xh, self.kernel, self.stride, best.shape[1:3]),
                                                 offsets(dx, self.kernel, self.stride, best.shape[1:3])):
            winner = (seen == best) & unclaimed
            dx_seen += d * winner                                           # dL/dx = dout at the winner, 0 elsewhere
            unclaimed &= ~winner
        return channels_first(dx)


class BatchNorm(Layer):
    """Ioffe & Szegedy 2015, per channel (C of (N, C) or (N, C, H, W)), over the m = N*H*W values of a batch:

    forward : xhat = (x - mean) / sqrt(var + eps);  out = gamma * xhat + beta
              (test mode: running averages of mean and var, updated with `momentum` while training;
              the running var is the unbiased one, as in PyTorch)
    backward: dbeta = sum(dout);  dgamma = sum(dout * xhat);
              dx = gamma / (m * sqrt(var + eps)) * (m * dout - dbeta - xhat * dgamma)
    It lets a network train at high learning rates: each layer sees inputs of a steady scale.
    """

    def __init__(self, channels: int, eps: float = 1e-5, momentum: float = 0.1, dtype=np.float32):
        super().__init__()
        self.eps, self.momentum = eps, momentum
        self.params["gamma"] = np.ones(channels, dtype=dtype)
        self.params["beta"] = np.zeros(channels, dtype=dtype)
        self.buffers["running_mean"] = np.zeros(channels, dtype=dtype)
        self.buffers["running_var"] = np.ones(channels, dtype=dtype)

    @staticmethod
    def _rows(x: np.ndarray) -> np.ndarray:
        """(m, C): one row per value of each channel."""
        return x if x.ndim == 2 else channels_last(x).reshape(-1, x.shape[1])

    @staticmethod
    def _unrows(rows: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
        """`_rows` undone: (m, C) back to `shape`, (N, C) or (N, C, H, W)."""
        return rows if len(shape) == 2 else channels_first(rows.reshape(shape[0], *shape[2:], shape[1]))

    def forward(self, x, training=False):
        rows, gamma, beta = self._rows(x), self.params["gamma"], self.params["beta"]
        if training:
            m = len(rows)
            mean = rows.mean(axis=0)
            xhat = rows - mean
            var = np.einsum("ij,ij->j", xhat, xhat) / m
            inv_std = 1 / np.sqrt(var + self.eps)
            xhat *= inv_std
            self.buffers["running_mean"] += self.momentum * (mean - self.buffers["running_mean"])
            self.buffers["running_var"] += self.momentum * (var * m / max(m - 1, 1) - self.buffers["running_var"])
            self.cache = (xhat, inv_std, x.shape)
            out = xhat * gamma + beta
        else:  # a fixed affine map per channel
            scale = gamma / np.sqrt(self.buffers["running_var"] + self.eps)
            self.cache = (None, scale, x.shape)  # backward: dx = dout * scale
            out = rows * scale + (beta - self.buffers["running_mean"] * scale)
        return self._unrows(out, x.shape)

    def backward(self, dout):
        xhat, inv_std, shape = self.cache
        d = self._rows(dout)
        if xhat is None:  # after a test-mode forward (saliency, Grad-CAM), inv_std holds gamma / sqrt(running var)
            dx = d * inv_std
        else:
            m = len(d)
            self.grads["beta"] = d.sum(axis=0)
            self.grads["gamma"] = np.einsum("ij,ij->j", d, xhat)
            dx = (self.params["gamma"] * inv_std / m) * (m * d - self.grads["beta"] - xhat * self.grads["gamma"])
        return self._unrows(dx, shape)


class AvgPool2D(Layer):
    """out = mean over each window (the sum of the k*k offset views, see `offsets`, over k*k);
    every input of a window gets dout / (k*k)."""

    def __init__(self, kernel: int = 2, stride: int | None = None):
        super().__init__()
        self.kernel, self.stride = kernel, stride or kernel

    def forward(self, x, training=False):
        k, s = self.kernel, self.stride
        xh = channels_last(x)
        n, h, w, c = self.x_shape = xh.shape
        total = sum(seen for _, _, seen in offsets(xh, k, s, ((h - k) // s + 1, (w - k) // s + 1)))
        return channels_first(total / (k * k))

    def backward(self, dout):
        k = self.kernel
        share = channels_last(dout) / (k * k)
        dx = np.zeros(self.x_shape, dtype=share.dtype)
        for _, _, seen in offsets(dx, k, self.stride, share.shape[1:3]):
            seen += share
        return channels_first(dx)


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
