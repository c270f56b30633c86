"""Reading and writing IDX files, the format MNIST is published in.

An IDX file is a 4-byte magic number (two zero bytes, a type code, the number of
dimensions), one big-endian uint32 per dimension, then the values in C order.
Files may be gzip-compressed. Everything is checked before it is trusted: the header
is validated and the claimed size is compared with what is really there *before*
memory is allocated, so a damaged or hostile file ends in a `DataError` naming it.
"""

from __future__ import annotations

import gzip
import math
import os
import struct
import zlib
from pathlib import Path

import numpy as np

from digitlab.errors import DataError
from digitlab.utils.files import atomic_write

# type code -> big-endian NumPy dtype
_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CODES = {dtype.newbyteorder("="): code for code, dtype in _DTYPES.items()}

# A header claiming more than this is refused before anything is allocated.
MAX_PAYLOAD_BYTES = 2 * 1024**3


def _open(path: Path):
    return gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")


_CHUNK = 1 << 20


def _read_exact(handle, size: int, path: Path, what: str) -> bytes:
    """Read `size` bytes in chunks: memory grows with the data really there, not with what a header claims."""
    data = bytearray()
    while len(data) < size:
        chunk = handle.read(min(_CHUNK, size - len(data)))
        if not chunk:
            raise DataError(f"{path}: truncated IDX file: expected {size} bytes of {what}, found {len(data)}")
        data += chunk
    return data


def read_idx(path: str | os.PathLike, max_bytes: int = MAX_PAYLOAD_BYTES) -> np.ndarray:
    """Read an IDX file (raw or .gz) into a NumPy array in native byte order."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    try:
        with _open(path) as handle:
            magic = _read_exact(handle, 4, path, "header")
            zero, code, ndim = struct.unpack(">HBB", magic)
            if zero != 0 or code not in _DTYPES or not 1 <= ndim <= 4:
                raise DataError(f"{path}: not an IDX file (bad magic number 0x{magic.hex()})")
            shape = struct.unpack(f">{ndim}I", _read_exact(handle, 4 * ndim, path, "dimensions"))
            dtype = _DTYPES[code]
            nbytes = math.prod(shape) * dtype.itemsize  # Python ints: no overflow to a negative size
            if nbytes > max_bytes:
                raise DataError(
                    f"{path}: IDX header claims shape {shape} ({nbytes:,} bytes), over the "
                    f"{max_bytes:,}-byte limit; refusing to allocate"
                )
            payload = _read_exact(handle, nbytes, path, "data")
            if handle.read(1):
                raise DataError(f"{path}: IDX file has data beyond the {shape} its header declares")
    except (OSError, EOFError, zlib.error) as exc:  # gzip errors are OSError/EOFError/zlib.error
        raise DataError(f"{path}: cannot read IDX file: {exc}") from None
    return np.frombuffer(payload, dtype=dtype).reshape(shape).astype(dtype.newbyteorder("="))


def write_idx(path: str | os.PathLike, array: np.ndarray) -> None:
    """Write `array` as an IDX file (gzip-compressed when `path` ends in .gz), atomically."""
    array = np.ascontiguousarray(array)
    code = _CODES.get(array.dtype.newbyteorder("="))
    if code is None:
        raise DataError(f"{path}: IDX cannot store dtype {array.dtype}")
    if not 1 <= array.ndim <= 4:
        raise DataError(f"{path}: IDX stores 1 to 4 dimensions, not {array.ndim}")
    header = struct.pack(">HBB", 0, code, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    body = header + array.astype(_DTYPES[code]).tobytes()
    if str(path).endswith(".gz"):
        body = gzip.compress(body, compresslevel=6, mtime=0)
    with atomic_write(path) as handle:
        handle.write(body)


def read_images(path: str | os.PathLike) -> np.ndarray:
    """An IDX file of uint8 images, shape (N, H, W)."""
    images = read_idx(path)
    if images.dtype != np.uint8 or images.ndim != 3:
        raise DataError(f"{path}: expected uint8 images of shape (N, H, W), found {images.dtype} {images.shape}")
    return images


def read_labels(path: str | os.PathLike, num_classes: int = 10) -> np.ndarray:
    """An IDX file of uint8 class labels in [0, num_classes), shape (N,)."""
    labels = read_idx(path)
    if labels.dtype != np.uint8 or labels.ndim != 1:
        raise DataError(f"{path}: expected uint8 labels of shape (N,), found {labels.dtype} {labels.shape}")
    if labels.size and int(labels.max()) >= num_classes:
        bad = int(labels.max())
        raise DataError(f"{path}: label {bad} is out of range: labels must be 0..{num_classes - 1}")
    return labels


def read_pair(images_path: str | os.PathLike, labels_path: str | os.PathLike,
              num_classes: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """Images and their labels, checked to be the same in number."""
    images, labels = read_images(images_path), read_labels(labels_path, num_classes)
    if len(images) != len(labels):
        raise DataError(
            f"{images_path} holds {len(images)} images but {labels_path} holds {len(labels)} labels"
        )
    return images, labels
