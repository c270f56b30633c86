"""digitlab's version: one home, read by the package, the CLI and the default model's cache name."""

__version__ = "0.1.0"
