"""Real training runs: metrics, checkpoints, determinism, resume after SIGKILL."""

import math
import os
import random
import signal
import subprocess
import sys
import time

import pytest
import torch

from digitlab.data.augment import random_shift
from digitlab.errors import CheckpointError, ConfigError
from digitlab.inference.checkpoint import load_checkpoint
from digitlab.training import TrainConfig, train
from digitlab.training.metrics import read_metrics
from digitlab.training.schedule import lr_at


def test_trained_run_writes_metrics_and_a_safe_checkpoint(trained_run):
    records = read_metrics(trained_run / "metrics.jsonl")
    epochs = [r for r in records if r["type"] == "epoch"]
    steps = [r for r in records if r["type"] == "step"]
    assert [r["epoch"] for r in epochs] == [1, 2, 3]
    assert len(steps) >= 10 and all({"loss", "error", "lr", "step"} <= r.keys() for r in steps)
    assert all(r["val_error"] is not None and r["train_loss"] > 0 for r in epochs)
    assert epochs[-1]["val_error"] < 0.1 and epochs[-1]["train_loss"] < epochs[0]["train_loss"]

    payload = torch.load(trained_run / "checkpoint.pt", weights_only=True)  # plain data only
    assert payload["classes"] == [str(d) for d in range(10)]
    assert payload["normalization"] == {"mean": [0.1307], "std": [0.3081]}
    assert payload["config"]["model"] == "seed-cnn" and payload["epoch"] == 3
    assert payload["dataset"] == "mnist-5k" and len(payload["history"]) == 3
    assert [p.name for p in trained_run.iterdir() if p.name.startswith(".")] == []  # no temp files


def _weights(path):
    return load_checkpoint(path)["state_dict"]


def test_same_seed_same_numbers(tmp_path):
    cfg = dict(dataset="mnist-5k", model="seed-tiny", epochs=1, seed=11, shift_pixels=2, device="cpu")
    a = train(TrainConfig(**cfg), tmp_path / "a", progress=False)
    b = train(TrainConfig(**cfg), tmp_path / "b", progress=False)
    train(TrainConfig(**{**cfg, "seed": 12}), tmp_path / "c", progress=False)

    def strip(records):
        return [{k: v for k, v in r.items() if "seconds" not in k and "per_s" not in k} for r in records]

    assert strip(read_metrics(tmp_path / "a/metrics.jsonl")) == strip(read_metrics(tmp_path / "b/metrics.jsonl"))
    wa, wb, wc = _weights(tmp_path / "a"), _weights(tmp_path / "b"), _weights(tmp_path / "c")
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    assert not all(torch.equal(wa[k], wc[k]) for k in wa)
    assert a.test.accuracy == b.test.accuracy


def test_resume_after_sigkill_matches_an_uninterrupted_run(tmp_path):
    args = ["--recipe", "none", "--dataset", "mnist-5k", "--model", "seed-cnn", "--epochs", "4", "--seed", "5",
            "--device", "cpu"]
    reference = train(TrainConfig(dataset="mnist-5k", model="seed-cnn", epochs=4, seed=5, device="cpu"),
                      tmp_path / "reference", progress=False)

    run_dir = tmp_path / "killed"
    child = subprocess.Popen([sys.executable, "-m", "digitlab", "-q", "train", *args, "--out", str(run_dir),
                              "--no-progress"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and child.poll() is None:
        if (run_dir / "checkpoint.pt").exists() and load_checkpoint(run_dir)["epoch"] >= 1:
            break
        time.sleep(0.02)
    child.send_signal(signal.SIGKILL)
    child.wait()
    saved_epoch = load_checkpoint(run_dir)["epoch"]  # the file on disk is whole, never half-written
    assert 1 <= saved_epoch <= 4

    from digitlab.cli import main
    assert main(["-q", "train", "--resume", str(run_dir), "--no-progress"]) == 0
    resumed, original = _weights(run_dir), _weights(tmp_path / "reference")
    assert all(torch.equal(resumed[k], original[k]) for k in original)
    epochs = [r["epoch"] for r in read_metrics(run_dir / "metrics.jsonl") if r["type"] == "epoch"]
    assert epochs == [1, 2, 3, 4]
    assert not [p.name for p in run_dir.iterdir() if p.name.endswith(".tmp")]  # stale temp files cleaned up
    assert load_checkpoint(run_dir)["history"][-1]["val_loss"] == pytest.approx(reference.history[-1]["val_loss"])


def test_sigkill_at_random_moments_loses_at_most_the_current_epoch(tmp_path):
    """Kill a run again and again at random moments (mid-epoch, mid-save); resume it each time.

    (That a resumed run ends with the weights of an uninterrupted one is the test above.)"""
    run_dir = tmp_path / "run"
    digitlab = [sys.executable, "-m", "digitlab", "-q", "train", "--no-progress"]
    start = [*digitlab, "--recipe", "none", "--dataset", "mnist-5k", "--model", "seed-tiny", "--epochs", "60",
             "--seed", "2", "--device", "cpu", "--out", str(run_dir)]
    rng = random.Random(0)
    kills, saved = 0, 0
    while kills < 5:
        resume = (run_dir / "checkpoint.pt").exists()
        child = subprocess.Popen([*digitlab, "--resume", str(run_dir)] if resume else start,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        metrics = run_dir / "metrics.jsonl"
        size = metrics.stat().st_size if metrics.exists() else 0
        deadline = time.monotonic() + 120
        while child.poll() is None and time.monotonic() < deadline and (
                not metrics.exists() or metrics.stat().st_size <= size):
            time.sleep(0.01)  # wait until this process trains (it logs), then kill it at a random moment
        time.sleep(rng.uniform(0.0, 1.0))
        if child.poll() is not None:
            assert child.returncode == 0, child.stderr.read()
            break
        child.send_signal(signal.SIGKILL)
        child.wait()
        kills += 1
        if not (run_dir / "checkpoint.pt").exists():
            continue
        checkpoint = load_checkpoint(run_dir)  # whole, never half-written, whenever the kill came
        logged = [r["epoch"] for r in read_metrics(metrics) if r["type"] == "epoch"]
        assert checkpoint["epoch"] >= saved  # nothing saved earlier is lost
        assert checkpoint["epoch"] >= max(logged, default=0) - 1  # at most the epoch being saved is lost
        saved = checkpoint["epoch"]
    assert kills >= 3 and saved > 0
    finish = subprocess.run([*digitlab, "--resume", str(run_dir)], capture_output=True, text=True, timeout=300)
    assert finish.returncode == 0, finish.stderr
    epochs = [r["epoch"] for r in read_metrics(run_dir / "metrics.jsonl") if r["type"] == "epoch"]
    assert epochs == list(range(1, 61))  # each epoch once: the interrupted ones were redone, not repeated


def _epoch_records(run_dir):
    return [{k: v for k, v in r.items() if "seconds" not in k and "per_s" not in k}
            for r in read_metrics(run_dir / "metrics.jsonl") if r["type"] == "epoch"]


def test_resume_keeps_the_settings_the_run_started_with(tmp_path, monkeypatch):
    """An upgrade that changes the recipe table must not change a run being resumed (nanoGPT's rule)."""
    from digitlab.cli import main
    from digitlab.training import recipes

    start = ["-q", "train", "--dataset", "mnist-5k", "--model", "seed-tiny", "--epochs", "2", "--seed", "4",
             "--device", "cpu", "--no-progress"]
    for name in ("before", "after"):
        assert main([*start, "--out", str(tmp_path / name)]) == 0
    assert main(["-q", "train", "--resume", str(tmp_path / "before"), "--epochs", "3", "--no-progress"]) == 0

    changed = {**recipes.RECIPES["fast"]["mnist-5k"], "batch_size": 32, "lr": 0.05, "rotate_degrees": 0}
    monkeypatch.setitem(recipes.RECIPES["fast"], "mnist-5k", changed)
    assert main(["-q", "train", "--resume", str(tmp_path / "after"), "--epochs", "3", "--no-progress"]) == 0

    before, after = load_checkpoint(tmp_path / "before"), load_checkpoint(tmp_path / "after")
    assert after["config"]["batch_size"] == before["config"]["batch_size"] == 128
    assert _epoch_records(tmp_path / "after") == _epoch_records(tmp_path / "before")  # same steps, same losses
    assert all(torch.equal(before["state_dict"][k], after["state_dict"][k]) for k in before["state_dict"])
    assert after["config"]["explicit"] == sorted(["dataset", "model", "epochs", "seed"])

    # the same table change does reach a new run: the test would notice if the patch missed
    assert main([*start, "--out", str(tmp_path / "new")]) == 0
    assert load_checkpoint(tmp_path / "new")["config"]["batch_size"] == 32


def test_a_checkpoint_from_before_recipes_were_recorded_still_resumes(tmp_path):
    from digitlab.cli import main
    from digitlab.inference.checkpoint import save_checkpoint

    run = tmp_path / "old"
    train(TrainConfig(dataset="mnist-5k", model="seed-tiny", epochs=1, seed=2, device="cpu"), run, progress=False)
    state = load_checkpoint(run)
    old_config = {k: v for k, v in state["config"].items() if k not in ("recipe", "explicit")}
    save_checkpoint(run / "checkpoint.pt", {**state, "config": {**old_config, "no-longer-a-setting": 1}})
    assert main(["-q", "train", "--resume", str(run), "--epochs", "2", "--no-progress"]) == 0
    resumed = load_checkpoint(run)
    assert resumed["epoch"] == 2 and resumed["config"]["model"] == "seed-tiny"
    assert resumed["config"]["batch_size"] == state["config"]["batch_size"]


def test_existing_run_is_not_overwritten(trained_run):
    with pytest.raises(CheckpointError, match="already holds a run"):
        train(TrainConfig(dataset="mnist-5k", epochs=1), trained_run, progress=False)


def test_random_shift_moves_digits_and_fills_zeros():
    images = torch.arange(1, 2 * 1 * 6 * 6 + 1, dtype=torch.uint8).view(2, 1, 6, 6)
    out = random_shift(images, 2, torch.Generator().manual_seed(0))
    assert out.shape == images.shape and out.dtype == torch.uint8
    for i in range(2):  # each output is its input shifted by some (dy, dx) in [-2, 2] with zero fill
        matches = []
        for dy in range(-2, 3):
            for dx in range(-2, 3):
                expected = torch.zeros(6, 6, dtype=torch.uint8)
                src = images[i, 0, max(0, -dy):6 - max(0, dy), max(0, -dx):6 - max(0, dx)]
                expected[max(0, dy):max(0, dy) + src.shape[0], max(0, dx):max(0, dx) + src.shape[1]] = src
                matches.append(torch.equal(out[i, 0], expected))
        assert sum(matches) == 1
    assert torch.equal(random_shift(images, 0), images)


def test_onecycle_schedule_warms_up_then_decays():
    cfg = TrainConfig(lr=0.1, warmup_fraction=0.1)
    lrs = [lr_at(s, 100, cfg) for s in range(100)]
    assert lrs[0] == pytest.approx(0.01) and lrs[9] == pytest.approx(0.1)
    assert all(a >= b for a, b in zip(lrs[9:], lrs[10:])) and lrs[-1] < 0.001
    assert lr_at(50, 100, TrainConfig(lr=0.1, schedule="constant")) == 0.1
    assert math.isclose(lr_at(0, 100, TrainConfig(lr=0.1, schedule="cosine")), 0.1)


def test_checkpoint_that_would_run_code_is_refused(tmp_path):
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    torch.save({"format": "digitlab-checkpoint", "model": Payload()}, tmp_path / "evil.pt")
    with pytest.raises(CheckpointError, match="refused.*could run code"):
        load_checkpoint(tmp_path / "evil.pt")
    assert not marker.exists()


def test_conv3d_trains_on_moving_digit_clips(tmp_path):
    result = train(TrainConfig(dataset="moving-mnist", model="conv3d", epochs=1, batch_size=128, device="cpu"),
                   tmp_path / "clips", progress=False)
    assert result.dataset.in_channels == 8
    assert result.history[0]["train_loss"] < 2.0 and result.test.accuracy > 0.3  # chance is 0.1
    assert load_checkpoint(tmp_path / "clips")["model"]["in_channels"] == 8


def test_fine_tuning_keeps_the_settings_the_model_was_trained_with(trained_run):
    """The board's fine-tune trains with the checkpoint's recipe (its label smoothing here): without it, plain
    cross-entropy on a few corrections drives the model to certainty, which it was not trained to have."""
    from digitlab.data import load_dataset
    from digitlab.data.loader import normalize
    from digitlab.inference.checkpoint import model_from_checkpoint
    from digitlab.training.finetune import fine_tune
    payload = load_checkpoint(trained_run / "checkpoint.pt")
    data = load_dataset("mnist-5k")
    few = data.train.subset(torch.arange(64))
    mean, std = payload["normalization"]["mean"], payload["normalization"]["std"]
    smoothed = TrainConfig(label_smoothing=0.3)
    confidence = {}
    for name, recipe in (("own settings", smoothed), ("none", None)):
        model = fine_tune(model_from_checkpoint(payload), few, mean, std, recipe, epochs=40, lr=3e-3, seed=0)
        with torch.no_grad():
            probabilities = torch.softmax(model(normalize(few.images, mean, std)), 1)
        confidence[name] = float(probabilities.max(1).values.mean())
    assert confidence["own settings"] < 0.85 < 0.95 < confidence["none"], confidence


def test_fine_tuning_takes_the_training_step_with_the_models_hooks_and_precision():
    """The board's fine-tune runs through the step `train` runs (training/step.py): the model's regularisation is
    added to the loss, its own schedule is told that its training is over (CondenseNet stays condensed), and a model
    trained in bf16 is fine-tuned in bf16 where this machine computes it natively, in fp32 elsewhere."""
    from digitlab.data import load_dataset
    from digitlab.training.finetune import fine_tune
    from digitlab.utils.device import native_bf16

    class Hooked(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = torch.nn.Linear(28 * 28, 10)
            self.progress, self.regularized, self.autocast = [], 0, set()

        def forward(self, x):
            self.autocast.add(torch.is_autocast_enabled("cpu"))
            return self.linear(x.flatten(1))

        def training_progress(self, progress):
            self.progress.append(progress)

        def regularization(self):
            self.regularized += 1
            return 1e-3 * self.linear.weight.abs().sum()

    few = load_dataset("mnist-5k").train.subset(torch.arange(128))
    for precision in ("fp32", "bf16"):
        model = Hooked()
        fine_tune(model, few, (0.1307,), (0.3081,), TrainConfig(precision=precision), epochs=2, batch_size=32)
        assert model.regularized == 8 and model.progress == [1.0] * 8
        assert model.autocast == {precision == "bf16" and native_bf16("cpu")}


def test_resume_point_is_the_checkpoints_settings_and_refuses_changed_ones(trained_run):
    from digitlab.training.resume import resume_point
    saved = load_checkpoint(trained_run)["config"]
    cfg, state = resume_point(trained_run, TrainConfig(seed=saved["seed"], lr=99.0, explicit=["seed"]))
    assert (cfg.lr, cfg.epochs, cfg.model, state["epoch"]) == (saved["lr"], saved["epochs"], saved["model"], 3)
    more, _ = resume_point(trained_run, TrainConfig(epochs=5, explicit=["epochs"]))
    assert more.epochs == 5 and "epochs" in more.explicit and more.lr == saved["lr"]
    with pytest.raises(ConfigError, match=r"only --epochs may change \(got --lr, --batch-size\)"):
        resume_point(trained_run, TrainConfig(lr=0.5, batch_size=7, explicit=["lr", "batch_size"]))
