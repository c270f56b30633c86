"""digitlab: recognise handwritten digits with convolutional neural networks."""

__version__ = "0.1.0"
