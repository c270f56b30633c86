"""A convolutional network in NumPy alone: every forward and backward pass written out.

For learning how a CNN works, and fast enough to train on real data: convolutions are
matrix products over im2col windows, vectorised over the batch. Nothing here imports
torch; tests check every layer against PyTorch and against finite differences.

    from digitlab.numpy_cnn import build, SGD, softmax_cross_entropy
    model = build("numpy-lenet")
    logits = model.forward(x, training=True)          # x: float (N, 1, 28, 28)
    loss, dlogits = softmax_cross_entropy(logits, y)
    model.backward(dlogits)
    optimizer.step()
"""

from digitlab.numpy_cnn.layers import AvgPool2D, BatchNorm, Conv2D, Dense, Dropout, Flatten, Layer, MaxPool2D, ReLU
from digitlab.numpy_cnn.losses import softmax, softmax_cross_entropy
from digitlab.numpy_cnn.model import ARCHITECTURES, Sequential, build, load_npz, save_npz
from digitlab.numpy_cnn.optim import SGD, Adam

__all__ = ["ARCHITECTURES", "Adam", "AvgPool2D", "BatchNorm", "Conv2D", "Dense", "Dropout", "Flatten", "Layer",
           "MaxPool2D", "ReLU", "SGD", "Sequential", "build", "load_npz", "save_npz", "softmax",
           "softmax_cross_entropy"]
