"""Distributed training: real processes on 127.0.0.1 talking through gloo, as torchrun starts them."""

import json
import os
import subprocess
import sys

import torch
import torch.multiprocessing as mp

from digitlab.inference.checkpoint import load_checkpoint
from digitlab.training import TrainConfig, train
from tests.helpers import free_port, run_cli


def _rank_worker(rank: int, world: int, port: int, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), LOCAL_RANK=str(rank),
                      WORLD_SIZE=str(world))
    torch.set_num_threads(1)
    # BatchNorm, dropout-free digitnet with augmentation on: what could drift apart between processes.
    cfg = TrainConfig(dataset="mnist-5k", model="digitnet", epochs=1, batch_size=64, shift_pixels=2,
                      rotate_degrees=10, scale=0.1, device="cpu")
    result = train(cfg, run_dir=os.path.join(out, "run"), progress=False)
    torch.save(result.model.state_dict(), os.path.join(out, f"rank{rank}.pt"))


def test_two_processes_end_with_identical_weights(tmp_path):
    mp.spawn(_rank_worker, args=(2, free_port(), str(tmp_path)), nprocs=2, join=True)
    first, second = (torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1))
    assert first.keys() == second.keys()
    for name in first:  # weights and BatchNorm statistics alike
        assert torch.equal(first[name], second[name]), name
    saved = load_checkpoint(tmp_path / "run")["state_dict"]
    assert all(torch.equal(saved[k], first[k]) for k in first)


def _torchrun(*args: str, port: int) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "torch.distributed.run", "--nnodes=1", "--nproc_per_node=2",
               "--master_addr=127.0.0.1", f"--master_port={port}", "-m", "digitlab", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})


def test_torchrun_equals_one_process_with_the_same_global_batch(tmp_path):
    args = ["train", "--dataset", "mnist-5k", "--recipe", "none", "--model", "lenet5", "--epochs", "2",
            "--batch-size", "64", "--seed", "5", "--no-progress", "--json"]
    two = _torchrun(*args, "--out", str(tmp_path / "two"), port=free_port())
    assert two.returncode == 0, two.stderr[-2000:]
    one = run_cli(*args, "--out", str(tmp_path / "one"))
    assert one.returncode == 0, one.stderr

    # Only rank 0 reports and writes: one summary, one checkpoint, one metrics file with each epoch once.
    assert len(two.stdout.strip().splitlines()) == 1
    assert sorted(p.name for p in (tmp_path / "two").iterdir()) == ["checkpoint.pt", "metrics.jsonl"]
    epochs = [json.loads(line) for line in (tmp_path / "two" / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in epochs if r["type"] == "epoch"] == [1, 2]
    assert "distributed: 2 processes (gloo), global batch 64, 32 per process" in two.stderr

    a, b = load_checkpoint(tmp_path / "two")["state_dict"], load_checkpoint(tmp_path / "one")["state_dict"]
    assert max(float((a[k].float() - b[k].float()).abs().max()) for k in a) < 1e-5
    assert json.loads(two.stdout)["test_accuracy"] == json.loads(one.stdout)["test_accuracy"]


def test_a_global_batch_that_does_not_split_evenly_is_refused(tmp_path):
    result = _torchrun("train", "--dataset", "mnist-5k", "--recipe", "none", "--batch-size", "63",
                       "--out", str(tmp_path / "run"), port=free_port())
    assert result.returncode != 0
    assert "--batch-size 63 is the global batch: it must be a multiple of the 2 processes" in result.stderr
    assert not (tmp_path / "run").exists()


def test_misconfigured_process_groups_are_one_line_errors(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("MASTER_ADDR", "MASTER_PORT")}
    env.update(WORLD_SIZE="2", RANK="0", LOCAL_RANK="0")
    by_hand = run_cli("train", "--dataset", "mnist-5k", "--out", str(tmp_path / "a"), env=env)
    assert by_hand.returncode == 2 and "cannot join the process group of 2 processes" in by_hand.stderr
    numpy_engine = run_cli("train", "--engine", "numpy", "--out", str(tmp_path / "b"), env=env)
    assert numpy_engine.returncode == 2 and "NumPy engine trains in one process" in numpy_engine.stderr
    assert "Traceback" not in by_hand.stderr + numpy_engine.stderr
