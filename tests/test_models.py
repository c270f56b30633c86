"""Every registered model: shapes on grey and colour input, learning on a small batch, sizes and costs."""

import json

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from digitlab.data import load_dataset
from digitlab.errors import ConfigError
from digitlab.models import create_model, list_models, model_entry
from digitlab.models.profile import conv_comparison, count_macs, count_params
from tests.helpers import run_cli

ZOO = ["seed-cnn", "seed-cnn3", "seed-tiny", "lenet5", "alexnet", "vgg11", "vgg16", "resnet18", "resnet50",
       "resnet-bottleneck", "resnext", "inception", "mobilenet_v1", "mobilenet_v2", "shufflenet", "conv3d"]


def test_registry_has_the_whole_zoo_with_descriptions():
    assert set(ZOO) <= set(list_models())
    assert all(model_entry(name).description for name in list_models())


def test_unknown_model():
    with pytest.raises(ConfigError, match="unknown model 'lenet9'"):
        create_model("lenet9")


@pytest.mark.parametrize("name", list_models())
@pytest.mark.parametrize("in_channels,size,classes", [(1, 28, 10), (3, 28, 10), (3, 64, 2)])
def test_forward_backward_shapes(name, in_channels, size, classes):
    model = create_model(name, num_classes=classes, in_channels=in_channels, image_size=size)
    x = torch.randn(2, in_channels, size, size, requires_grad=True)
    out = model(x)
    assert out.shape == (2, classes)
    out.sum().backward()
    assert x.grad is not None and x.grad.shape == x.shape
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)


@pytest.fixture(scope="module")
def digit_batch():
    data = load_dataset("mnist-5k")
    picks = torch.cat([torch.nonzero(data.train.labels == d).flatten()[:1] for d in range(10)])
    return (data.train.images[picks].float() / 255 - 0.1307) / 0.3081, data.train.labels[picks]


@pytest.mark.parametrize("name", list_models())
def test_learns_a_small_batch(name, digit_batch):
    torch.manual_seed(0)
    model = create_model(name)
    # dropout off: the check is about learning, not noise (BatchNorm stays in train mode)
    for module in model.modules():
        if isinstance(module, nn.Dropout):
            module.eval()
    x, y = digit_batch
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    losses = []
    for _ in range(15):
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0], losses


def test_macs_count_convolutions_and_linear_layers():
    # LeNet-5 by hand: C1 28*28*6*25, C3 10*10*16*6*25, C5 120*16*25, F6 120*84, output 84*10
    assert count_macs(create_model("lenet5"), (1, 28, 28)) == 117_600 + 240_000 + 48_000 + 10_080 + 840
    depthwise = nn.Conv2d(8, 8, 3, padding=1, groups=8, bias=False)
    assert count_macs(depthwise, (8, 10, 10)) == 8 * 10 * 10 * 9
    assert count_params(create_model("lenet5")) == 61_706


@pytest.mark.parametrize("m,n,k,g", [(64, 128, 3, 4), (3, 6, 5, 3), (32, 32, 1, 8)])
def test_conv_comparison_matches_the_formulas(m, n, k, g):
    rows = {r["layer"].split(" ")[0]: r for r in conv_comparison(m, n, k, g)}
    assert rows["standard"]["params"] == k * k * m * n
    assert rows["depthwise-separable"]["params"] == k * k * m + m * n
    assert rows["group"]["params"] == k * k * m * n // g
    assert all(r["params"] == r["formula_value"] for r in rows.values())


def test_models_command_json_and_compare_conv():
    result = run_cli("models", "--json")
    assert result.returncode == 0, result.stderr
    rows = {r["name"]: r for r in json.loads(result.stdout)}
    assert set(rows) == set(list_models())
    assert rows["resnet50"]["params"] > rows["resnet18"]["params"] > rows["mobilenet_v2"]["params"]
    assert all(set(r) == {"name", "params", "macs", "description"} and r["macs"] > 0 for r in rows.values())
    text = run_cli("models", "--compare-conv", "-M", "16", "-N", "32", "-k", "3", "-g", "2")
    assert text.returncode == 0 and "k*k*M*N = 4,608" in text.stdout and "k*k*M + M*N = 656" in text.stdout
    bad = run_cli("models", "--compare-conv", "-M", "10", "-g", "3")
    assert bad.returncode == 2 and "groups" in bad.stderr


def test_moving_mnist_clips_move_one_pixel_per_frame():
    data = load_dataset("moving-mnist")
    assert data.train.images.shape[1:] == (8, 28, 28) and len(data.test) == 1000
    clip = data.train.images[:50].float()
    ys = torch.arange(28.0).view(1, 1, 28, 1)
    xs = torch.arange(28.0).view(1, 1, 1, 28)
    mass = clip.sum((2, 3))
    cy, cx = (clip * ys).sum((2, 3)) / mass, (clip * xs).sum((2, 3)) / mass
    step = torch.stack([cy.diff(dim=1), cx.diff(dim=1)])  # centre of mass moves ~1 px a frame (cut at edges)
    moving = step.abs().amax(0)
    assert (moving.median() - 1).abs() < 0.25
