import gzip
import struct

import numpy as np
import pytest

from digitlab.data.idx import read_idx, read_images, read_labels, read_pair, write_idx
from digitlab.errors import DataError


@pytest.mark.parametrize("name", ["a-idx3-ubyte", "a-idx3-ubyte.gz"])
def test_round_trip_raw_and_gz(tmp_path, name):
    images = np.random.default_rng(0).integers(0, 256, (7, 28, 28), dtype=np.uint8)
    write_idx(tmp_path / name, images)
    np.testing.assert_array_equal(read_images(tmp_path / name), images)
    if name.endswith(".gz"):
        assert gzip.open(tmp_path / name).read(4) == b"\x00\x00\x08\x03"


@pytest.mark.parametrize("dtype", [np.int8, np.int16, np.int32, np.float32, np.float64])
def test_round_trip_other_types(tmp_path, dtype):
    array = (np.arange(24).reshape(2, 3, 4) - 5).astype(dtype)
    write_idx(tmp_path / "x.idx", array)
    out = read_idx(tmp_path / "x.idx")
    assert out.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(out, array)


def test_wrong_magic_names_the_file(tmp_path):
    bad = tmp_path / "bad-images-idx3-ubyte"
    bad.write_bytes(b"\x12\x34\x08\x03" + b"\x00" * 20)
    with pytest.raises(DataError, match="bad-images-idx3-ubyte.*bad magic"):
        read_idx(bad)


def test_truncated_file(tmp_path):
    path = tmp_path / "t.idx"
    write_idx(path, np.zeros((10, 28, 28), np.uint8))
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(DataError, match=r"t\.idx.*truncated"):
        read_idx(path)


def test_truncated_gzip(tmp_path):
    path = tmp_path / "t.idx.gz"
    write_idx(path, np.random.default_rng(0).integers(0, 256, (50, 28, 28), dtype=np.uint8))
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(DataError, match=r"t\.idx\.gz"):
        read_idx(path)


def test_trailing_data_is_a_count_mismatch(tmp_path):
    path = tmp_path / "t.idx"
    write_idx(path, np.zeros((3, 28, 28), np.uint8))
    path.write_bytes(path.read_bytes() + b"\x00" * 784)
    with pytest.raises(DataError, match="beyond"):
        read_idx(path)


def test_images_and_labels_count_mismatch(tmp_path):
    write_idx(tmp_path / "i", np.zeros((5, 28, 28), np.uint8))
    write_idx(tmp_path / "l", np.zeros(4, np.uint8))
    with pytest.raises(DataError, match="5 images but .* 4 labels"):
        read_pair(tmp_path / "i", tmp_path / "l")


def test_label_out_of_range(tmp_path):
    write_idx(tmp_path / "labels", np.array([0, 3, 12], np.uint8))
    with pytest.raises(DataError, match="labels.*label 12 is out of range"):
        read_labels(tmp_path / "labels")


def test_header_claiming_a_billion_images_is_refused_before_allocating(tmp_path):
    path = tmp_path / "huge"
    path.write_bytes(struct.pack(">HBBIII", 0, 8, 3, 10**9, 28, 28) + b"\x00" * 100)
    with pytest.raises(DataError, match="refusing to allocate"):
        read_idx(path)


def test_images_must_be_three_dimensional(tmp_path):
    write_idx(tmp_path / "flat", np.zeros(10, np.uint8))
    with pytest.raises(DataError, match="expected uint8 images"):
        read_images(tmp_path / "flat")


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        read_idx(tmp_path / "nope")


def test_write_is_atomic_and_leaves_no_temp_files(tmp_path):
    write_idx(tmp_path / "x.gz", np.zeros((2, 2, 2), np.uint8))
    with pytest.raises(DataError):
        write_idx(tmp_path / "x.gz", np.zeros((2, 2, 2), np.complex64))
    assert [p.name for p in tmp_path.iterdir()] == ["x.gz"]
    assert read_idx(tmp_path / "x.gz").shape == (2, 2, 2)
