"""digitlab: recognise handwritten digits with convolutional neural networks.

    import digitlab
    reader = digitlab.load()             # the default model, or digitlab.load("runs/<run>/")
    reader.read("page.jpg").text         # the numbers on a page
    reader.predict("digit.png").prediction

The Python API lives in digitlab/api.py; it is loaded on first use, so that `import digitlab` stays light.
"""

from digitlab.version import __version__

__all__ = ["load", "Reader", "DigitResult", "PageResult", "__version__"]


def __getattr__(name: str):
    if name in ("load", "Reader", "DigitResult", "PageResult"):
        from digitlab import api
        return getattr(api, name)
    raise AttributeError(f"module 'digitlab' has no attribute {name!r}")
