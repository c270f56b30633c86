"""The NumPy engine checked against PyTorch (same weights, float64) and against finite differences."""

import ast
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from digitlab import numpy_cnn
from digitlab.numpy_cnn import (
    SGD,
    Adam,
    AvgPool2D,
    BatchNorm,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    MaxPool2D,
    ReLU,
    Sequential,
    build,
    load_npz,
    save_npz,
    softmax_cross_entropy,
)

RNG = np.random.default_rng(0)
TOL = dict(rtol=1e-6, atol=1e-6)


def t(a):
    return torch.tensor(a, dtype=torch.float64, requires_grad=True)


def test_the_engine_does_not_import_torch():
    for path in Path(numpy_cnn.__file__).parent.glob("*.py"):
        tree = ast.parse(path.read_text())
        imported = {a.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import) for a in node.names}
        imported |= {node.module.split(".")[0] for node in ast.walk(tree)
                     if isinstance(node, ast.ImportFrom) and node.module}
        assert "torch" not in imported, path.name


def channels_last_view(x):
    """The same (N, C, H, W) values, laid out in memory as a layer's output is: (N, H, W, C)."""
    return np.ascontiguousarray(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)


@pytest.mark.parametrize("stride,padding,kernel,layout", [(1, 0, 3, "nchw"), (1, 2, 5, "nchw"), (2, 1, 3, "nchw"),
                                                          (3, 0, 2, "nchw"), (1, 1, 3, "nhwc"), (2, 1, 4, "nhwc")])
def test_conv2d_matches_pytorch(stride, padding, kernel, layout):
    x = RNG.standard_normal((3, 2, 9, 11))
    if layout == "nhwc":
        x = channels_last_view(x)
    layer = Conv2D(2, 4, kernel, stride, padding, rng=RNG, dtype=np.float64)
    layer.params["b"][:] = RNG.standard_normal(4)
    out = layer.forward(x)
    dout = RNG.standard_normal(out.shape)
    dx = layer.backward(dout)

    xt, wt, bt = t(x), t(layer.params["W"]), t(layer.params["b"])
    ref = F.conv2d(xt, wt, bt, stride=stride, padding=padding)
    ref.backward(torch.tensor(dout))
    np.testing.assert_allclose(out, ref.detach().numpy(), **TOL)
    np.testing.assert_allclose(dx, xt.grad.numpy(), **TOL)
    np.testing.assert_allclose(layer.grads["W"], wt.grad.numpy(), **TOL)
    np.testing.assert_allclose(layer.grads["b"], bt.grad.numpy(), **TOL)


@pytest.mark.parametrize("layer,reference", [
    (MaxPool2D(2), lambda x: F.max_pool2d(x, 2)),
    (MaxPool2D(3, 2), lambda x: F.max_pool2d(x, 3, 2)),
    (AvgPool2D(2), lambda x: F.avg_pool2d(x, 2)),
    (AvgPool2D(3, 1), lambda x: F.avg_pool2d(x, 3, 1)),
    (ReLU(), F.relu),
    (Flatten(), lambda x: x.reshape(len(x), -1)),
])
def test_parameterless_layers_match_pytorch(layer, reference):
    x = RNG.standard_normal((2, 3, 9, 9))
    out = layer.forward(x)
    dout = RNG.standard_normal(out.shape)
    xt = t(x)
    ref = reference(xt)
    ref.backward(torch.tensor(dout))
    np.testing.assert_allclose(out, ref.detach().numpy(), **TOL)
    np.testing.assert_allclose(layer.backward(dout), xt.grad.numpy(), **TOL)


def test_dense_matches_pytorch():
    layer = Dense(7, 5, rng=RNG, dtype=np.float64)
    layer.params["b"][:] = RNG.standard_normal(5)
    x = RNG.standard_normal((4, 7))
    out = layer.forward(x)
    dout = RNG.standard_normal(out.shape)
    dx = layer.backward(dout)
    xt, wt, bt = t(x), t(layer.params["W"].T), t(layer.params["b"])  # torch stores (out, in)
    ref = F.linear(xt, wt, bt)
    ref.backward(torch.tensor(dout))
    np.testing.assert_allclose(out, ref.detach().numpy(), **TOL)
    np.testing.assert_allclose(dx, xt.grad.numpy(), **TOL)
    np.testing.assert_allclose(layer.grads["W"], wt.grad.numpy().T, **TOL)
    np.testing.assert_allclose(layer.grads["b"], bt.grad.numpy(), **TOL)


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_softmax_cross_entropy_matches_pytorch(smoothing):
    logits, labels = RNG.standard_normal((6, 10)) * 5, RNG.integers(0, 10, 6)
    loss, dlogits = softmax_cross_entropy(logits, labels, smoothing)
    lt = t(logits)
    ref = F.cross_entropy(lt, torch.tensor(labels), label_smoothing=smoothing)
    ref.backward()
    assert loss == pytest.approx(ref.item(), abs=1e-12)
    np.testing.assert_allclose(dlogits, lt.grad.numpy(), **TOL)
    assert np.isfinite(softmax_cross_entropy(np.array([[1000.0, -1000.0]]), np.array([1]))[0])


def test_dropout_scales_kept_units_and_is_identity_at_test_time():
    layer = Dropout(0.25, rng=np.random.default_rng(1))
    x = np.ones((200, 50))
    out = layer.forward(x, training=True)
    kept = out != 0
    assert abs(kept.mean() - 0.75) < 0.02 and np.allclose(out[kept], 1 / 0.75)
    np.testing.assert_array_equal(layer.backward(np.ones_like(x)), out)
    np.testing.assert_array_equal(layer.forward(x, training=False), x)


@pytest.mark.parametrize("shape", [(6, 5), (3, 4, 5, 6)])
def test_batchnorm_matches_pytorch_in_training_and_test_mode(shape):
    channels = shape[1]
    layer = BatchNorm(channels, dtype=np.float64)
    layer.params["gamma"][:] = RNG.standard_normal(channels)
    layer.params["beta"][:] = RNG.standard_normal(channels)
    gt, bt = t(layer.params["gamma"].copy()), t(layer.params["beta"].copy())
    running_mean, running_var = torch.zeros(channels, dtype=torch.float64), torch.ones(channels, dtype=torch.float64)
    for step in range(2):  # two training steps: the running statistics follow PyTorch's
        x = RNG.standard_normal(shape) * 3 + 1
        if len(shape) == 4 and step:
            x = channels_last_view(x)
        out = layer.forward(x, training=True)
        dout = RNG.standard_normal(out.shape)
        dx = layer.backward(dout)
        xt = t(x)
        gt.grad = bt.grad = None
        ref = F.batch_norm(xt, running_mean, running_var, gt, bt, training=True, momentum=0.1, eps=1e-5)
        ref.backward(torch.tensor(dout))
        np.testing.assert_allclose(out, ref.detach().numpy(), **TOL)
        np.testing.assert_allclose(dx, xt.grad.numpy(), **TOL)
        np.testing.assert_allclose(layer.grads["gamma"], gt.grad.numpy(), **TOL)
        np.testing.assert_allclose(layer.grads["beta"], bt.grad.numpy(), **TOL)
        np.testing.assert_allclose(layer.buffers["running_mean"], running_mean.numpy(), **TOL)
        np.testing.assert_allclose(layer.buffers["running_var"], running_var.numpy(), **TOL)
    x = RNG.standard_normal(shape)  # test mode: the running statistics, and a gradient through them (saliency)
    out = layer.forward(x)
    dout = RNG.standard_normal(out.shape)
    xt = t(x)
    ref = F.batch_norm(xt, running_mean, running_var, gt, bt, training=False, eps=1e-5)
    ref.backward(torch.tensor(dout))
    np.testing.assert_allclose(out, ref.detach().numpy(), **TOL)
    np.testing.assert_allclose(layer.backward(dout), xt.grad.numpy(), **TOL)


@pytest.mark.parametrize("name", ["numpy-seed", "numpy-lenet", "numpy-digitnet"])
def test_whole_network_gradient_check(name):
    """Finite differences on every parameter tensor of a whole network, in float64 (training mode: BatchNorm
    normalises with the batch's statistics, and its gradient accounts for that)."""
    model = build(name, seed=3, dtype=np.float64)
    x, y = RNG.standard_normal((3, 1, 28, 28)), np.array([1, 4, 7])

    def loss_of():
        return softmax_cross_entropy(model.forward(x, training=True), y)[0]

    model.backward(softmax_cross_entropy(model.forward(x, training=True), y)[1])
    for key, param, grad in model.parameters():
        for index in [tuple(RNG.integers(0, s) for s in param.shape) for _ in range(4)]:
            old = param[index]
            param[index] = old + 1e-6
            up = loss_of()
            param[index] = old - 1e-6
            down = loss_of()
            param[index] = old
            assert grad[index] == pytest.approx((up - down) / 2e-6, rel=1e-4, abs=1e-7), key


def test_input_gradient_check_through_pooling_and_conv():
    model = Sequential([Conv2D(1, 3, 3, padding=1, rng=RNG, dtype=np.float64), ReLU(), AvgPool2D(2),
                        Conv2D(3, 2, 3, stride=2, rng=RNG, dtype=np.float64), MaxPool2D(2), Flatten()])
    x = RNG.standard_normal((2, 1, 12, 12))
    dout = RNG.standard_normal(model.forward(x).shape)
    dx = model.backward(dout)
    for index in [tuple(RNG.integers(0, s) for s in x.shape) for _ in range(10)]:
        xp, xm = x.copy(), x.copy()
        xp[index] += 1e-6
        xm[index] -= 1e-6
        numeric = ((model.forward(xp) - model.forward(xm)) * dout).sum() / 2e-6
        assert dx[index] == pytest.approx(numeric, rel=1e-4, abs=1e-7)


@pytest.mark.parametrize("optimizer", ["sgd", "nesterov", "adam"])
def test_optimizers_match_pytorch(optimizer):
    model = Sequential([Dense(4, 3, rng=RNG, dtype=np.float64)])
    w = torch.tensor(model.layers[0].params["W"].copy(), requires_grad=True)
    if optimizer == "adam":
        ours, theirs = Adam(model, lr=0.01, weight_decay=0.01), torch.optim.AdamW([w], lr=0.01, weight_decay=0.01)
    else:
        nesterov = optimizer == "nesterov"
        ours = SGD(model, lr=0.1, momentum=0.9, weight_decay=0.01, nesterov=nesterov)
        theirs = torch.optim.SGD([w], lr=0.1, momentum=0.9, weight_decay=0.01, nesterov=nesterov)
    for _ in range(5):
        g = RNG.standard_normal((4, 3))
        model.layers[0].grads["W"] = g
        model.layers[0].grads["b"] = np.zeros(3)
        ours.step()
        w.grad = torch.tensor(g)
        theirs.step()
    np.testing.assert_allclose(model.layers[0].params["W"], w.detach().numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", ["numpy-lenet", "numpy-digitnet"])
def test_save_and_load_npz(tmp_path, name):
    model = build(name, seed=1)
    x = RNG.standard_normal((4, 1, 28, 28)).astype(np.float32)
    model.forward(x, training=True)  # BatchNorm's running statistics move: the file must keep them
    save_npz(tmp_path / "m.npz", model, {"classes": list("0123456789")})
    loaded, meta = load_npz(tmp_path / "m.npz")
    np.testing.assert_array_equal(loaded.forward(x), model.forward(x))
    assert meta["architecture"] == name and meta["classes"][3] == "3"
    with np.load(tmp_path / "m.npz", allow_pickle=False) as data:  # data only: no pickled objects
        assert all(data[k].dtype != object for k in data.files)


def test_numpy_lenet_learns_real_digits():
    from digitlab.data import load_dataset
    data = load_dataset("mnist-5k")
    x = ((data.train.images[:1000].numpy() / 255.0 - 0.1307) / 0.3081).astype(np.float32)
    y = data.train.labels[:1000].numpy()
    model = build("numpy-lenet", seed=0)
    optimizer = Adam(model, lr=2e-3)
    for _ in range(3):
        for i in range(0, 1000, 50):
            loss, dlogits = softmax_cross_entropy(model.forward(x[i:i + 50], training=True), y[i:i + 50])
            model.backward(dlogits)
            optimizer.step()
    xt = ((data.test.images[:500].numpy() / 255.0 - 0.1307) / 0.3081).astype(np.float32)
    accuracy = (model.predict(xt).argmax(1) == data.test.labels[:500].numpy()).mean()
    assert accuracy > 0.85


def test_tiling_max_pool_matches_pytorch_with_ties():
    layer = MaxPool2D(2)
    x = np.maximum(RNG.standard_normal((2, 3, 8, 8)), 0)  # after a ReLU: many windows tie at 0
    out = layer.forward(x)
    dout = RNG.standard_normal(out.shape)
    xt = t(x)
    ref = F.max_pool2d(xt, 2)
    ref.backward(torch.tensor(dout))
    np.testing.assert_allclose(out, ref.detach().numpy(), **TOL)
    np.testing.assert_allclose(layer.backward(dout), xt.grad.numpy(), **TOL)


def test_numpy_engine_through_the_cli(tmp_path):
    import json

    from tests.helpers import run_cli
    run = tmp_path / "run"
    result = run_cli("train", "--engine", "numpy", "--dataset", "mnist-5k", "--epochs", "2", "--out", str(run),
                     "--json", "--no-progress")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout.splitlines()[-1])
    assert summary["model"] == "numpy-digitnet" and summary["checkpoint"].endswith("checkpoint.npz")
    assert summary["test_accuracy"] > 0.9
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in records if r["type"] == "epoch"] == [1, 2]

    evaluation = run_cli("evaluate", "--checkpoint", str(run), "--json")
    assert evaluation.returncode == 0, evaluation.stderr
    report = json.loads(evaluation.stdout)
    assert report["accuracy"] == pytest.approx(summary["test_accuracy"]) and report["count"] == 1000

    from PIL import Image

    from digitlab.data import load_dataset
    digit = load_dataset("mnist-5k").test.images[0, 0].numpy()
    Image.fromarray(255 - digit).resize((200, 200)).save(tmp_path / "d.png")
    prediction = run_cli("predict", "--checkpoint", str(run / "checkpoint.npz"), str(tmp_path / "d.png"), "--json")
    assert prediction.returncode == 0, prediction.stderr
    assert len(json.loads(prediction.stdout)[0]["top"]) == 3

    bad = run_cli("train", "--engine", "numpy", "--model", "resnet18", "--out", str(tmp_path / "x"))
    assert bad.returncode == 2 and "unknown NumPy model" in bad.stderr


def test_numpy_engine_honours_augmentation_and_label_smoothing(tmp_path):
    """Options reach the NumPy loop: the same seed trains the same network, and each option changes it."""
    from digitlab.inference.checkpoint import load_npz_checkpoint
    from digitlab.training import TrainConfig, train

    def weights(name, **options):
        cfg = TrainConfig(dataset="mnist-5k", engine="numpy", model="numpy-seed", epochs=1, seed=3, recipe="fast",
                          **options, explicit=["dataset", "engine", "model", "epochs", "seed", *options])
        train(cfg, tmp_path / name, progress=False)
        model, meta = load_npz_checkpoint(tmp_path / name / "checkpoint.npz")
        return model.net.state_dict(), meta

    none = dict(shift_pixels=0, rotate_degrees=0.0, scale=0.0, hflip=False, label_smoothing=0.0, stroke_width=0.0,
                low_resolution=0.0, elastic=0.0)
    plain, meta = weights("plain", **none)
    assert meta["config"]["lr"] == 6e-3 and meta["config"]["recipe"] == "fast"  # the engine's own recipe
    again, _ = weights("again", **none)
    assert all(np.array_equal(plain[k], again[k]) for k in plain)
    for option in (dict(rotate_degrees=10.0), dict(scale=0.1), dict(hflip=True), dict(label_smoothing=0.1),
                   dict(stroke_width=1.0), dict(low_resolution=0.5), dict(elastic=1.0)):
        changed, _ = weights("-".join(option), **{**none, **option})
        assert not all(np.array_equal(plain[k], changed[k]) for k in plain), option


@pytest.mark.parametrize("args, message", [
    (["--precision", "bf16"], "--precision bf16: the NumPy engine computes in float32"),
    (["--device", "cuda"], "--device cuda: the NumPy engine runs on the CPU only"),
    (["--model", "resnet18"], "--model resnet18: unknown NumPy model"),
])
def test_numpy_engine_refuses_what_it_cannot_honour(tmp_path, args, message):
    from tests.helpers import run_cli
    result = run_cli("train", "--engine", "numpy", "--dataset", "mnist-5k", *args, "--out", str(tmp_path / "r"))
    assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "r").exists()  # refused before any work


def test_numpy_runs_are_not_resumed_and_torch_refuses_numpy_models(tmp_path):
    from digitlab.training import TrainConfig, train
    from tests.helpers import run_cli
    run = tmp_path / "run"
    train(TrainConfig(dataset="mnist-5k", engine="numpy", model="numpy-seed", epochs=1, recipe="fast"), run,
          progress=False)
    resume = run_cli("train", "--resume", str(run))
    assert resume.returncode == 2 and "--resume: the NumPy engine's runs start afresh" in resume.stderr
    again = run_cli("train", "--engine", "numpy", "--dataset", "mnist-5k", "--out", str(run))
    assert again.returncode == 2 and "already holds a run" in again.stderr
    torch_engine = run_cli("train", "--model", "numpy-lenet", "--out", str(tmp_path / "t"))
    assert torch_engine.returncode == 2 and "add --engine numpy" in torch_engine.stderr
