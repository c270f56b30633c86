"""Softmax and cross-entropy, fused: their joint gradient is simply p - target."""

from __future__ import annotations

import numpy as np


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)  # same result, no overflow in exp
    e = np.exp(shifted)
    return e / e.sum(axis=1, keepdims=True)


def softmax_cross_entropy(logits: np.ndarray, labels: np.ndarray,
                          label_smoothing: float = 0.0) -> tuple[float, np.ndarray]:
    """Mean loss -sum_k t_k log p_k over the batch, and dL/dlogits = (softmax(logits) - t) / N.

    The target t is onehot(y), or with label smoothing e: (1 - e) onehot(y) + e / K, as in
    torch.nn.functional.cross_entropy; it keeps the network from driving logits to infinity.
    """
    n, k = logits.shape
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    target = np.full_like(log_p, label_smoothing / k)
    target[np.arange(n), labels] += 1.0 - label_smoothing
    loss = -(target * log_p).sum(axis=1).mean()
    return float(loss), (np.exp(log_p) - target) / n
