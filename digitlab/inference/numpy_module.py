"""A NumPy-engine network behind the nn.Module interface, so that evaluation, prediction and
the analysis figures treat both engines alike."""

from __future__ import annotations

import torch
import torch.nn as nn

import digitlab.numpy_cnn as numpy_cnn


class NumpyModule(nn.Module):
    """A NumPy `Sequential` answering torch tensors, for evaluation and prediction only."""

    def __init__(self, net: numpy_cnn.Sequential):
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dtype = next(iter(self.net.state_dict().values())).dtype
        return torch.from_numpy(self.net.predict(x.detach().cpu().numpy().astype(dtype))).float()
