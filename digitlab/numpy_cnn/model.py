"""A stack of layers, the two architectures of the NumPy engine, and .npz files.

`numpy-seed`  : seed 002's network: conv 8 filters 3x3 (no padding) -> max-pool 2 -> dense softmax.
`numpy-lenet` : LeNet-5 with ReLU and max-pooling: conv6 5x5 -> pool -> conv16 5x5 -> pool -> 120 -> 84 -> 10.
`numpy-digitnet`: the PyTorch engine's default digit model (digitnet-lite-dense) in NumPy: a 4x4 stride-2 stem,
                two 3x3 conv blocks that pool before BatchNorm and ReLU (as digitnet-poolfirst does: both
                see a quarter of the values), a 256-unit BN hidden layer.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator

import numpy as np

from digitlab.numpy_cnn.layers import BatchNorm, Conv2D, Dense, Flatten, Layer, MaxPool2D, ReLU
from digitlab.utils.files import atomic_write


class Sequential:
    """Layers applied in order; backward runs them in reverse (the chain rule)."""

    def __init__(self, layers: list[Layer], name: str = "sequential", input_grad: bool = True):
        self.layers, self.name = layers, name
        if layers:
            layers[0].input_grad = input_grad  # training never needs dL/d(image); a gradient check may

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        for layer in self.layers:
            x = layer.forward(x, training)
        return x

    def backward(self, dout: np.ndarray) -> np.ndarray:
        for layer in reversed(self.layers):
            dout = layer.backward(dout)
        return dout

    def parameters(self) -> Iterator[tuple[str, np.ndarray, np.ndarray | None]]:
        """(key, parameter, gradient of the last backward pass) for every parameter."""
        for i, layer in enumerate(self.layers):
            for name, param in layer.params.items():
                yield f"{i}.{name}", param, layer.grads.get(name)

    def state_dict(self) -> dict[str, np.ndarray]:
        """Parameters and buffers (running statistics): what a file must hold to rebuild the model."""
        state = {key: param for key, param, _ in self.parameters()}
        for i, layer in enumerate(self.layers):
            state.update({f"{i}.{name}": buffer for name, buffer in layer.buffers.items()})
        return state

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        own = self.state_dict()
        if set(own) != set(state):
            raise ValueError(f"parameters differ: expected {sorted(own)}, got {sorted(state)}")
        for key, param in own.items():
            if param.shape != state[key].shape:
                raise ValueError(f"{key}: expected shape {param.shape}, got {state[key].shape}")
            param[...] = state[key]

    def predict(self, x: np.ndarray, batch_size: int = 1000) -> np.ndarray:
        """Logits in batches, in test mode."""
        return np.concatenate([self.forward(x[i:i + batch_size]) for i in range(0, len(x), batch_size)])

    def __repr__(self) -> str:
        return f"Sequential[{self.name}](\n" + "\n".join(f"  {layer!r}" for layer in self.layers) + "\n)"


def numpy_seed(num_classes: int, in_channels: int, image_size: int, rng, dtype) -> list[Layer]:
    side = (image_size - 2) // 2
    return [Conv2D(in_channels, 8, 3, rng=rng, dtype=dtype), MaxPool2D(2), Flatten(),
            Dense(8 * side * side, num_classes, rng=rng, dtype=dtype, init="glorot")]


def numpy_lenet(num_classes: int, in_channels: int, image_size: int, rng, dtype) -> list[Layer]:
    side = ((image_size // 2) - 4) // 2
    return [Conv2D(in_channels, 6, 5, padding=2, rng=rng, dtype=dtype), ReLU(), MaxPool2D(2),
            Conv2D(6, 16, 5, rng=rng, dtype=dtype), ReLU(), MaxPool2D(2), Flatten(),
            Dense(16 * side * side, 120, rng=rng, dtype=dtype), ReLU(),
            Dense(120, 84, rng=rng, dtype=dtype), ReLU(),
            Dense(84, num_classes, rng=rng, dtype=dtype, init="glorot")]


def numpy_digitnet(num_classes: int, in_channels: int, image_size: int, rng, dtype) -> list[Layer]:
    def conv(c_in: int, c_out: int, kernel: int, stride: int = 1) -> Conv2D:
        return Conv2D(c_in, c_out, kernel, stride, padding=1, rng=rng, dtype=dtype, bias=False)

    side = image_size // 8  # 28 -> 14 (stem) -> 7 -> 3 (pools)
    return [conv(in_channels, 16, 4, stride=2), BatchNorm(16, dtype=dtype), ReLU(),
            conv(16, 48, 3), MaxPool2D(2), BatchNorm(48, dtype=dtype), ReLU(),  # pool first: BN and ReLU see 1/4
            conv(48, 96, 3), MaxPool2D(2), BatchNorm(96, dtype=dtype), ReLU(),
            Flatten(), Dense(96 * side * side, 256, rng=rng, dtype=dtype), BatchNorm(256, dtype=dtype), ReLU(),
            Dense(256, num_classes, rng=rng, dtype=dtype, init="glorot")]


ARCHITECTURES: dict[str, Callable[..., list[Layer]]] = {"numpy-seed": numpy_seed, "numpy-lenet": numpy_lenet,
                                                     "numpy-digitnet": numpy_digitnet}


def build(name: str, num_classes: int = 10, in_channels: int = 1, image_size: int = 28, seed: int = 0,
          dtype=np.float32) -> Sequential:
    if name not in ARCHITECTURES:
        raise KeyError(f"unknown NumPy model {name!r}: choose one of {', '.join(ARCHITECTURES)}")
    rng = np.random.default_rng(seed)
    return Sequential(ARCHITECTURES[name](num_classes, in_channels, image_size, rng, dtype), name, input_grad=False)


def save_npz(path: str | os.PathLike, model: Sequential, meta: dict) -> None:
    """Weights and a JSON metadata record in one .npz, written atomically; no pickles inside."""
    arrays = {f"param/{key}": value for key, value in model.state_dict().items()}
    arrays["meta"] = np.array(json.dumps({**meta, "architecture": model.name}))
    with atomic_write(path) as handle:
        np.savez(handle, **arrays)


def load_npz(path: str | os.PathLike) -> tuple[Sequential, dict]:
    """(model, metadata) from a file written by `save_npz`; `allow_pickle=False` keeps it data-only."""
    with np.load(path, allow_pickle=False) as data:
        meta = json.loads(str(data["meta"]))
        state = {key[len("param/"):]: data[key] for key in data.files if key.startswith("param/")}
    spec = meta.get("model", {})
    dtype = next(iter(state.values())).dtype if state else np.float32
    model = build(meta["architecture"], spec.get("num_classes", 10), spec.get("in_channels", 1),
                  spec.get("image_size", 28), dtype=dtype)
    model.load_state_dict(state)
    return model, meta
