"""Looking inside a trained model, whichever engine made it.

An `Inspector` answers the questions the figures ask — the conv kernels, the feature
maps of an image, the penultimate features, the gradient of a class score with respect
to the input (saliency) and Grad-CAM maps — for a PyTorch model (through hooks and
autograd) or a NumPy-engine model (through its layers' own forward and backward).
"""

from __future__ import annotations

import copy

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from digitlab.data.loader import normalize
from digitlab.inference.numpy_module import NumpyModule
from digitlab.inference.trained_model import InferenceModel


class Inspector:
    def __init__(self, model: nn.Module, mean, std):
        self.model, self.mean, self.std = model.eval(), tuple(mean), tuple(std)

    def _x(self, images: torch.Tensor) -> torch.Tensor:
        return normalize(images, self.mean, self.std)

    # -- overridden per engine -------------------------------------------------------------
    def kernels(self) -> list[np.ndarray]:
        """Weights of each 2-D conv layer, (F, C, kh, kw), in order."""
        raise NotImplementedError

    def feature_maps(self, images: torch.Tensor) -> list[tuple[str, np.ndarray]]:
        """(layer name, activations (N, F, H, W)) after each conv layer's activation; the layers are named
        conv1, conv2, ... in the order the image goes through them, whatever the model calls its modules."""
        raise NotImplementedError

    def penultimate(self, images: torch.Tensor) -> np.ndarray:
        """The input of the final linear layer, (N, D): what the classifier separates."""
        raise NotImplementedError

    def saliency_and_gradcam(self, images: torch.Tensor, targets: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        """|d score / d input| and Grad-CAM on the last conv layer's output, both (N, H, W) in [0, 1]."""
        raise NotImplementedError

    @staticmethod
    def for_model(model: nn.Module, mean, std) -> Inspector:
        """An inspector of a private copy of `model`: it hooks and differentiates the copy, so answers served
        from the model meanwhile stay untouched."""
        if isinstance(model, InferenceModel):  # look at the network itself, in full precision, one view
            model = model.model
        model = copy.deepcopy(model)
        if isinstance(model, NumpyModule):
            return NumpyInspector(model, mean, std)
        if any(p.dtype in (torch.bfloat16, torch.float16) for p in model.parameters()):
            model.float()  # bf16 weights (how a model answers where the CPU computes bf16): gradients in float32
        return TorchInspector(model, mean, std)


def _array(tensor: torch.Tensor) -> np.ndarray:
    """A tensor as a float32 NumPy array, whatever its dtype and device."""
    return tensor.detach().float().cpu().numpy()


def _unit(maps: np.ndarray) -> np.ndarray:
    """Scale each map to [0, 1]."""
    flat = maps.reshape(len(maps), -1)
    lo, hi = flat.min(1, keepdims=True), flat.max(1, keepdims=True)
    return ((flat - lo) / np.maximum(hi - lo, 1e-12)).reshape(maps.shape)


def _gradcam(activations: np.ndarray, gradients: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """ReLU(sum_k alpha_k A_k) with alpha_k the spatial mean of d score / d A_k; upsampled to the input."""
    weights = gradients.mean(axis=(2, 3), keepdims=True)
    cam = np.maximum((weights * activations).sum(axis=1), 0)
    cam = F.interpolate(torch.from_numpy(cam[:, None]).float(), size=size, mode="bilinear", align_corners=False)
    return _unit(cam[:, 0].numpy())


class TorchInspector(Inspector):
    def _x(self, images: torch.Tensor) -> torch.Tensor:
        return super()._x(images).to(next(self.model.parameters()).dtype)  # a float64 or bf16 model too

    def _convs(self) -> list[tuple[str, nn.Conv2d]]:
        return [(name, m) for name, m in self.model.named_modules() if isinstance(m, nn.Conv2d)]

    def kernels(self):
        return [m.weight.detach().cpu().float().numpy() for _, m in self._convs()]

    def _record(self, modules, images, grad: bool = False, targets=None):
        outputs, handles = {}, []
        def keep(name, output):
            outputs[name] = output
            return output.clone()  # what runs on: an in-place ReLU after the layer (BatchNorm folded away) leaves ours

        for name, module in modules:
            handles.append(module.register_forward_hook(lambda m, i, o, name=name: keep(name, o)))
        try:
            x = self._x(images.to(next(self.model.parameters()).device))
            if grad:
                x.requires_grad_(True)
                logits = self.model(x)
                for o in outputs.values():
                    o.retain_grad()
                logits.gather(1, targets.view(-1, 1).to(logits.device)).sum().backward()
                return x, outputs
            with torch.no_grad():
                self.model(x)
            return x, outputs
        finally:
            for h in handles:
                h.remove()

    def feature_maps(self, images):
        convs = self._convs()
        _, outputs = self._record(convs, images)
        return [(f"conv{k}", _array(F.relu(outputs[name]))) for k, (name, _) in enumerate(convs, start=1)]

    def penultimate(self, images, batch_size: int = 1000):
        linear = [m for m in self.model.modules() if isinstance(m, nn.Linear)][-1]
        feats = []
        handle = linear.register_forward_hook(lambda m, i, o: feats.append(i[0].detach().flatten(1).cpu()))
        try:
            with torch.no_grad():
                for i in range(0, len(images), batch_size):
                    self.model(self._x(images[i:i + batch_size].to(next(self.model.parameters()).device)))
        finally:
            handle.remove()
        return _array(torch.cat(feats))

    def saliency_and_gradcam(self, images, targets):
        name, _ = self._convs()[-1]
        x, outputs = self._record(self._convs()[-1:], images, grad=True, targets=targets)
        self.model.zero_grad(set_to_none=True)
        saliency = _unit(_array(x.grad.abs().amax(dim=1)))
        a = outputs[name]
        cam = _gradcam(_array(a), _array(a.grad), tuple(images.shape[-2:]))
        return saliency, cam


class NumpyInspector(Inspector):
    """The same questions asked of a NumPy `Sequential`, layer by layer."""

    def __init__(self, model, mean, std):
        super().__init__(model, mean, std)
        self.net = model.net

    def _conv_indices(self) -> list[int]:
        from digitlab.numpy_cnn import Conv2D
        return [i for i, layer in enumerate(self.net.layers) if isinstance(layer, Conv2D)]

    def _activation_index(self, conv_index: int) -> int:
        from digitlab.numpy_cnn import ReLU
        following = self.net.layers[conv_index + 1] if conv_index + 1 < len(self.net.layers) else None
        return conv_index + 1 if isinstance(following, ReLU) else conv_index

    def _forward_all(self, images: torch.Tensor) -> list[np.ndarray]:
        x = self._x(images).numpy().astype(next(iter(self.net.state_dict().values())).dtype)
        outputs = []
        for layer in self.net.layers:
            x = layer.forward(x)
            outputs.append(x)
        return outputs

    def kernels(self):
        return [self.net.layers[i].params["W"] for i in self._conv_indices()]

    def feature_maps(self, images):
        outputs = self._forward_all(images)
        return [(f"conv{k}", np.maximum(outputs[self._activation_index(i)], 0))
                for k, i in enumerate(self._conv_indices(), start=1)]

    def penultimate(self, images, batch_size: int = 1000):
        batches = (images[i:i + batch_size] for i in range(0, len(images), batch_size))
        return np.concatenate([self._forward_all(batch)[-2].reshape(len(batch), -1) for batch in batches])

    def saliency_and_gradcam(self, images, targets):
        outputs = self._forward_all(images)
        cam_index = self._conv_indices()[-1]  # the last conv layer's output, as for PyTorch models
        first = self.net.layers[0]
        dout = np.zeros_like(outputs[-1])
        dout[np.arange(len(dout)), targets.numpy()] = 1.0  # d score_target / d logits
        cam_grad, had_input_grad = None, first.input_grad
        first.input_grad = True
        try:
            for i in range(len(self.net.layers) - 1, -1, -1):
                if i == cam_index:
                    cam_grad = dout
                dout = self.net.layers[i].backward(dout)
        finally:
            first.input_grad = had_input_grad
        saliency = _unit(np.abs(dout).max(axis=1))
        cam = _gradcam(outputs[cam_index], cam_grad, tuple(images.shape[-2:]))
        return saliency, cam
