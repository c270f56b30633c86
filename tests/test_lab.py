"""The `digitlab lab` lessons: the numbers they teach, and their pictures."""

import json

import numpy as np
import pytest
from PIL import Image

from digitlab.numpy_cnn.lessons import EDGE_KERNEL, corr2d, edge_image, learn_kernel
from tests.helpers import run_cli


def test_corr2d_by_hand_matches_the_textbook_example():
    y = corr2d(np.arange(9.0).reshape(3, 3), np.array([[0.0, 1.0], [2.0, 3.0]]))
    np.testing.assert_array_equal(y, [[19, 25], [37, 43]])


def test_corr2d_matches_the_engines_convolution():
    from digitlab.numpy_cnn import Conv2D
    rng = np.random.default_rng(0)
    x, k = rng.standard_normal((7, 9)), rng.standard_normal((3, 3))
    conv = Conv2D(1, 1, 3, dtype=np.float64)
    conv.params["W"][0, 0] = k
    np.testing.assert_allclose(conv.forward(x[None, None])[0, 0], corr2d(x, k), atol=1e-12)


def test_edge_kernel_finds_vertical_edges_and_loses_them_when_transposed():
    y = corr2d(edge_image(), EDGE_KERNEL)
    assert (y[:, 1] == 1).all() and (y[:, 5] == -1).all()
    assert np.count_nonzero(y) == 2 * 6
    assert not corr2d(edge_image().T, EDGE_KERNEL).any()


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_learned_kernel_is_within_0_05_of_the_true_one(seed):
    kernel, losses = learn_kernel(seed=seed)
    assert np.abs(kernel - EDGE_KERNEL).max() < 0.05
    assert losses[-1] < losses[0] / 100 and all(b <= a for a, b in zip(losses, losses[1:]))


@pytest.mark.parametrize("lesson", ["corr2d", "edges", "learn-kernel"])
def test_lab_commands_print_json_and_save_a_picture(lesson, tmp_path):
    picture = tmp_path / f"{lesson}.png"
    result = run_cli("lab", lesson, "--out", str(picture), "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["picture"] == str(picture)
    with Image.open(picture) as image:
        assert image.format == "PNG" and image.width >= 600 and image.height >= 250
    if lesson == "learn-kernel":
        assert np.abs(np.array(data["kernel"]) - EDGE_KERNEL).max() < 0.05


def test_learn_kernel_prints_the_loss_falling():
    result = run_cli("lab", "learn-kernel", "--steps", "10")
    assert result.returncode == 0
    losses = [float(line.split("loss")[1]) for line in result.stdout.splitlines() if line.startswith("step")]
    assert len(losses) >= 5 and losses == sorted(losses, reverse=True)
