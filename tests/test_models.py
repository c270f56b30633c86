"""Every registered model: shapes on grey and colour input, learning on a small batch, sizes and costs."""

import json

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from digitlab.data import load_dataset
from digitlab.errors import ConfigError
from digitlab.models import create_model, list_models, model_entry
from digitlab.models.complexity import conv_comparison, count_macs, count_params
from tests.helpers import run_cli

ZOO = ["seed-cnn", "seed-cnn3", "seed-tiny", "lenet5", "alexnet", "vgg11", "vgg16", "resnet18", "resnet50",
       "resnet-bottleneck", "resnext", "inception", "mobilenet_v1", "mobilenet_v2", "shufflenet", "conv3d",
       "densenet", "condensenet", "bl-resnet"]


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


def test_densenet_layers_add_growth_channels_and_transitions_compress():
    from digitlab.models.densenet import DenseLayer
    model = create_model("densenet")
    layers = [m for m in model.modules() if isinstance(m, DenseLayer)]
    assert len(layers) == 18  # DenseNet-BC-40: (40 - 4) / 6 per block, 3 blocks
    x = torch.randn(1, 24, 28, 28)
    assert layers[0](x).shape == (1, 24 + 12, 28, 28) and torch.equal(layers[0](x)[:, :24], x)  # the input passes
    shapes = []
    hooks = [m.register_forward_hook(lambda _m, _i, out: shapes.append(tuple(out.shape[1:]))) for m in layers]
    model.eval()(torch.randn(1, 1, 28, 28))
    for hook in hooks:
        hook.remove()
    # block 1 ends with 24 + 6*12 = 96 channels, compressed to 48; block 2: 48 + 72 = 120 -> 60; block 3: 132
    assert shapes[5] == (96, 28, 28) and shapes[6] == (60, 14, 14) and shapes[11] == (120, 14, 14)
    assert shapes[-1] == (132, 7, 7)


def test_bl_resnet_runs_its_big_branch_at_half_resolution():
    from digitlab.models.blresnet import BigLittleModule
    model = create_model("bl-resnet").eval()
    seen = {}

    def record(name):
        return lambda module, inputs, out: seen.setdefault(name, []).append((inputs[0].shape[-1], *out.shape[1:3]))

    for module in model.modules():
        if isinstance(module, BigLittleModule):
            module.big.register_forward_hook(record("big"))
            module.little.register_forward_hook(record("little"))
    model(torch.randn(1, 1, 28, 28))
    # (input size, output channels, output size) of each module's branches
    assert seen == {"big": [(28, 32, 14), (14, 64, 7)], "little": [(28, 32, 28), (14, 64, 14)]}
    first = next(m for m in model.modules() if isinstance(m, BigLittleModule))
    big = sum(p.numel() for p in first.big.parameters())
    little = sum(p.numel() for p in first.little.parameters())
    assert little < big / 2  # the full-resolution branch is the light one


def _condensed(steps: int = 12):
    """A CondenseNet trained a few steps through its condensation schedule on real digits."""
    data = load_dataset("mnist-5k")
    x, y = (data.train.images[:64].float() / 255 - 0.1307) / 0.3081, data.train.labels[:64]
    torch.manual_seed(0)
    model = create_model("condensenet")
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    for step in range(steps):
        model.training_progress(step / steps)
        loss = F.cross_entropy(model(x), y) + model.regularization()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model, x


def test_condensenet_learns_its_groups_and_converts_to_the_same_outputs():
    from digitlab.models.condensenet import IndexedGroupConv, LearnedGroupConv
    model, x = _condensed()
    lgcs = [m for m in model.modules() if isinstance(m, LearnedGroupConv)]
    assert all(int(m.stage) == 3 for m in lgcs)  # C - 1 = 3 stages, all done half-way through
    for lgc in lgcs:
        groups = lgc.mask.reshape(4, -1, lgc.mask.shape[1])
        kept = groups.sum(2)[:, 0]  # inputs each group reads
        assert (kept == lgc.mask.shape[1] - 3 * (lgc.mask.shape[1] // 4)).all()
        assert (groups == groups[:, :1]).all()  # a group's filters read the same inputs
        assert len({tuple(torch.nonzero(g[0]).flatten().tolist()) for g in groups}) > 1  # groups chose differently
    model.eval()
    converted = model.for_inference()
    assert not any(isinstance(m, LearnedGroupConv) for m in converted.modules())
    assert sum(isinstance(m, IndexedGroupConv) for m in converted.modules()) == len(lgcs)
    assert torch.allclose(model(x), converted(x), atol=1e-4)
    lgc, indexed = lgcs[0], next(m for m in converted.modules() if isinstance(m, IndexedGroupConv))
    assert indexed.conv.weight.numel() * 4 == lgc.conv.weight.numel()  # 1/C of the 1x1 conv's weights


def test_condensenet_trains_with_the_trainer_and_serves_condensed(tmp_path, idx_dir):
    """The trainer drives the stages and the group lasso; the frozen (served) model is the converted one."""
    from digitlab.inference.predictor import Predictor
    from digitlab.inference.trained_model import load_trained, predict_logits
    from digitlab.models.condensenet import LearnedGroupConv
    from digitlab.training import TrainConfig, train
    cfg = TrainConfig(dataset=f"idx:{idx_dir}", model="condensenet", recipe="none", epochs=2, batch_size=32, seed=2,
                      device="cpu")
    result = train(cfg, tmp_path / "run", progress=False)
    assert all(int(m.stage) == 3 for m in result.model.modules() if isinstance(m, LearnedGroupConv))
    trained, payload = load_trained(tmp_path / "run")
    served = Predictor.from_checkpoint(tmp_path / "run")
    lgc_weights = sum(m.conv.weight.numel() for m in trained.modules() if isinstance(m, LearnedGroupConv))
    grouped_1x1 = sum(m.weight.numel() for m in served.model.modules()
                      if isinstance(m, nn.Conv2d) and m.groups == 4 and m.kernel_size == (1, 1))
    assert not any(isinstance(m, LearnedGroupConv) for m in served.model.modules())
    assert lgc_weights * 0.25 <= grouped_1x1 < lgc_weights * 0.3  # converted: ~1/C of the weights (C = 4)
    images = result.dataset.test.images
    mean, std = payload["normalization"]["mean"], payload["normalization"]["std"]
    assert torch.allclose(torch.from_numpy(served.logits(images.numpy())), predict_logits(trained, images, mean, std),
                          atol=1e-4)


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
