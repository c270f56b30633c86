"""digitlab's own error types.

Everything a user can cause (a missing file, a damaged IDX, an unknown model name, a
download that fails) raises a subclass of `DigitlabError`. The CLI turns these into a
one-line message and exit code 2; anything else is a bug and keeps its traceback.
"""


class DigitlabError(Exception):
    """A problem with the user's input or environment, explained in one line."""


class DataError(DigitlabError):
    """A data file or data set that cannot be read or is not what it claims to be."""


class DownloadError(DataError):
    """No mirror delivered a file with the expected checksum."""


class ImageError(DigitlabError):
    """An image file that cannot be turned into a 28x28 digit."""


class ImageNotFound(ImageError, FileNotFoundError):
    """A picture's file that does not exist (or is a folder)."""


class NotAnImage(ImageError):
    """Bytes, a file or an object that is no picture digitlab can decode."""


class UploadTooLarge(ImageError):
    """An upload over the board's byte limit (web/protocol.py: MAX_UPLOAD_BYTES), refused before it is read: 413."""


class ImageTooLarge(ImageError):
    """A picture over the pixel limit (or a decompression bomb), refused before it is decoded."""


class CheckpointError(DigitlabError):
    """A checkpoint that is missing, damaged, or not a digitlab checkpoint."""


class ConfigError(DigitlabError):
    """An option value that makes no sense (unknown model, bad device, ...)."""
