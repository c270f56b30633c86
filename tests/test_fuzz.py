"""Fuzzing the three readers of untrusted files: IDX data, images, checkpoints.

Hypothesis mutates real, valid files (bytes flipped, cut, inserted, header fields rewritten);
every case must end in success or digitlab's own error type, within the deadline, without
allocating what a damaged header claims.
"""

import gzip
import io
import struct
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from digitlab.data.idx import read_idx, write_idx
from digitlab.errors import DigitlabError
from digitlab.inference.checkpoint import FORMAT, VERSION
from digitlab.inference.trained_model import load_trained
from digitlab.models import create_model
from digitlab.reading.framing import preprocess_image
from digitlab.reading.images import load_image

FUZZ = settings(max_examples=1500, deadline=2000, suppress_health_check=[HealthCheck.function_scoped_fixture],
                derandomize=True)
MEMORY_LIMIT = 64 * 1024**2  # no case may allocate more than this while being refused or read


@st.composite
def mutations(draw, seed: bytes, header: int):
    """A mutated copy of `seed`: a few edits, biased towards its first `header` bytes."""
    data = bytearray(seed)
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "byte", "cut", "insert", "uint32", "delete"]))
        in_header = draw(st.booleans()) and header > 0
        pos = draw(st.integers(0, max(0, (header if in_header else len(data)) - 1)))
        if kind == "flip" and data:
            data[pos % len(data)] ^= 1 << draw(st.integers(0, 7))
        elif kind == "byte" and data:
            data[pos % len(data)] = draw(st.integers(0, 255))
        elif kind == "cut":
            del data[pos:]
        elif kind == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=16))
        elif kind == "uint32" and len(data) >= pos + 4:
            data[pos:pos + 4] = struct.pack(">I", draw(st.sampled_from([0, 1, 255, 2**16, 10**9, 2**32 - 1])))
        elif kind == "delete" and data:
            del data[pos:pos + draw(st.integers(1, 8))]
    return bytes(data)


def _idx_seed() -> bytes:
    buffer = io.BytesIO()
    images = np.random.default_rng(0).integers(0, 256, size=(3, 28, 28), dtype=np.uint8)
    buffer.write(struct.pack(">HBBIII", 0, 8, 3, 3, 28, 28) + images.tobytes())
    return buffer.getvalue()


IDX_SEED = _idx_seed()


@FUZZ
@given(data=mutations(IDX_SEED, header=16), compressed=st.booleans())
def test_fuzz_idx_reader(tmp_path, data, compressed):
    path = tmp_path / ("f.idx.gz" if compressed else "f.idx")
    path.write_bytes(gzip.compress(data, mtime=0) if compressed and len(data) % 3 else data)  # and broken gzip
    tracemalloc.start()
    try:
        array = read_idx(path)
        assert array.size * array.itemsize <= len(data)
    except DigitlabError:
        pass
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert peak < MEMORY_LIMIT


def _image_seeds() -> list[bytes]:
    rng = np.random.default_rng(0)
    digit = Image.fromarray(rng.integers(0, 255, size=(40, 30), dtype=np.uint8))
    seeds = []
    for fmt, mode in (("PNG", "L"), ("PNG", "RGBA"), ("JPEG", "RGB"), ("GIF", "P"), ("BMP", "RGB"), ("WEBP", "RGB")):
        buffer = io.BytesIO()
        digit.convert(mode).save(buffer, format=fmt)
        seeds.append(buffer.getvalue())
    return seeds


IMAGE_SEEDS = _image_seeds()


@FUZZ
@given(which=st.integers(0, len(IMAGE_SEEDS) - 1), data=st.data())
def test_fuzz_image_loader(which, data):
    mutated = data.draw(mutations(IMAGE_SEEDS[which], header=64))
    try:
        picture = preprocess_image(mutated)
        assert picture.shape == (28, 28) and picture.dtype == np.uint8
    except DigitlabError:
        pass


@pytest.fixture(scope="module")
def checkpoint_seed(tmp_path_factory) -> bytes:
    model = create_model("seed-tiny")
    payload = {"format": FORMAT, "version": VERSION, "engine": "torch", "state_dict": model.state_dict(),
               "model": {"name": "seed-tiny", "num_classes": 10, "in_channels": 1, "image_size": 28},
               "classes": [str(d) for d in range(10)], "normalization": {"mean": [0.1307], "std": [0.3081]},
               "config": {"dataset": "mnist-5k"}, "epoch": 1}
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    return buffer.getvalue()


@settings(max_examples=1000, deadline=5000, suppress_health_check=[HealthCheck.function_scoped_fixture],
          derandomize=True)
@given(data=st.data())
def test_fuzz_checkpoint_loader(tmp_path, checkpoint_seed, data):
    # Half the edits land in the first 2 kB (the pickled payload: structure, names, tensor sizes), the rest anywhere.
    mutated = data.draw(mutations(checkpoint_seed, header=2048))
    path = tmp_path / "checkpoint.pt"
    path.write_bytes(mutated)
    try:
        model, payload = load_trained(path)
        model(torch.zeros(1, 1, 28, 28))
    except DigitlabError:
        pass


@pytest.mark.parametrize("spec", [
    {"name": "seed-tiny", "num_classes": 10**12, "in_channels": 1, "image_size": 28},
    {"name": "seed-tiny", "num_classes": 10, "in_channels": 10**6, "image_size": 28},
    {"name": "seed-tiny", "num_classes": 10, "in_channels": 1, "image_size": 10**6},
    {"name": ["not", "a", "name"], "num_classes": 10, "in_channels": 1, "image_size": 28},
    {"name": "seed-tiny", "num_classes": "10", "in_channels": 1, "image_size": 28},
    "not a dict",
])
def test_checkpoint_model_spec_is_checked_before_building(tmp_path, spec):
    """A damaged spec must not make digitlab build a model of a trillion outputs."""
    payload = {"format": FORMAT, "version": VERSION, "state_dict": {}, "model": spec, "classes": ["a"],
               "normalization": {"mean": [0.0], "std": [1.0]}}
    torch.save(payload, tmp_path / "c.pt")
    with pytest.raises(DigitlabError, match="model description"):
        load_trained(tmp_path / "c.pt")


def test_round_trip_survives_the_fuzz_seed(tmp_path):
    """The seeds themselves are valid: the fuzz starts from files that load."""
    (tmp_path / "f.idx").write_bytes(IDX_SEED)
    assert read_idx(tmp_path / "f.idx").shape == (3, 28, 28)
    for seed in IMAGE_SEEDS:
        assert load_image(seed).size == (30, 40)
    write_idx(tmp_path / "g.idx.gz", np.zeros((2, 28, 28), np.uint8))
    assert Path(tmp_path / "g.idx.gz").stat().st_size > 0
