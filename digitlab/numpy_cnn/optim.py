"""Optimisers that update a model's parameters in place from the gradients of its last backward pass."""

from __future__ import annotations

import numpy as np


class SGD:
    """g += weight_decay * w (weights only);  v = momentum * v + g;  w -= lr * v.

    nesterov: w -= lr * (g + momentum * v), a step from where momentum is about to carry the
    weights (torch.optim.SGD's nesterov=True, which the PyTorch engine uses).
    """

    def __init__(self, model, lr: float = 0.01, momentum: float = 0.9, weight_decay: float = 0.0,
                 nesterov: bool = False):
        self.model, self.lr, self.momentum, self.weight_decay = model, lr, momentum, weight_decay
        self.nesterov = nesterov
        self.velocity = {key: np.zeros_like(p) for key, p, _ in model.parameters()}

    def step(self) -> None:
        for key, param, grad in self.model.parameters():
            if self.weight_decay and param.ndim > 1:
                grad = grad + self.weight_decay * param
            v = self.velocity[key]
            v *= self.momentum
            v += grad
            param -= self.lr * (grad + self.momentum * v if self.nesterov else v)


class Adam:
    """Kingma & Ba 2015: m, v = running means of g and g^2; w -= lr * m_hat / (sqrt(v_hat) + eps).

    weight_decay is decoupled (AdamW): w -= lr * weight_decay * w, for weights, not biases.
    """

    def __init__(self, model, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8, weight_decay: float = 0.0):
        self.model, self.lr, self.betas, self.eps, self.weight_decay = model, lr, betas, eps, weight_decay
        self.m = {key: np.zeros_like(p) for key, p, _ in model.parameters()}
        self.v = {key: np.zeros_like(p) for key, p, _ in model.parameters()}
        self.t = 0

    def step(self) -> None:
        self.t += 1
        b1, b2 = self.betas
        for key, param, grad in self.model.parameters():
            m, v = self.m[key], self.v[key]
            m *= b1
            m += (1 - b1) * grad
            v *= b2
            v += (1 - b2) * grad * grad
            m_hat = m / (1 - b1 ** self.t)
            v_hat = v / (1 - b2 ** self.t)
            if self.weight_decay and param.ndim > 1:
                param -= self.lr * self.weight_decay * param
            param -= self.lr * m_hat / (np.sqrt(v_hat) + self.eps)
