"""The downloader against a real HTTP server on 127.0.0.1: mirrors down, corrupt files, cut connections."""

import hashlib
import time

import numpy as np
import pytest

from digitlab.data import datasets
from digitlab.data.download import RemoteFile, cache_root, fetch_files
from digitlab.data.idx import read_pair
from digitlab.errors import DownloadError
from tests.helpers import LoopbackServer, closed_port_url, make_idx_files

NAMES = ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
         "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]


@pytest.fixture
def payloads(tmp_path):
    source = tmp_path / "source"
    make_idx_files(source, "train", 60, seed=5)
    make_idx_files(source, "t10k", 20, seed=6)
    return {name: (source / name).read_bytes() for name in NAMES}


def manifest(payloads):
    return [RemoteFile(name, hashlib.md5(body).hexdigest()) for name, body in payloads.items()]


def test_mirror_down_and_corrupt_file_fall_through_to_a_good_mirror(tmp_path, payloads):
    corrupt = dict(payloads)
    corrupt["train-images-idx3-ubyte.gz"] = payloads["train-images-idx3-ubyte.gz"][:-10] + b"0123456789"
    dest = tmp_path / "cache"
    with LoopbackServer({f"/m/{k}": v for k, v in corrupt.items()}) as bad, \
            LoopbackServer({f"/m/{k}": v for k, v in payloads.items()}) as good:
        mirrors = [closed_port_url(), bad.url + "/m/", good.url + "/m/"]
        fetch_files(manifest(payloads), dest, mirrors, progress=False)
        # The corrupt file came from the second mirror only once; the good one served it.
        assert good.requests.count("/m/train-images-idx3-ubyte.gz") == 1
        assert bad.requests.count("/m/train-images-idx3-ubyte.gz") == 1
        for name, body in payloads.items():
            assert (dest / name).read_bytes() == body
        assert sorted(p.name for p in dest.iterdir()) == sorted(NAMES)  # no temporary files left

        # A second run reads the cache: no request reaches any server.
        before = len(good.requests) + len(bad.requests)
        fetch_files(manifest(payloads), dest, mirrors, progress=False)
        assert len(good.requests) + len(bad.requests) == before
    images, labels = read_pair(dest / NAMES[0], dest / NAMES[1])
    assert images.shape == (60, 28, 28) and labels.shape == (60,)


def test_all_mirrors_failing_raises_quickly_and_leaves_nothing(tmp_path, payloads):
    corrupt = {f"/{k}": b"not the file" for k in payloads}
    dest = tmp_path / "cache"
    start = time.monotonic()
    with LoopbackServer(corrupt) as bad:
        with pytest.raises(DownloadError, match="checksum mismatch"):
            fetch_files(manifest(payloads), dest, [closed_port_url(), bad.url + "/"], progress=False)
    assert time.monotonic() - start < 10
    assert list(dest.iterdir()) == []


def test_connection_dropped_half_way_leaves_no_partial_file(tmp_path, payloads):
    routes = {f"/{k}": v for k, v in payloads.items()}
    dest = tmp_path / "cache"
    with LoopbackServer(routes, truncate={"/train-images-idx3-ubyte.gz"}) as server:
        with pytest.raises(DownloadError, match="train-images"):
            fetch_files(manifest(payloads), dest, [server.url + "/"], progress=False)
    assert list(dest.iterdir()) == []


def test_http_404_is_reported(tmp_path, payloads):
    with LoopbackServer({}) as empty:
        with pytest.raises(DownloadError, match="HTTP 404"):
            fetch_files(manifest(payloads), tmp_path, [empty.url + "/"], progress=False)


def test_cache_root_precedence(tmp_path, monkeypatch):
    monkeypatch.setenv("DIGITLAB_DATA", str(tmp_path / "env"))
    assert cache_root() == tmp_path / "env"
    assert cache_root(tmp_path / "flag") == tmp_path / "flag"
    monkeypatch.delenv("DIGITLAB_DATA")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_root() == tmp_path / "xdg" / "digitlab"


def test_mnist_downloads_through_configured_mirrors_then_reads_cache(tmp_path, payloads, monkeypatch):
    """The real `mnist` loader, pointed at a loopback mirror with checksums of our small files."""
    monkeypatch.setattr(datasets, "MNIST_FILES", manifest(payloads))
    with LoopbackServer({f"/mnist/{k}": v for k, v in payloads.items()}) as server:
        monkeypatch.setenv("DIGITLAB_MNIST_MIRRORS", f"{closed_port_url()},{server.url}/mnist/")
        first = datasets.load_dataset("mnist", data_dir=tmp_path)
        served = len(server.requests)
        second = datasets.load_dataset("mnist", data_dir=tmp_path)
        assert len(server.requests) == served == 4
    assert first.name == second.name == "mnist"
    assert len(first.train) == 60 and len(first.test) == 20
    assert np.array_equal(first.train.images.numpy(), second.train.images.numpy())
    assert (tmp_path / "mnist" / "train-images-idx3-ubyte.gz").is_file()
