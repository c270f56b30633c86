"""Export to ONNX and TorchScript: the exported files answer as the checkpoint does."""

import json
import subprocess
import sys

import numpy as np
import onnx
import pytest
import torch
from PIL import Image

from digitlab.data import load_dataset
from digitlab.deploy.export import export_checkpoint
from digitlab.errors import CheckpointError
from digitlab.inference.checkpoint import load_checkpoint, model_from_checkpoint
from digitlab.inference.onnx_runtime import OnnxPredictor
from digitlab.inference.trained_model import predict_logits
from tests.helpers import run_cli


@pytest.fixture(scope="module")
def digits():
    return load_dataset("mnist-5k").test.images[:100]


@pytest.fixture(scope="module")
def bn_run(tmp_path_factory):
    """A BatchNorm model with trained running statistics (what folding must preserve)."""
    run = tmp_path_factory.mktemp("bn") / "digitnet"
    result = run_cli("train", "--dataset", "mnist-5k", "--model", "digitnet", "--recipe", "none", "--epochs", "1",
                     "--out", str(run), "--no-progress")
    assert result.returncode == 0, result.stderr
    return run


def _torch_logits(run, images):
    payload = load_checkpoint(run)
    model = model_from_checkpoint(payload)
    norm = payload["normalization"]
    return predict_logits(model, images, norm["mean"], norm["std"]).numpy()


@pytest.mark.parametrize("which", ["trained_run", "bn_run"])
def test_onnx_runtime_agrees_with_pytorch_on_100_digits(which, request, digits, tmp_path):
    run = request.getfixturevalue(which)
    summary = export_checkpoint(run, tmp_path / "model.onnx", "onnx")
    assert summary["batchnorm_folded"] == (3 if which == "bn_run" else 0)
    onnx.checker.check_model(onnx.load(tmp_path / "model.onnx"))
    ort_logits = OnnxPredictor(tmp_path / "model.onnx").logits(digits.numpy())
    reference = _torch_logits(run, digits)
    assert ort_logits.shape == (100, 10)
    assert np.abs(ort_logits - reference).max() < 1e-4
    assert (ort_logits.argmax(1) == reference.argmax(1)).all()


def test_a_big_batch_runs_in_parts_side_by_side_and_answers_in_order(trained_run, tmp_path):
    export_checkpoint(trained_run, tmp_path / "model.onnx", "onnx")
    images = load_dataset("mnist-5k").test.images[:300].numpy()
    in_parts = OnnxPredictor(tmp_path / "model.onnx", threads=3).logits(images)  # 3 parts of 100 images
    whole = OnnxPredictor(tmp_path / "model.onnx", threads=1).logits(images)
    assert in_parts.shape == (300, 10) and np.abs(in_parts - whole).max() < 1e-4


@pytest.mark.parametrize("name", ["digitnet-poolfirst", "digitnet-fast"])
@pytest.mark.parametrize("negative_channel", [False, True])
def test_batchnorm_after_pooling_folds_only_where_it_computes_the_same(name, negative_channel):
    from digitlab.models import create_model
    from digitlab.models.folding import fold_batchnorm

    torch.manual_seed(0)
    model = create_model(name).eval()
    all_bns = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    for bn in all_bns:  # trained-looking statistics and scales
        bn.running_mean.uniform_(-1, 1), bn.running_var.uniform_(0.5, 2), bn.weight.data.uniform_(0.5, 1.5)
    bns = [bn for bn in all_bns if isinstance(bn, torch.nn.BatchNorm2d)]
    if negative_channel:
        bns[1].weight.data[5] = -0.7  # max-pool and a decreasing map do not commute: this BN must stay
    x = torch.randn(16, 1, 28, 28)
    layers = [type(m) for m in model.modules()]
    with torch.no_grad():
        expected = model(x)
        folded, count = fold_batchnorm(model)
        assert [type(m) for m in model.modules()] == layers  # a folded copy: pools stay where training put them
        assert count == len(all_bns) - negative_channel  # digitnet-fast's Linear -> BatchNorm1d folds too
        assert torch.allclose(folded(x), expected, atol=1e-4)
    # the pools move behind the ReLUs (so int8 pools stay in uint8), except behind the BN that must stay
    pool_inputs = [folded.get_submodule(node.args[0].target) for node in folded.graph.nodes
                   if node.op == "call_module" and isinstance(folded.get_submodule(node.target), torch.nn.MaxPool2d)]
    assert sum(isinstance(m, torch.nn.ReLU) for m in pool_inputs) == 3 - negative_channel


def test_torchscript_agrees_and_carries_the_class_names(bn_run, digits, tmp_path):
    export_checkpoint(bn_run, tmp_path / "model.ts", "torchscript")
    extra = {"digitlab.json": ""}
    scripted = torch.jit.load(str(tmp_path / "model.ts"), _extra_files=extra)
    assert json.loads(extra["digitlab.json"])["classes"] == [str(d) for d in range(10)]
    with torch.no_grad():
        logits = scripted(digits).numpy()
    assert np.abs(logits - _torch_logits(bn_run, digits)).max() < 1e-4


def test_int8_onnx_answers_as_the_fp32_model_does(bn_run, tmp_path):
    test = load_dataset("mnist-5k").test
    images, labels = test.images[:500], test.labels[:500].numpy()
    exported = run_cli("export", "--checkpoint", str(bn_run), "--int8", "--out", str(tmp_path / "q.onnx"), "--json")
    assert exported.returncode == 0, exported.stderr
    summary = json.loads(exported.stdout)
    assert summary["precision"] == "int8" and summary["calibration"] == "512 training images of mnist-5k"
    graph = onnx.load(tmp_path / "q.onnx").graph
    int8_weights = [t for t in graph.initializer if t.data_type == onnx.TensorProto.INT8 and len(t.dims) == 4]
    assert len(int8_weights) == 3  # the three convolutions' weights are stored as int8
    predictor = OnnxPredictor(tmp_path / "q.onnx")
    assert predictor.meta["precision"] == "int8"
    int8_logits, reference = predictor.logits(images.numpy()), _torch_logits(bn_run, images)
    assert (int8_logits.argmax(1) == reference.argmax(1)).mean() >= 0.99
    assert abs((int8_logits.argmax(1) == labels).mean() - (reference.argmax(1) == labels).mean()) <= 0.005
    torchscript = run_cli("export", "--checkpoint", str(bn_run), "--int8", "--format", "torchscript")
    assert torchscript.returncode == 2 and "use --format onnx" in torchscript.stderr
    assert len(torchscript.stderr.strip().splitlines()) == 1


def test_predict_with_the_onnx_file_matches_the_checkpoint(trained_run, digits, tmp_path):
    paths = []
    for i, image in enumerate(digits[:8, 0].numpy()):
        path = tmp_path / f"{i}.png"
        Image.fromarray(255 - image).resize((140, 140)).save(path)  # dark ink on white, 5x larger
        paths.append(str(path))
    exported = run_cli("export", "--checkpoint", str(trained_run), "--out", str(tmp_path / "m.onnx"), "--json")
    assert exported.returncode == 0, exported.stderr
    assert json.loads(exported.stdout)["format"] == "onnx"
    by_onnx = run_cli("predict", "--model", str(tmp_path / "m.onnx"), "--json", *paths)
    by_torch = run_cli("predict", "--checkpoint", str(trained_run), "--json", *paths)
    assert by_onnx.returncode == 0, by_onnx.stderr
    onnx_answers, torch_answers = json.loads(by_onnx.stdout), json.loads(by_torch.stdout)
    assert [a["prediction"] for a in onnx_answers] == [a["prediction"] for a in torch_answers]
    for a, b in zip(onnx_answers, torch_answers):
        assert a["top"][0]["probability"] == pytest.approx(b["top"][0]["probability"], abs=1e-4)


def test_onnx_prediction_runs_without_importing_torch(trained_run, tmp_path):
    export_checkpoint(trained_run, tmp_path / "m.onnx", "onnx")
    Image.fromarray(np.pad(np.full((12, 4), 255, np.uint8), 8)).save(tmp_path / "one.png")
    script = ("import sys\n"
              "from digitlab.inference.onnx_runtime import OnnxPredictor\n"
              f"p = OnnxPredictor({str(tmp_path / 'm.onnx')!r}).predict_files([{str(tmp_path / 'one.png')!r}])[0]\n"
              "print(p.name, 'torch' in sys.modules)\n")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    name, torch_loaded = result.stdout.split()
    assert name in [str(d) for d in range(10)] and torch_loaded == "False"


def test_bad_onnx_files_are_refused(tmp_path, trained_run):
    (tmp_path / "junk.onnx").write_bytes(b"not a protobuf")
    with pytest.raises(CheckpointError, match="not a loadable ONNX model"):
        OnnxPredictor(tmp_path / "junk.onnx")
    export_checkpoint(trained_run, tmp_path / "m.onnx", "onnx")
    proto = onnx.load(tmp_path / "m.onnx")
    del proto.metadata_props[:]
    onnx.save(proto, tmp_path / "foreign.onnx")
    with pytest.raises(CheckpointError, match="without digitlab's metadata"):
        OnnxPredictor(tmp_path / "foreign.onnx")
    wrong = run_cli("predict", "--model", str(tmp_path / "m.pt"), "x.png")
    assert wrong.returncode == 2 and "takes an exported .onnx file" in wrong.stderr
    numpy_run = tmp_path / "numpy.npz"
    numpy_run.write_bytes(b"")
    with pytest.raises(CheckpointError, match="torch engine"):
        export_checkpoint(numpy_run, tmp_path / "x.onnx", "onnx")
    assert not (tmp_path / "x.onnx").exists()
