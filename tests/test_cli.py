"""The `digitlab` command as a user runs it: real child processes, real files."""

import json
import os

import numpy as np
import pytest
from PIL import Image

from digitlab.data.datasets import load_dataset
from digitlab.data.idx import write_idx
from tests.helpers import make_idx_files, run_cli

COMMANDS = ["train", "evaluate", "predict", "export", "models", "report", "serve", "samples", "lab"]


@pytest.mark.parametrize("command", [[], *[[c] for c in COMMANDS], *[["samples", a] for a in ("export", "versions",
                                                                                            "backup")]])
def test_help_everywhere(command):
    result = run_cli(*command, "--help")
    assert result.returncode == 0 and "usage: digitlab" in result.stdout


def test_train_json_on_an_idx_folder(tmp_path, idx_dir):
    out = tmp_path / "run"
    result = run_cli("train", "--dataset", f"idx:{idx_dir}", "--epochs", "1", "--batch-size", "32",
                     "--out", str(out), "--json", "--no-progress")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert {"test_accuracy", "val_accuracy", "train_seconds", "train_images_per_s", "checkpoint"} <= summary.keys()
    assert 0 <= summary["test_accuracy"] <= 1 and summary["train_images_per_s"] > 0
    assert summary["checkpoint"] == str(out / "checkpoint.pt") and (out / "metrics.jsonl").is_file()
    assert "epoch 1/1" in result.stderr


def test_evaluate_json_confusion_sums_to_test_size(trained_run):
    result = run_cli("evaluate", "--checkpoint", str(trained_run), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    confusion = np.array(report["confusion"])
    assert confusion.shape == (10, 10) and confusion.sum() == report["count"] == 1000
    assert report["accuracy"] == pytest.approx(np.trace(confusion) / 1000)
    assert report["accuracy"] > 0.95
    assert len(report["per_class"]) == 10 and all(0 <= c["recall"] <= 1 for c in report["per_class"])


def test_evaluate_idx_files_and_table_output(trained_run, tmp_path):
    test = load_dataset("mnist-5k").test
    write_idx(tmp_path / "imgs.gz", test.images[:300, 0].numpy())
    write_idx(tmp_path / "labs.gz", test.labels[:300].numpy().astype(np.uint8))
    result = run_cli("evaluate", "--checkpoint", str(trained_run / "checkpoint.pt"),
                     "--images", str(tmp_path / "imgs.gz"), "--labels", str(tmp_path / "labs.gz"))
    assert result.returncode == 0, result.stderr
    assert "on 300 images" in result.stdout and "precision" in result.stdout and "confusion" in result.stdout


def test_predict_drawn_digits(trained_run, tmp_path):
    test = load_dataset("mnist-5k").test
    paths = []
    for i in range(5):
        big = Image.fromarray(255 - test.images[i, 0].numpy()).resize((300, 300), Image.Resampling.BICUBIC)
        canvas = Image.new("L", (500, 400), 255)
        canvas.paste(big, (150, 60))
        path = tmp_path / f"digit{i}.{'png' if i % 2 else 'jpg'}"
        canvas.convert("RGB").save(path)
        paths.append(str(path))
    result = run_cli("predict", "--checkpoint", str(trained_run), *paths, "--json")
    assert result.returncode == 0, result.stderr
    answers = json.loads(result.stdout)
    assert [a["image"] for a in answers] == paths
    for answer in answers:
        probs = [t["probability"] for t in answer["top"]]
        assert len(probs) == 3 and probs == sorted(probs, reverse=True) and sum(probs) <= 1 + 1e-6
        assert answer["prediction"] == answer["top"][0]["class"]
    correct = sum(a["prediction"] == str(int(test.labels[i])) for i, a in enumerate(answers))
    assert correct >= 4
    text = run_cli("predict", "--checkpoint", str(trained_run), paths[0])
    assert text.returncode == 0 and text.stdout.startswith(paths[0] + ": ")


def _bad_inputs(tmp_path, trained_run):
    (tmp_path / "notes.png").write_text("not an image")
    (tmp_path / "bad-images-idx3-ubyte").write_bytes(b"\x01\x02\x03\x04garbage")
    make_idx_files(tmp_path / "ok", "x", 4)
    return {
        "missing checkpoint": (["evaluate", "--checkpoint", str(tmp_path / "nope.pt")], "no such checkpoint"),
        "checkpoint not a checkpoint": (["predict", "--checkpoint", str(tmp_path / "notes.png"),
                                         str(tmp_path / "notes.png")],
                                        "not a readable checkpoint"),
        "missing image": (["predict", "--checkpoint", str(trained_run), str(tmp_path / "nope.png")], "no such file"),
        "not an image": (["predict", "--checkpoint", str(trained_run), str(tmp_path / "notes.png")],
                         "not a readable image"),
        "wrong idx": (["evaluate", "--checkpoint", str(trained_run), "--images",
                       str(tmp_path / "bad-images-idx3-ubyte"),
                       "--labels", str(tmp_path / "ok" / "x-labels-idx1-ubyte.gz")], "bad magic"),
        "unknown model": (["train", "--dataset", "mnist-5k", "--model", "resnet999", "--out", str(tmp_path / "r")],
                          "unknown model 'resnet999'"),
        "unknown dataset": (["train", "--dataset", "cifar-7", "--out", str(tmp_path / "r")],
                            "unknown data set 'cifar-7'"),
        "bad epochs": (["train", "--dataset", "mnist-5k", "--epochs", "0", "--out", str(tmp_path / "r")], "--epochs"),
        "unknown option": (["train", "--epochz", "3"], "unrecognized arguments"),
    }


def test_bad_input_gives_one_line_error_and_exit_2(tmp_path, trained_run):
    for case, (args, message) in _bad_inputs(tmp_path, trained_run).items():
        result = run_cli(*args)
        assert result.returncode == 2, (case, result.stderr)
        assert "Traceback" not in result.stderr, case
        assert message in result.stderr, (case, result.stderr)
        if case != "unknown option":  # argparse prints its usage line first
            assert result.stderr.strip().count("\n") == 0 and result.stderr.startswith("digitlab: error:"), case


def test_bare_train_runs_offline_on_a_fresh_machine(tmp_path):
    """`digitlab train` with no options: the README's main job, with an empty data cache."""
    import os
    env = {**os.environ, "DIGITLAB_DATA": str(tmp_path / "cache")}
    result = run_cli("train", "--no-progress", cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    assert "using mnist-5k" in result.stderr and "recipe fast for mnist-5k: digitnet-fast," in result.stderr
    assert result.stdout.startswith("test accuracy ")
    accuracy = float(result.stdout.split()[2].rstrip("%,")) / 100
    assert accuracy > 0.97
    runs = list((tmp_path / "runs").iterdir())
    assert len(runs) == 1 and (runs[0] / "checkpoint.pt").is_file()
    assert runs[0].name.startswith("mnist-5k-digitnet-fast-")


def test_commands_write_only_to_the_cache_and_the_folders_they_are_given(tmp_path):
    """train, evaluate, predict, export (ONNX Runtime too) and report, as a user would, HOME and TMPDIR in a sandbox."""
    sandbox = {name: tmp_path / name for name in ("home", "tmp", "work", "cache")}
    for folder in sandbox.values():
        folder.mkdir()
    env = {**os.environ, "HOME": str(sandbox["home"]), "TMPDIR": str(sandbox["tmp"]),
           "DIGITLAB_DATA": str(sandbox["cache"])}
    for variable in ("XDG_CACHE_HOME", "MPLCONFIGDIR"):
        env.pop(variable, None)
    drawing = tmp_path / "seven.png"
    Image.fromarray(np.pad(np.full((14, 3), 255, np.uint8), 7)).save(drawing)
    run = tmp_path / "run"
    commands = [
        ["train", "--recipe", "none", "--dataset", "mnist-5k", "--epochs", "1", "--out", str(run), "--no-progress"],
        ["evaluate", "--checkpoint", str(run)],
        ["predict", "--checkpoint", str(run), str(drawing)],
        ["export", "--checkpoint", str(run), "--out", str(run / "model.onnx")],
        ["export", "--checkpoint", str(run), "--int8", "--out", str(run / "model-int8.onnx")],
        ["predict", "--model", str(run / "model-int8.onnx"), str(drawing)],
        ["report", "--checkpoint", str(run), "--out", str(tmp_path / "report")],
    ]
    for command in commands:
        result = run_cli(*command, cwd=sandbox["work"], env=env)
        assert result.returncode == 0, (command, result.stderr)
    allowed = (run, tmp_path / "report", sandbox["cache"])
    written = [p for p in tmp_path.rglob("*") if p.is_file() and p != drawing
               and not any(p.is_relative_to(folder) for folder in allowed)]
    assert written == []
    assert (sandbox["cache"] / "matplotlib").is_dir()  # matplotlib's font cache went to digitlab's cache
