"""Taking a trained model out of digitlab: ONNX / TorchScript export and an ONNX Runtime predictor."""
