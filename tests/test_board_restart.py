"""The drawing board remembers what it learned: versions, the serving version and jobs survive restarts,
SIGKILLs at random moments, and a backup restored elsewhere. Real `digitlab serve` processes, a real SQLite file."""

import contextlib
import logging
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from digitlab.data import load_dataset
from digitlab.web.board import Board
from digitlab.web.versions import versions_folder
from tests.helpers import board_page, call, data_url, drawing, free_port, needs_chromium, run_cli

FINAL = ("accepted", "rejected", "failed", "interrupted")


@pytest.fixture(scope="module")
def digits():
    test = load_dataset("mnist-5k").test
    return test.images[:20, 0].numpy(), test.labels[:20].numpy()


@contextlib.contextmanager
def board_process(db: Path, *options: str):
    """`digitlab serve --db DB` in a child process (predicting in the server process), until the block ends
    or the test kills it; yields (process, url) once it answers."""
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "digitlab", "-q", "serve", "--db", str(db), "--port", str(port),
                                "--workers", "0", *options], stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            if process.poll() is not None:
                raise AssertionError(f"the server stopped: {process.stderr.read()}")
            with contextlib.suppress(OSError):
                if call(url, "/api/model")[0] == 200:
                    break
            time.sleep(0.1)
        yield process, url
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)  # Ctrl-C: a graceful stop
            process.wait(timeout=60)
        process.stderr.close()


def wait_for_job(url: str, job: int, until=FINAL, timeout: float = 300) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = call(url, f"/api/finetune/{job}")[1]
        if status["state"] in until or (status["after"] is not None and "after" in until):
            return status
        time.sleep(0.02)
    raise AssertionError(f"job {job} did not reach {until}")


def assert_consistent(url: str, db: Path, samples: int, body: dict) -> dict:
    """What a restart must find: the serving version loads and answers, every recorded version's file is
    there and no other, no job still claims to run, no sample is lost."""
    code, model = call(url, "/api/model")
    assert code == 200
    code, answer = call(url, "/api/predict", body)
    assert code == 200 and answer["model_version"] == model["version"]
    assert all(v["usable"] for v in model["versions"]) and sum(v["serving"] for v in model["versions"]) == 1
    files = sorted(p.name for p in versions_folder(db).iterdir())
    assert files == sorted(f"v{v['version']}.pt" for v in model["versions"])  # no orphan, no temp file
    with sqlite3.connect(db) as connection:
        assert connection.execute("SELECT COUNT(*) FROM samples").fetchone()[0] == samples
        assert connection.execute("SELECT COUNT(*) FROM finetune_jobs WHERE state IN ('queued', 'running')"
                                  ).fetchone()[0] == 0
        accepted = connection.execute("SELECT id, version FROM finetune_jobs WHERE state = 'accepted'").fetchall()
    made = {v["job"]: v["version"] for v in model["versions"] if v["job"] is not None}
    assert dict(accepted) == made  # a job says accepted exactly when its version is recorded
    return model


def test_board_killed_at_random_moments_restarts_consistent_and_a_backup_restores_elsewhere(
        trained_run, tmp_path, digits):
    db = tmp_path / "board" / "board.db"
    images, labels = digits
    body = {"image": data_url(drawing(images[2]))}
    rng = random.Random(23)
    with board_process(db, "--checkpoint", str(trained_run)) as (_, url):
        for offset in ((30, 50), (60, 20)):  # 40 samples: the 20 digits drawn in two places
            for image, label in zip(images, labels):
                sample = {"image": data_url(drawing(image, offset=offset)), "label": int(label)}
                assert call(url, "/api/samples", sample)[0] == 200
        started = time.monotonic()
        first = wait_for_job(url, call(url, "/api/finetune", {})[1]["job"])
        duration = time.monotonic() - started
        assert first["state"] in ("accepted", "rejected"), first
    # the usual restart: the version that served before serves again, with the whole list
    with board_process(db, "--checkpoint", str(trained_run)) as (_, url):
        model = assert_consistent(url, db, 40, body)
        assert model["version"] == (2 if first["state"] == "accepted" else 1)
        assert call(url, "/api/finetune/1")[1]["state"] == first["state"]

    killed = []
    for round_ in range(6):
        with board_process(db, "--checkpoint", str(trained_run)) as (process, url):
            assert_consistent(url, db, 40, body)
            for job in killed:  # killed mid-way: interrupted, unless it had finished first
                assert call(url, f"/api/finetune/{job}")[1]["state"] in FINAL
            job = call(url, "/api/finetune", {})[1]["job"]
            assert job == 2 + round_  # ids are never reused
            if round_ == 0:  # the narrowest moment: its file is on disk, its row may not have committed
                wait_for_job(url, job, until=("after", *FINAL))
            else:
                time.sleep(rng.uniform(0.05, 1.1) * duration)
            process.kill()
            process.wait()
            killed.append(job)
    with board_process(db) as (_, url):  # no --checkpoint: the database's own lineage
        model = assert_consistent(url, db, 40, body)
        states = [call(url, f"/api/finetune/{job}")[1]["state"] for job in killed]
        assert "interrupted" in states and all(state in FINAL for state in states)
        interrupted = call(url, f"/api/finetune/{killed[states.index('interrupted')]}")[1]
        assert "stopped" in interrupted["message"]

        # a backup while the board runs, moved to another folder, restores the same state
        backup = run_cli("samples", "backup", "--db", str(db), "--out", str(tmp_path / "copy.db"), "--json")
        assert backup.returncode == 0, backup.stderr
        jobs = [call(url, f"/api/finetune/{job}")[1] for job in range(1, killed[-1] + 1)]
        samples = call(url, "/api/samples?limit=200")[1]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    shutil.move(tmp_path / "copy.db", elsewhere / "restored.db")
    shutil.move(tmp_path / "copy-versions", elsewhere / "restored-versions")
    with board_process(elsewhere / "restored.db") as (_, url):
        restored = assert_consistent(url, elsewhere / "restored.db", 40, body)

        def same(m):
            return [(v["version"], v["parent"], v["accuracy"], v["samples"], v["serving"]) for v in m["versions"]]

        assert restored["version"] == model["version"] and same(restored) == same(model)
        assert [call(url, f"/api/finetune/{job}")[1] for job in range(1, killed[-1] + 1)] == jobs
        assert call(url, "/api/samples?limit=200")[1] == samples
        assert call(url, "/api/finetune", {})[1]["job"] == killed[-1] + 1
    listed = run_cli("samples", "versions", "--db", str(elsewhere / "restored.db"))
    assert listed.returncode == 0 and "serving" in listed.stdout and "base" in listed.stdout


def _publish_copy(board: Board, checkpoint: Path, version: int) -> None:
    """Record a copy of `checkpoint` as a fine-tuned version, the way a fine-tune job publishes one."""
    from digitlab.utils.files import atomic_copy, sha256_of
    job, file = board.version_store.new_job(), board.version_store.folder / f"v{version}.pt"
    atomic_copy(checkpoint / "checkpoint.pt", file)
    sha = sha256_of(file)
    board.service.swap(file, version, commit=lambda: board.version_store.publish(
        job, version, file.name, sha, parent=version - 1, before=0.9, after=0.91, samples=[]))


def test_a_file_without_its_row_is_removed_and_a_row_without_its_file_is_reported(trained_run, tmp_path, caplog):
    db = tmp_path / "board.db"
    board = Board.open(db, checkpoint=trained_run)
    _publish_copy(board, trained_run, 2)
    _publish_copy(board, trained_run, 3)
    board.close()
    folder = versions_folder(db)
    (folder / "v3.pt").unlink()                                         # a row without its file
    shutil.copy(folder / "v2.pt", folder / "v4.pt")                      # a file whose row never committed
    (folder / ".v5.pt.k2j4.tmp").write_bytes(b"half a checkpoint")       # a write cut short
    with caplog.at_level(logging.WARNING, logger="digitlab"):
        board = Board.open(db, checkpoint=trained_run)
    assert sorted(p.name for p in folder.iterdir()) == ["v1.pt", "v2.pt"]
    assert board.service.info.version == 2  # v3 served last; its nearest usable ancestor serves
    assert "v3 cannot be served" in caplog.text and "removed" in caplog.text
    v3 = board.describe()["versions"][2]
    assert not v3["usable"] and "missing" in v3["problem"]
    with pytest.raises(Exception, match="v3 cannot be served"):
        board.serve(3)
    board.close()
    listed = run_cli("samples", "versions", "--db", str(db))
    assert listed.returncode == 0 and "missing" in listed.stdout


@needs_chromium
def test_the_page_lists_every_version_and_serves_the_one_picked(trained_run, tmp_path):
    from digitlab.web.app import create_app
    from digitlab.web.server import BackgroundServer
    board = Board.open(tmp_path / "board.db", checkpoint=trained_run)
    _publish_copy(board, trained_run, 2)
    try:
        with BackgroundServer(create_app(board)) as server, board_page(server.url, 1000, 800) as page:
            options = page.locator("#versions option")
            assert options.count() == 2 and page.locator("#versions").input_value() == "2"
            assert options.nth(0).text_content().startswith("v1 (base") and "from v1" in options.nth(1).text_content()
            assert page.locator("#model-info").text_content().startswith("model v2")
            page.locator("#versions").select_option("1")
            page.wait_for_function("document.querySelector('#model-info').textContent.startsWith('model v1')")
            assert call(server.url, "/api/model")[1]["version"] == 1
    finally:
        board.close()


def test_a_changed_base_starts_a_new_lineage_and_a_second_server_is_refused(trained_run, tmp_path):
    from digitlab.inference.checkpoint import load_checkpoint, save_checkpoint
    other = tmp_path / "other.pt"
    payload = load_checkpoint(trained_run)
    save_checkpoint(other, {**payload, "test_accuracy": 0.5})  # another base: other bytes
    db = tmp_path / "board.db"
    board = Board.open(db, checkpoint=trained_run)
    _publish_copy(board, trained_run, 2)
    second = run_cli("serve", "--db", str(db), "--checkpoint", str(trained_run), "--workers", "0",
                     "--port", str(free_port()))
    assert second.returncode == 2 and "in use by another drawing board" in second.stderr
    assert "Traceback" not in second.stderr
    board.close()
    board = Board.open(db, checkpoint=other)
    model = board.describe()
    assert model["version"] == 3 and model["accuracy"] == 0.5
    assert [(v["version"], v["parent"]) for v in model["versions"]] == [(1, None), (2, 1), (3, None)]
    assert model["versions"][2]["source"] == str(other.resolve())
    board.close()
    board = Board.open(db, checkpoint=trained_run)  # the first base again: its lineage's base serves
    assert board.service.info.version == 1 and len(board.version_store.versions()) == 3
    board.close()
    bad = run_cli("serve", "--db", str(db), "--version", "9", "--workers", "0", "--port", str(free_port()))
    assert bad.returncode == 2 and "no model version 9 (versions: v1, v2, v3)" in bad.stderr


def test_backup_refuses_to_overwrite_and_fails_cleanly(tmp_path, trained_run):
    db = tmp_path / "board.db"
    Board.open(db, checkpoint=trained_run).close()
    (tmp_path / "taken.db").write_bytes(b"")
    taken = run_cli("samples", "backup", "--db", str(db), "--out", str(tmp_path / "taken.db"))
    assert taken.returncode == 2 and "already exists" in taken.stderr
    missing = run_cli("samples", "backup", "--db", str(tmp_path / "nope.db"), "--out", str(tmp_path / "b.db"))
    assert missing.returncode == 2 and "no board database" in missing.stderr
    assert not (tmp_path / "b.db").exists() and not os.path.exists(tmp_path / "b-versions")
