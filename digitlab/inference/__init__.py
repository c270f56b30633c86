"""A trained model: loading its checkpoint and answering with it.

  checkpoint.py     the checkpoint files of both engines: save, load safely, rebuild the model,
                    and the data set it was trained on (no training loop imported)
  trained_model.py  how a trained model answers: its precision, test-time augmentation, frozen
                    BatchNorm; batched logits; `load_trained`
  classifier.py     what every predictor shares: file preprocessing, softmax, class names (no torch)
  predictor.py      `Predictor`: a checkpoint answering through PyTorch (`digitlab predict`, the board)
  onnx_runtime.py   `OnnxPredictor`: an exported .onnx file answering through ONNX Runtime (no torch)
  numpy_module.py   a NumPy-engine network behind nn.Module, so that both engines answer alike
  inspector.py      looking inside a model of either engine: kernels, feature maps, saliency, Grad-CAM
  explain.py        those maps laid back over a picture: `digitlab explain` and the board's "why?"

The names below are imported on first use, so that the ONNX Runtime predictor runs without torch.
"""

import importlib

_EXPORTS = {
    "Prediction": "classifier", "Classifier": "classifier",
    "Predictor": "predictor", "OnnxPredictor": "onnx_runtime",
    "load_trained": "trained_model", "load_checkpoint": "checkpoint", "save_checkpoint": "checkpoint",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'digitlab.inference' has no attribute {name!r}")
    return getattr(importlib.import_module(f"digitlab.inference.{_EXPORTS[name]}"), name)
