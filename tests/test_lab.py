"""The `digitlab lab` lessons: the numbers they teach, and their pictures."""

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from digitlab.numpy_cnn import lessons
from tests.helpers import run_cli


def test_corr2d_by_hand_matches_the_textbook_example():
    y = lessons.corr2d(np.arange(9.0).reshape(3, 3), np.array([[0.0, 1.0], [2.0, 3.0]]))
    np.testing.assert_array_equal(y, [[19, 25], [37, 43]])


def test_corr2d_matches_the_engines_convolution():
    from digitlab.numpy_cnn import Conv2D
    rng = np.random.default_rng(0)
    x, k = rng.standard_normal((7, 9)), rng.standard_normal((3, 3))
    conv = Conv2D(1, 1, 3, dtype=np.float64)
    conv.params["W"][0, 0] = k
    np.testing.assert_allclose(conv.forward(x[None, None])[0, 0], lessons.corr2d(x, k), atol=1e-12)


def test_edge_kernel_finds_vertical_edges_and_loses_them_when_transposed():
    y = lessons.corr2d(lessons.edge_image(), lessons.EDGE_KERNEL)
    assert (y[:, 1] == 1).all() and (y[:, 5] == -1).all()
    assert np.count_nonzero(y) == 2 * 6
    assert not lessons.corr2d(lessons.edge_image().T, lessons.EDGE_KERNEL).any()


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_learned_kernel_is_within_0_05_of_the_true_one(seed):
    kernel, losses = lessons.learn_kernel(seed=seed)
    assert np.abs(kernel - lessons.EDGE_KERNEL).max() < 0.05
    assert losses[-1] < losses[0] / 100 and all(b <= a for a, b in zip(losses, losses[1:]))


@pytest.mark.parametrize("lesson", ["corr2d", "edges", "learn-kernel", "transposed-conv", "im2col", "pooling",
                                    "receptive-field"])
def test_lab_commands_print_json_and_save_a_picture(lesson, tmp_path):
    picture = tmp_path / f"{lesson}.png"
    result = run_cli("-q", "lab", lesson, "--out", str(picture), "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["picture"] == str(picture)
    with Image.open(picture) as image:
        assert image.format == "PNG" and image.width >= 600 and image.height >= 250
    if lesson == "learn-kernel":
        assert np.abs(np.array(data["kernel"]) - lessons.EDGE_KERNEL).max() < 0.05


def test_learn_kernel_prints_the_loss_falling():
    result = run_cli("lab", "learn-kernel", "--steps", "10")
    assert result.returncode == 0
    losses = [float(line.split("loss")[1]) for line in result.stdout.splitlines() if line.startswith("step")]
    assert len(losses) >= 5 and losses == sorted(losses, reverse=True)


@pytest.mark.parametrize("stride,padding,kernel,size", [(1, 0, 3, 4), (2, 0, 3, 4), (2, 1, 3, 5), (3, 2, 4, 3),
                                                        (2, 0, 2, 1)])
def test_transposed_conv_by_hand_equals_zero_insertion_padding_and_a_flipped_kernel_and_torch(stride, padding, kernel,
                                                                                              size):
    rng = np.random.default_rng(stride * 10 + padding)
    x, k = rng.standard_normal((size, size + 1)), rng.standard_normal((kernel, kernel))
    scattered = lessons.conv_transpose_scatter(x, k, stride, padding)
    as_conv = lessons.conv_transpose_as_conv(x, k, stride, padding)
    reference = F.conv_transpose2d(torch.tensor(x)[None, None], torch.tensor(k)[None, None], stride=stride,
                                   padding=padding)[0, 0].numpy()
    layer = torch.nn.ConvTranspose2d(1, 1, kernel, stride, padding, bias=False).double()
    layer.weight.data = torch.tensor(k)[None, None]
    np.testing.assert_allclose(scattered, reference, atol=1e-12)
    np.testing.assert_allclose(as_conv, reference, atol=1e-12)
    np.testing.assert_allclose(layer(torch.tensor(x)[None, None])[0, 0].detach().numpy(), reference, atol=1e-12)
    assert reference.shape[0] == lessons.conv_transpose_output_size(size, kernel, stride, padding)


def test_im2col_makes_a_conv_layer_one_matrix_product():
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((3, 7, 8)), rng.standard_normal((5, 3, 3, 3))
    assert lessons.im2col(x, 3).shape == (3 * 3 * 3, 5 * 6)
    reference = F.conv2d(torch.tensor(x)[None], torch.tensor(w))[0].numpy()
    np.testing.assert_allclose(lessons.conv_by_im2col(x, w), reference, atol=1e-10)
    np.testing.assert_allclose(lessons.conv_direct(x, w), reference, atol=1e-10)
    np.testing.assert_allclose(lessons.conv_by_im2col(x, w, stride=2), reference[:, ::2, ::2], atol=1e-10)
    cost = lessons.im2col_cost(channels=32, filters=64, kernel=3, size=14)
    layer = torch.nn.Conv2d(32, 64, 3, padding=1, bias=False)
    from digitlab.models.complexity import count_macs
    assert cost["macs"] == count_macs(layer, (32, 14, 14)) and cost["blow_up"] == 9


def test_pooling_keeps_the_strongest_or_the_mean_of_each_window():
    x = np.array([[1.0, 0.0, 0.2, 0.2], [0.0, 0.0, 0.2, 0.2], [0.0, 0.5, 0.0, 0.0], [0.0, 0.0, 0.0, 0.9]])
    np.testing.assert_array_equal(lessons.pool2d(x, 2, "max"), [[1.0, 0.2], [0.5, 0.9]])
    np.testing.assert_allclose(lessons.pool2d(x, 2, "mean"), [[0.25, 0.2], [0.125, 0.225]])
    reference = F.max_pool2d(torch.tensor(x)[None, None], 2)[0, 0].numpy()
    np.testing.assert_array_equal(lessons.pool2d(x, 2, "max"), reference)


@pytest.mark.parametrize("name", ["seed-cnn", "lenet5", "vgg11", "resnet18", "densenet", "bl-resnet", "inception"])
def test_receptive_field_formula_matches_the_gradient(name):
    from digitlab.analysis.receptive_field import measured_field, receptive_fields
    from digitlab.models import create_model
    model = create_model(name)
    rows = receptive_fields(model)
    assert rows and all(b.field >= a.field or b.jump != a.jump for a, b in zip(rows, rows[1:])
                        if b.layer.rsplit(".", 2)[0] == a.layer.rsplit(".", 2)[0])
    inside = [r for r in rows if r.field <= 25]  # a field within the picture, so nothing is cut at the border
    for row in inside[::max(1, len(inside) // 4)] + inside[-1:]:
        assert measured_field(model, row.layer) == row.field, row


def test_receptive_field_of_the_classic_cnn_by_hand():
    from digitlab.analysis.receptive_field import receptive_fields
    from digitlab.models import create_model
    # seed-cnn: conv 5x5 (5), max-pool 2 (6, jump 2), conv 5x5 (6 + 4*2 = 14), max-pool 2 (14 + 2 = 16, jump 4)
    assert [(r.kind, r.field, r.jump, r.size) for r in receptive_fields(create_model("seed-cnn"))] == [
        ("Conv2d", 5, 1, 28), ("MaxPool2d", 6, 2, 14), ("Conv2d", 14, 2, 14), ("MaxPool2d", 16, 4, 7)]
    bad = run_cli("lab", "receptive-field", "--model", "conv3d")
    assert bad.returncode == 2 and "pick a 2-D zoo model" in bad.stderr and "Traceback" not in bad.stderr


def test_autoencoder_decoder_upsamples_with_transposed_convs():
    from digitlab.models.autoencoder import ConvAutoencoder
    model = ConvAutoencoder(code=16)
    sizes = []
    for layer in model.decoder:
        if isinstance(layer, torch.nn.ConvTranspose2d):
            layer.register_forward_hook(lambda m, i, out: sizes.append((i[0].shape[-1], out.shape[-1])))
    out = model(torch.rand(3, 1, 28, 28))
    assert sizes == [(7, 14), (14, 28)] and out.shape == (3, 1, 28, 28) and 0 <= out.min() and out.max() <= 1
    assert model.encoder(torch.rand(3, 1, 28, 28)).shape == (3, 16)


def test_autoencoder_lesson_learns_to_rebuild_and_denoise(tmp_path):
    picture = tmp_path / "ae.png"
    result = run_cli("-q", "lab", "autoencoder", "--epochs", "4", "--out", str(picture), "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert len(data["losses"]) == 4 and data["losses"][-1] < 0.6 * data["losses"][0]
    assert data["denoised_mse"] < 0.8 * data["noisy_mse"] and data["reconstruction_mse"] < 0.06
    with Image.open(picture) as image:
        assert image.width >= 600 and image.height >= 400
    bad = run_cli("lab", "autoencoder", "--epochs", "0")
    assert bad.returncode == 2 and "--epochs must be 1 or more" in bad.stderr
