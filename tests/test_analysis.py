"""The report, its figures and the robustness study, on real trained models of both engines."""

import json
import re

import numpy as np
import torch
import torch.nn as nn
from matplotlib.figure import Figure
from PIL import Image

from digitlab import analysis
from digitlab.analysis.robustness import RobustnessStudy, blurred, noised, rotated, run_study, shifted
from digitlab.data import load_dataset
from digitlab.inference.inspector import Inspector, NumpyInspector, TorchInspector
from digitlab.inference.numpy_module import NumpyModule
from digitlab.inference.trained_model import load_trained
from digitlab.numpy_cnn import build
from digitlab.training import TrainConfig, train
from digitlab.training.evaluate import evaluate
from tests.helpers import run_cli

FIGURES = {"curves.png", "confusion.png", "misclassified.png", "kernels.png", "feature_maps_0.png",
           "feature_maps_5.png", "tsne.png", "saliency.png", "robustness.png", "shift_feature_maps.png"}


def test_report_writes_every_figure_and_an_index_that_shows_them(trained_run, tmp_path):
    out = tmp_path / "report"
    result = run_cli("report", "--checkpoint", str(trained_run), "--out", str(out), "--index", "0", "--index", "5",
                     "--tsne", "300", "--picture-digits", "40", "--json")
    assert result.returncode == 0, result.stderr
    pngs = {p.name for p in out.glob("*.png")}
    assert pngs == FIGURES
    for name in pngs:
        with Image.open(out / name) as image:
            assert image.format == "PNG" and image.width >= 400 and image.height >= 200, name
    page = (out / "index.html").read_text()
    assert set(re.findall(r'src="([^"]+)"', page)) == pngs
    numbers = json.loads((out / "report.json").read_text())
    assert numbers["robustness"]["count"] == 1000
    assert {"pen", "resolution", "lighting"} <= numbers["robustness"].keys()
    assert numbers["robustness"]["pen"]["count"] == 40
    assert numbers["robustness"]["shift"]["right"][0] == numbers["robustness"]["plain"] == numbers["accuracy"]
    assert not list(out.glob(".*"))  # no temporary files left


def test_robustness_json_shift_zero_is_plain_accuracy(trained_run):
    result = run_cli("robustness", "--checkpoint", str(trained_run), "--picture-digits", "150", "--json")
    assert result.returncode == 0, result.stderr
    study = json.loads(result.stdout)
    evaluation = json.loads(run_cli("evaluate", "--checkpoint", str(trained_run), "--json").stdout)
    assert study["plain"] == evaluation["accuracy"]
    assert all(study["shift"][d][0] == study["plain"] for d in ("right", "left", "down", "up"))
    assert all(study[kind]["accuracy"][0] == study["plain"] for kind in ("rotation", "noise", "blur"))
    assert study["shift"]["right"][6] < study["plain"] - 0.2  # a 6-pixel shift hurts a CNN trained without shifts
    assert sum(sum(row) for row in evaluation["confusion"]) == study["count"] == 1000
    # the same digits as pictures: other pens, small scans, side light, read as predict reads files
    pen, scan, light = study["pen"], study["resolution"], study["lighting"]
    assert pen["pixels"] == [-1.0, -0.5, 0.0, 0.5, 1.0, 1.5, 2.0] and pen["count"] == 150
    clean = pen["accuracy"][pen["pixels"].index(0.0)]
    assert clean > study["plain"] - 0.06  # redrawn at 112x112 and read back: about the 28x28 accuracy
    assert scan["pixels"][0] == 28 and scan["accuracy"][-1] < scan["accuracy"][0] - 0.1  # a 6x6 scan loses a lot
    assert light["darkest"][0] == 1.0 and min(light["accuracy"]) > clean - 0.05  # the light divides out


def test_perturbations():
    images = load_dataset("mnist-5k").test.images[:20]
    assert torch.equal(shifted(images, 0, "up"), images)
    moved = shifted(images, 3, "right")
    assert torch.equal(moved[..., 3:], images[..., :-3]) and not moved[..., :3].any()
    assert torch.equal(rotated(images, 0), images)
    turned = rotated(images, 90)  # a quarter turn keeps all the ink
    assert abs(turned.float().sum() / images.float().sum() - 1) < 0.02
    assert torch.equal(noised(images, 0), images) and not torch.equal(noised(images, 0.2), images)
    soft = blurred(images, 1.5)
    assert soft.float().std() < images.float().std() and abs(soft.float().mean() - images.float().mean()) < 2


def test_figures_are_available_from_python(trained_run):
    model, payload = load_trained(trained_run)
    split = load_dataset("mnist-5k").test
    mean, std = payload["normalization"]["mean"], payload["normalization"]["std"]
    result = evaluate(model, split, mean, std, 10)
    assert result.confusion.sum() == len(split)
    study = RobustnessStudy(shifts=[0, 2], angles=[0, 30], noise=[0, 0.3], blur=[0, 1])
    figures = [analysis.plot_confusion(result.confusion, payload["classes"]),
               analysis.plot_curves(payload["history"]),
               analysis.plot_kernels(Inspector.for_model(model, mean, std).kernels()),
               analysis.plot_robustness(run_study(model, split.subset(torch.arange(100)), mean, std, 10, study))]
    assert all(isinstance(f, Figure) for f in figures)


def test_a_model_answering_in_bf16_is_inspected_in_float32(trained_run):
    """Where the CPU computes bf16, a served model holds bf16 weights; its saliency, Grad-CAM and feature maps
    (explain, the board's "why?") come out as float32 arrays like those of the float32 model (they failed once:
    NumPy has no bfloat16)."""
    from digitlab.inference.trained_model import with_inference_options
    model, payload = load_trained(trained_run)
    mean, std = payload["normalization"]["mean"], payload["normalization"]["std"]
    served = with_inference_options(model, {**payload["config"], "tta": True}, freeze=True, bf16=True)
    assert next(served.model.parameters()).dtype == torch.bfloat16
    images, targets = load_dataset("mnist-5k").test.images[:4], torch.tensor([7, 2, 1, 0])
    inspector, plain = Inspector.for_model(served, mean, std), Inspector.for_model(model, mean, std)
    saliency, cam = inspector.saliency_and_gradcam(images, targets)
    plain_saliency, plain_cam = plain.saliency_and_gradcam(images, targets)
    assert saliency.dtype == cam.dtype == np.float32 and saliency.shape == cam.shape == (4, 28, 28)
    for ours, theirs in ((saliency, plain_saliency), (cam, plain_cam)):
        assert np.corrcoef(ours.ravel(), theirs.ravel())[0, 1] > 0.9  # the same pixels, bf16 weights or not
    assert all(maps.dtype == np.float32 for _, maps in inspector.feature_maps(images))
    assert next(served.model.parameters()).dtype == torch.bfloat16  # the served model itself is left as it was


def _torch_lenet_like(net) -> nn.Module:
    """A PyTorch copy of a numpy-lenet with the same weights."""
    model = nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(6, 16, 5), nn.ReLU(),
                          nn.MaxPool2d(2), nn.Flatten(), nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(),
                          nn.Linear(84, 10))
    convs = [m for m in model if isinstance(m, nn.Conv2d)]
    linears = [m for m in model if isinstance(m, nn.Linear)]
    ours = [layer for layer in net.layers if layer.params]
    with torch.no_grad():
        for theirs, layer in zip(convs + linears, ours):
            w = layer.params["W"]
            theirs.weight.copy_(torch.from_numpy(w if w.ndim == 4 else w.T))
            theirs.bias.copy_(torch.from_numpy(layer.params["b"]))
    return model.eval()


def test_numpy_and_torch_inspectors_agree_on_the_same_network():
    # float64: in float32 the two engines sum in different orders, and on a blank background the conv
    # outputs tie, so max-pooling routes the saliency gradient to different (equally valid) pixels
    net = build("numpy-lenet", seed=4, dtype=np.float64)
    mean, std = (0.1307,), (0.3081,)
    ours = NumpyInspector(NumpyModule(net), mean, std)
    theirs = TorchInspector(_torch_lenet_like(net).double(), mean, std)
    images = load_dataset("mnist-5k").test.images[:6]
    targets = torch.tensor([0, 1, 2, 3, 4, 5])
    for a, b in zip(ours.kernels(), theirs.kernels()):
        np.testing.assert_allclose(a, b, atol=1e-6)
    our_maps, their_maps = ours.feature_maps(images), theirs.feature_maps(images)
    assert [name for name, _ in our_maps] == [name for name, _ in their_maps] == ["conv1", "conv2"]  # by layer
    for (_, a), (_, b) in zip(our_maps, their_maps):
        np.testing.assert_allclose(a, b, atol=1e-4)
    np.testing.assert_allclose(ours.penultimate(images), theirs.penultimate(images), atol=1e-4)
    sal_a, cam_a = ours.saliency_and_gradcam(images, targets)
    sal_b, cam_b = theirs.saliency_and_gradcam(images, targets)
    np.testing.assert_allclose(sal_a, sal_b, atol=1e-3)
    np.testing.assert_allclose(cam_a, cam_b, atol=1e-3)
    assert sal_a.shape == (6, 28, 28) and 0 <= sal_a.min() and sal_a.max() <= 1


def test_report_on_a_numpy_checkpoint(tmp_path):
    train(TrainConfig(dataset="mnist-5k", engine="numpy", model="numpy-seed", epochs=1), tmp_path / "run",
          progress=False)
    result = run_cli("report", "--checkpoint", str(tmp_path / "run"), "--out", str(tmp_path / "report"), "--tsne",
                     "200", "--picture-digits", "30")
    assert result.returncode == 0, result.stderr
    assert {"kernels.png", "saliency.png", "tsne.png",
            "robustness.png"} <= {p.name for p in (tmp_path / "report").glob("*.png")}


def test_feature_map_rows_are_labelled_by_layer_and_channel():
    from digitlab.models import create_model
    model = create_model("digitnet").eval()  # its convs sit in nested modules ("0.0", "1.0", ...)
    images = load_dataset("mnist-5k").test.images[:1]
    maps = [(name, m[0]) for name, m in Inspector.for_model(model, (0.1307,), (0.3081,)).feature_maps(images)]
    assert [name for name, _ in maps] == ["conv1", "conv2", "conv3"]
    titles = {ax.get_title() for ax in analysis.plot_feature_maps(images[0].numpy(), maps).axes}
    assert {"input", "conv1 #3", "conv2 #0", "conv3 #15"} <= titles
