"""The drawing board against a real server on 127.0.0.1 with a real SQLite file, and the page in Chromium."""

import base64
import contextlib
import io
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from digitlab.data import load_dataset
from digitlab.inference.predictor import Predictor
from digitlab.reading.framing import preprocess_image
from digitlab.utils.files import sha256_of
from digitlab.web.app import create_app
from digitlab.web.batcher import MicroBatcher
from digitlab.web.board import Board
from digitlab.web.protocol import decode_data_url
from digitlab.web.samples import SampleStore
from digitlab.web.server import BackgroundServer
from digitlab.web.service import ModelService
from tests.helpers import board_page, call, data_url, drawing, free_port, needs_chromium, run_cli


@contextlib.contextmanager
def serving(board: Board, token: str | None = None):
    """The board's app on 127.0.0.1; the board is closed after (its fine-tuner stopped, its database unlocked)."""
    try:
        with BackgroundServer(create_app(board, token=token)) as server:
            yield server
    finally:
        board.close()


@pytest.fixture
def board(trained_run, tmp_path):
    opened = Board.open(tmp_path / "samples.sqlite", checkpoint=trained_run)
    with serving(opened) as server:
        yield server, opened.store


def test_a_new_base_model_is_loaded_once_to_be_checked_and_served(trained_run, tmp_path, monkeypatch):
    loads = []
    load = Predictor.from_checkpoint.__func__

    def counted(cls, path, *args, **kwargs):
        loads.append(path)
        return load(cls, path, *args, **kwargs)

    monkeypatch.setattr(Predictor, "from_checkpoint", classmethod(counted))
    Board.open(tmp_path / "samples.sqlite", checkpoint=trained_run).close()  # a new lineage: checked, then served
    assert len(loads) == 1
    Board.open(tmp_path / "samples.sqlite", checkpoint=trained_run).close()  # a restart: the recorded version
    assert len(loads) == 2


def multipart(fields: dict, file: bytes) -> tuple[bytes, str]:
    boundary = "digitlabboundary"
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode() for k,
             v in fields.items()]
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="d.png"\r\n'
                 f"Content-Type: image/png\r\n\r\n".encode() + file + b"\r\n")
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


@pytest.fixture(scope="module")
def digits():
    test = load_dataset("mnist-5k").test
    return test.images[:20, 0].numpy(), test.labels[:20].numpy()


def test_predict_json_and_multipart(board, digits):
    server, _ = board
    images, labels = digits
    correct = 0
    for image, label in zip(images[:10], labels[:10]):
        status, answer = call(server.url, "/api/predict", {"image": data_url(drawing(image))})
        assert status == 200
        assert len(answer["probabilities"]) == 10 and abs(sum(answer["probabilities"]) - 1) < 1e-4
        assert np.array(answer["input28"]).shape == (28, 28)
        assert answer["digit"] == int(np.argmax(answer["probabilities"]))
        correct += answer["digit"] == label
    assert correct >= 9
    body, content_type = multipart({}, drawing(images[0]))
    status, answer = call(server.url, "/api/predict", body, content_type)
    _, same = call(server.url, "/api/predict", {"image": data_url(drawing(images[0]))})
    assert status == 200 and answer["probabilities"] == same["probabilities"]  # same bytes, either encoding


def test_samples_are_stored_in_sqlite_and_counted(board, digits, tmp_path):
    server, store = board
    images, labels = digits
    for image, label in zip(images[:6], labels[:6]):
        status, answer = call(server.url, "/api/samples", {"image": data_url(drawing(image)), "label": int(label)})
        assert status == 200 and answer["label"] == label
    body, content_type = multipart({"label": "7"}, drawing(images[6]))
    assert call(server.url, "/api/samples", body, content_type)[0] == 200
    status, listing = call(server.url, "/api/samples")
    assert status == 200 and listing["total"] == 7 and sum(listing["counts"]) == 7
    assert listing["counts"][7] >= 1 and len(listing["recent"]) == 7 and listing["recent"][0]["label"] == 7
    with sqlite3.connect(store.path) as db:  # the real file, read by another connection
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        rows = db.execute("SELECT label, length(raw), length(input28), model_version FROM samples").fetchall()
    assert len(rows) == 7 and all(r[1] > 100 and r[2] == 784 and r[3] == 1 for r in rows)
    assert store.export_idx(tmp_path / "export") == 7
    exported = load_dataset(f"idx:{tmp_path / 'export'}")
    assert len(exported.train) == 7


def test_concurrent_samples_from_16_clients_are_all_stored(board, digits):
    server, store = board
    images, labels = digits
    bodies = [{"image": data_url(drawing(image)), "label": int(label)} for image, label in zip(images, labels)]

    def client(i: int) -> list[int]:
        return [call(server.url, "/api/samples", bodies[(i + k) % len(bodies)])[1]["id"] for k in range(8)]

    with ThreadPoolExecutor(16) as pool:
        ids = [sample_id for batch in pool.map(client, range(16)) for sample_id in batch]
    assert len(ids) == len(set(ids)) == 128  # every request got its own row
    with sqlite3.connect(store.path) as db:  # the file, as another process would see it
        stored = {row[0] for row in db.execute("SELECT id FROM samples")}
    assert stored == set(ids)


def test_concurrent_predictions_each_get_their_own_answer(board, digits):
    server, _ = board
    bodies = [{"image": data_url(drawing(image, offset=(10 + i, 40)))} for i, image in enumerate(digits[0])]
    alone = [call(server.url, "/api/predict", body)[1] for body in bodies]

    def client(i: int) -> list[tuple[int, dict]]:
        return [((i + k) % len(bodies), call(server.url, "/api/predict", bodies[(i + k) % len(bodies)])[1])
                for k in range(5)]

    with ThreadPoolExecutor(16) as pool:
        answers = [pair for batch in pool.map(client, range(16)) for pair in batch]
    assert len(answers) == 80
    for index, answer in answers:  # model calls shared by several requests: each still gets its own drawing's answer
        assert answer["digit"] == alone[index]["digit"] and answer["input28"] == alone[index]["input28"]
        assert np.allclose(answer["probabilities"], alone[index]["probabilities"], atol=2e-3)


def test_micro_batcher_shares_calls_and_keeps_each_answer_with_its_caller():
    release, calls = threading.Event(), []

    def run(batch: np.ndarray) -> list[int]:
        calls.append(len(batch))
        if len(calls) == 1:
            release.wait(10)  # hold the first call so that the others queue up behind it
        return [int(item.sum()) for item in batch]

    batcher = MicroBatcher(run)
    with ThreadPoolExecutor(8) as pool:
        first = pool.submit(batcher.submit, np.array([100]))
        while not calls:
            time.sleep(0.001)
        rest = [pool.submit(batcher.submit, np.array([i])) for i in range(7)]
        while batcher._queue.qsize() < 7:
            time.sleep(0.001)
        release.set()
        assert first.result(10) == 100 and [f.result(10) for f in rest] == list(range(7))
    assert calls == [1, 7]  # the seven that waited went in one call


def test_micro_batcher_gives_an_error_to_its_callers_and_goes_on():
    def run(batch: np.ndarray) -> list[int]:
        if (batch < 0).any():
            raise ValueError("negative")
        return [int(item) for item in batch]

    batcher = MicroBatcher(run)
    with pytest.raises(ValueError, match="negative"):
        batcher.submit(np.int64(-1))
    assert batcher.submit(np.int64(5)) == 5


def test_model_endpoint(board):
    server, _ = board
    status, info = call(server.url, "/api/model")
    assert status == 200 and info["version"] == 1 and info["name"] == "seed-cnn" and info["accuracy"] > 0.9


def test_an_uploaded_file_over_the_limit_gets_a_413_wherever_it_goes(board):
    """The upload limit is checked in one place (protocol.check_upload_size): a file just over it, in a body still
    under the server's memory cap, is refused with a 413 by every endpoint that takes an image."""
    from digitlab.web.protocol import MAX_UPLOAD_BYTES
    server, store = board
    body, content_type = multipart({"label": "7"}, b"x" * (MAX_UPLOAD_BYTES + 1000))
    for path in ("/api/predict", "/api/read", "/api/explain", "/api/samples"):
        code, answer = call(server.url, path, body, content_type)
        assert code == 413 and "larger than" in answer["error"], (path, code, answer)
    assert sum(store.counts()) == 0


@pytest.mark.parametrize("path,body,content_type,status,message", [
    ("/api/predict", b"{not json", "application/json", 400, "not valid JSON"),
    ("/api/predict", {"picture": "x"}, "application/json", 400, "'image'"),
    ("/api/predict", {"image": "data:image/png;base64,!!!"}, "application/json", 400, "base64"),
    ("/api/predict", {"image": data_url(b"this is not a png")}, "application/json", 400, "not a readable image"),
    ("/api/samples", {"image": "x", "label": 12}, "application/json", 400, "label must be a digit"),
    ("/api/samples", {"image": "x", "label": "seven"}, "application/json", 400, "label must be a digit"),
    ("/api/predict", b"x" * (3 * 1024 * 1024), "application/octet-stream", 413, "larger than"),
    ("/api/read", b"{not json", "application/json", 400, "not valid JSON"),
    ("/api/read", {"image": data_url(b"this is not a png")}, "application/json", 400, "not a readable image"),
    ("/api/read", b"x" * (3 * 1024 * 1024), "application/octet-stream", 413, "larger than"),
    ("/api/explain", {"picture": "x"}, "application/json", 400, "'image'"),
    ("/api/explain", {"image": "data:image/png;base64,!!!"}, "application/json", 400, "base64"),
    ("/api/explain", b"x" * (3 * 1024 * 1024), "application/octet-stream", 413, "larger than"),
])
def test_bad_requests_get_4xx_with_a_json_message(board, path, body, content_type, status, message):
    server, store = board
    code, answer = call(server.url, path, body, content_type)
    assert code == status and message in answer["error"]
    assert sum(store.counts()) == 0  # nothing half-stored


def test_blank_canvas_and_huge_image(board):
    server, _ = board
    blank = io.BytesIO()
    Image.new("L", (280, 280), 255).save(blank, "PNG")
    code, answer = call(server.url, "/api/predict", {"image": data_url(blank.getvalue())})
    assert code == 400 and "blank" in answer["error"]
    huge = io.BytesIO()
    Image.new("1", (5000, 5000), 1).save(huge, "PNG")  # compresses to a few kB, decodes to 25 megapixels
    code, answer = call(server.url, "/api/predict", {"image": data_url(huge.getvalue())})
    assert code == 400 and "larger than" in answer["error"]


def test_page_and_assets_are_served_locally(board):
    server, _ = board
    page = urllib.request.urlopen(server.url + "/").read().decode()
    assert "<canvas" in page and "http://" not in page and "https://" not in page  # no CDN
    for asset in ("/static/app.js", "/static/style.css"):
        assert urllib.request.urlopen(server.url + asset).status == 200
    assert call(server.url, "/openapi.json")[0] == 200


def test_samples_export_command(trained_run, tmp_path, digits):
    store = SampleStore(tmp_path / "s.sqlite")
    images, labels = digits
    for image, label in zip(images[:3], labels[:3]):
        store.add(int(label), drawing(image), image, 1)
    result = run_cli("samples", "export", "--db", str(tmp_path / "s.sqlite"), "--out", str(tmp_path / "idx"))
    assert result.returncode == 0, result.stderr
    data = load_dataset(f"idx:{tmp_path / 'idx'}")
    assert data.train.labels.tolist() == labels[:3].tolist()


@needs_chromium
def test_drawing_in_chromium(board, tmp_path):
    server, store = board
    with board_page(server.url, 390, 844) as page:  # a phone
        box = page.locator("#canvas").bounding_box()
        # draw a "1": one vertical stroke with pointer events from the mouse
        x = box["x"] + box["width"] * 0.5
        page.mouse.move(x, box["y"] + box["height"] * 0.15)
        page.mouse.down()
        for i in range(1, 21):
            page.mouse.move(x - i * 0.4, box["y"] + box["height"] * (0.15 + 0.035 * i))
        page.mouse.up()
        page.wait_for_function("document.querySelector('#digit').textContent !== '–'")
        assert page.locator("#digit").text_content() == "1"
        page.locator("#labels button[data-label='1']").click()
        page.locator("#submit").click()
        page.wait_for_function("document.querySelector('#sample-count').textContent === '1'")
        page.screenshot(path=str(tmp_path / "board.png"), full_page=True)
    assert sum(store.counts()) == 1 and store.counts()[1] == 1
    assert (tmp_path / "board.png").stat().st_size > 10_000


def _stroke(page, box, points):
    """One stroke through `points` (fractions of the canvas), with pointer events from the mouse."""
    page.mouse.move(box["x"] + box["width"] * points[0][0], box["y"] + box["height"] * points[0][1])
    page.mouse.down()
    for (x0, y0), (x1, y1) in zip(points, points[1:]):
        for t in np.linspace(0.1, 1, 8):
            page.mouse.move(box["x"] + box["width"] * (x0 + t * (x1 - x0)),
                            box["y"] + box["height"] * (y0 + t * (y1 - y0)))
    page.mouse.up()


@needs_chromium
def test_board_reads_a_number_refuses_a_face_and_shows_why(reader_board, reader_run, tmp_path):
    server, store = reader_board
    with board_page(server.url, 1000, 900) as page:
        box = page.locator("#canvas").bounding_box()
        _stroke(page, box, [(0.25, 0.25), (0.24, 0.75)])                   # 1
        _stroke(page, box, [(0.45, 0.27), (0.8, 0.27), (0.58, 0.76)])      # 7
        page.wait_for_function("document.querySelector('#number').textContent === '17'", timeout=20_000)
        assert page.locator("#read-digits button").count() == 2
        # what the page sends: the canvas's grey levels averaged over 2x2 blocks, as the server would average them
        sent = Image.open(io.BytesIO(decode_data_url(page.evaluate("image()"))))
        shown = Image.open(io.BytesIO(decode_data_url(page.evaluate("canvas.toDataURL('image/png')")))).convert("L")
        blocks = np.asarray(shown, np.float64).reshape(140, 2, 140, 2).mean(axis=(1, 3))
        assert sent.format == "PPM" and sent.mode == "L" and sent.size == (140, 140)
        assert np.abs(np.asarray(sent, np.float64) - blocks).max() <= 0.5
        page.locator("#why").check()
        page.wait_for_function("document.querySelector('#feature-maps').src.startsWith('data:image/png')",
                               timeout=20_000)
        # correct the second digit: the stored sample is that digit alone
        page.locator("#read-digits button").nth(1).click()
        assert "digit 2 of 2" in page.locator("#target").text_content()
        page.locator("#labels button[data-label='7']").click()
        page.locator("#submit").click()
        page.wait_for_function("document.querySelector('#sample-count').textContent === '1'")
        page.screenshot(path=str(tmp_path / "number.png"), full_page=True)

        page.locator("#clear").click()
        _stroke(page, box, [(0.5, 0.2), (0.72, 0.3), (0.8, 0.5), (0.72, 0.7), (0.5, 0.8), (0.28, 0.7), (0.2, 0.5),
                            (0.28, 0.3), (0.5, 0.2)])                        # a face: its outline,
        _stroke(page, box, [(0.4, 0.4), (0.41, 0.41)])                      # two eyes
        _stroke(page, box, [(0.6, 0.4), (0.61, 0.41)])
        _stroke(page, box, [(0.35, 0.6), (0.5, 0.68), (0.65, 0.6)])         # and a smile
        page.wait_for_function("!document.querySelector('#refusal').hidden", timeout=20_000)
    [(label, raw)] = sqlite3.connect(store.path).execute("SELECT label, raw FROM samples").fetchall()
    width, height = Image.open(io.BytesIO(raw)).size
    assert label == 7 and width < 200 and height < 280  # the 7 alone, cropped from the canvas ...
    assert Predictor.from_checkpoint(reader_run).predict_arrays(preprocess_image(raw)[None])[0].label == 7  # there


@needs_chromium
def test_board_reads_two_lines_with_a_box_per_number(reader_board, tmp_path):
    server, _ = reader_board
    with board_page(server.url, 1000, 900) as page:
        box = page.locator("#canvas").bounding_box()
        _stroke(page, box, [(0.15, 0.1), (0.14, 0.4)])                      # 1
        _stroke(page, box, [(0.27, 0.12), (0.45, 0.12), (0.33, 0.4)])      # 7  (a gap)  1
        _stroke(page, box, [(0.78, 0.1), (0.77, 0.4)])
        _stroke(page, box, [(0.15, 0.6), (0.35, 0.6), (0.22, 0.9)])        # 7 on the line below
        page.wait_for_function("document.querySelector('#number').textContent === '17 1\\n7'", timeout=20_000)
        reading = page.evaluate("reading")
        assert [line["text"] for line in reading["lines"]] == ["17 1", "7"]
        assert [len(line["numbers"]) for line in reading["lines"]] == [2, 1]
        # one box per number on the overlay: its outline's pixels lie around each number, none between the two
        pixels = np.asarray(Image.open(io.BytesIO(decode_data_url(page.evaluate(
            "document.getElementById('overlay').toDataURL('image/png')")))).convert("RGBA"))[..., 3]
        for number in (n for line in reading["lines"] for n in line["numbers"]):
            x0, y0, x1, y1 = (2 * v for v in number["box"])  # the page's sent picture is half the canvas
            assert pixels[max(0, y0 - 4):y1 + 4, max(0, x0 - 4):x0].any() and pixels[y0:y1, x1:x1 + 4].any()
        assert not pixels[40:110, 140:200].any()  # the wide gap between "17" and "1"
        page.screenshot(path=str(tmp_path / "lines.png"), full_page=True)


@pytest.fixture
def reader_board(reader_run, tmp_path):
    opened = Board.open(tmp_path / "samples.sqlite", checkpoint=reader_run)
    with serving(opened) as server:
        yield server, opened.store


def test_read_and_explain_endpoints(reader_board, digits):
    from digitlab.analysis.pictures import number_picture
    server, _ = reader_board
    images, labels = digits
    picture, boxes = number_picture(list(images[:3]), gap=4, scale=3)
    buffer = io.BytesIO()
    picture.save(buffer, "PNG")
    code, number = call(server.url, "/api/read", {"image": data_url(buffer.getvalue())})
    assert code == 200 and number["model_version"] == 1
    # separated digits: each read as the same digit drawn alone would be (correctness: tests/test_reading.py)
    alone = []
    for image in images[:3]:
        single = io.BytesIO()
        number_picture([image], scale=3)[0].save(single, "PNG")
        alone.append(str(call(server.url, "/api/predict", {"image": data_url(single.getvalue())})[1]["digit"]))
    assert number["text"] == "".join(alone), number
    assert sum(a == str(b) for a, b in zip(alone, labels[:3])) >= 2
    assert [len(d["box"]) for d in number["digits"]] == [4, 4, 4]
    assert all(abs(d["box"][0] - b[0]) <= 6 for d, b in zip(number["digits"], boxes))
    code, blank = call(server.url, "/api/read", {"image": data_url(drawing(np.zeros((28, 28), np.uint8)))})
    assert code == 200 and blank["text"] == "" and blank["digits"] == []

    code, answer = call(server.url, "/api/predict", {"image": data_url(drawing(images[0]))})
    assert code == 200 and answer["is_digit"] is True and answer["digit_score"] > 0

    code, why = call(server.url, "/api/explain", {"image": data_url(drawing(images[0]))})
    assert code == 200 and why["digit"] == answer["digit"]
    pictures = {k: Image.open(io.BytesIO(base64.b64decode(why[k].split(",", 1)[1])))
                for k in ("heat", "saliency", "feature_maps")}
    assert pictures["heat"].size == (280, 280) and pictures["heat"].mode == "RGBA"
    alpha = np.asarray(pictures["heat"])[..., 3]
    # drawing() pastes the digit at (30, 50), 196 pixels across: the heat is there, not in the far corner
    assert alpha[50:246, 30:226].mean() > 5 * (alpha[250:, 240:].mean() + 0.1)
    assert len(why["frame"]) == 4 and why["frame"][0] < 120 < why["frame"][2]


def _finetune_board(checkpoint, tmp_path, **tuner_options) -> Board:
    return Board.open(tmp_path / "samples.sqlite", checkpoint=checkpoint, base_samples=1500, held_out=1000, epochs=1,
                      **tuner_options)


def _wait(url, job, predict_body=None):
    """Poll a job to its end; meanwhile ask for predictions, which must keep answering."""
    answered = 0
    for _ in range(1200):
        time.sleep(0.05)
        _, status = call(url, f"/api/finetune/{job}")
        if status["state"] not in ("queued", "running"):
            return status, answered
        if predict_body:
            code, _ = call(url, "/api/predict", predict_body)
            assert code == 200
            answered += 1
    raise AssertionError("fine-tune did not finish")


def test_finetune_swaps_in_a_new_version_that_survives_a_restart(trained_run, tmp_path, digits):
    images, labels = digits
    with serving(_finetune_board(trained_run, tmp_path, max_drop=1.0)) as server:  # accept any result
        assert call(server.url, "/api/finetune/99")[0] == 404
        for image, label in zip(images, labels):
            assert call(server.url, "/api/samples", {"image": data_url(drawing(image)), "label": int(label)})[0] == 200
        code, started = call(server.url, "/api/finetune", {})
        assert code == 202 and started == {"job": 1, "state": "queued"}
        status, answered = _wait(server.url, started["job"], {"image": data_url(drawing(images[0]))})
        assert status["state"] == "accepted" and status["version"] == 2 and status["samples"] == 20
        assert 0 < status["before"] <= 1 and 0 < status["after"] <= 1 and status["progress"] == 1.0
        assert status["parent"] == 1
        assert answered >= 1  # predictions were answered while it trained
        _, model = call(server.url, "/api/model")
        assert model["version"] == 2 and [v["version"] for v in model["versions"]] == [1, 2]
        assert Path(model["checkpoint"]).is_file() and model["accuracy"] == status["after"]
        v2 = model["versions"][1]
        assert v2["parent"] == 1 and v2["samples"] == 20 and v2["serving"] and v2["accuracy_before"] == status["before"]

    with sqlite3.connect(tmp_path / "samples.sqlite") as db:  # the version names the samples it learned from
        assert db.execute("SELECT COUNT(*) FROM trained_on WHERE version = 2").fetchone()[0] == 20
    # the same --db again: v2 serves, every version is listed, job 1 is still job 1
    with serving(_finetune_board(trained_run, tmp_path, max_drop=-1.0)) as server:
        _, model = call(server.url, "/api/model")
        assert model["version"] == 2 and [(v["version"], v["parent"]) for v in model["versions"]] == [(1, None), (2, 1)]
        assert call(server.url, "/api/predict", {"image": data_url(drawing(images[3]))})[1]["model_version"] == 2
        assert call(server.url, "/api/finetune/1")[1]["state"] == "accepted"
        assert call(server.url, "/api/finetune", {})[1]["job"] == 2  # ids are never reused
        code, back = call(server.url, "/api/model/rollback", {})  # the serving version's parent
        assert code == 200 and back["version"] == 1 and [v["serving"] for v in back["versions"]] == [True, False]
        code, answer = call(server.url, "/api/model/rollback", {})
        assert code == 409 and "no earlier version" in answer["error"]
        code, answer = call(server.url, "/api/model/rollback", {"version": 7})
        assert code == 404 and "no model version 7" in answer["error"]
        assert call(server.url, "/api/model/rollback", {"version": "2"})[0] == 400
        assert call(server.url, "/api/model/rollback", b"[", "application/json")[0] == 400
        code, forward = call(server.url, "/api/model/rollback", {"version": 2})  # any recorded version
        assert code == 200 and forward["version"] == 2
        _wait(server.url, 2)
        assert call(server.url, "/api/finetune", {})[1]["job"] == 3
    # job 3 was stopped with the server, before it could finish
    with serving(Board.open(tmp_path / "samples.sqlite", version=1)) as server:  # --version N, no --checkpoint
        assert call(server.url, "/api/model")[1]["version"] == 1
        assert call(server.url, "/api/finetune/3")[1]["state"] == "interrupted"
    reopened = Board.open(tmp_path / "samples.sqlite")
    assert reopened.service.info.version == 1  # what --version chose stays the serving one
    reopened.close()


def test_finetuned_refusing_model_still_refuses(reader_run, tmp_path, digits):
    """Fine-tuning mixes the checkpoint's non-digits in again: version 2 still says "not a digit", by a refusal
    threshold set for it (the parent's here is an odd -3, which a version that kept it would show)."""
    from digitlab.data.non_digits import make_non_digits
    from digitlab.inference.predictor import Predictor
    from digitlab.reading.refusal import THRESHOLD_KEY
    parent = {**torch.load(reader_run / "checkpoint.pt", weights_only=True), THRESHOLD_KEY: -3.0}
    torch.save(parent, tmp_path / "parent.pt")
    board = _finetune_board(tmp_path / "parent.pt", tmp_path, max_drop=1.0)
    images, labels = digits
    for image, label in zip(images, labels):
        board.store.add(int(label), drawing(image), image, 1)
    job = board.finetuner.start()
    for _ in range(1200):
        if board.finetuner.status(job)["state"] not in ("queued", "running"):
            break
        time.sleep(0.05)
    assert board.finetuner.status(job)["state"] == "accepted", board.finetuner.status(job)
    tuned = Predictor.from_checkpoint(board.service.info.checkpoint)
    assert tuned.classes[-1] == "not a digit"
    assert -3.0 < tuned.refusal.threshold <= 0  # set on new non-digits for this version (-3 would refuse few)
    answers = tuned.predict_arrays(make_non_digits(60, seed=321, kinds={"shapes": 1.0, "letters": 1.0}))
    assert sum(not a.is_digit for a in answers) >= 40
    board.close()


def test_finetune_that_would_lose_accuracy_is_rejected(trained_run, tmp_path, digits):
    board = _finetune_board(trained_run, tmp_path, max_drop=-1.0)  # demands +100 points: never met
    images, labels = digits
    for image, label in zip(images[:5], labels[:5]):
        board.store.add(int(label), drawing(image), image, 1)
    with serving(board) as server:
        status, _ = _wait(server.url, call(server.url, "/api/finetune", {})[1]["job"])
        assert status["state"] == "rejected" and "would drop" in status["message"]
        assert call(server.url, "/api/model")[1]["version"] == 1
    assert sorted(p.name for p in board.version_store.folder.iterdir()) == ["v1.pt"]  # nothing written for it


def test_finetune_without_samples_fails_cleanly(trained_run, tmp_path):
    with serving(_finetune_board(trained_run, tmp_path)) as server:
        status, _ = _wait(server.url, call(server.url, "/api/finetune", {})[1]["job"])
        assert status["state"] == "failed" and "no stored samples" in status["message"]


def test_model_changing_endpoints_need_the_token_when_set(trained_run, tmp_path):
    with serving(_finetune_board(trained_run, tmp_path), token="s3cret") as server:
        code, answer = call(server.url, "/api/finetune", {})
        assert code == 401 and "token" in answer["error"]
        assert call(server.url, "/api/model/rollback", {})[0] == 401
        request = urllib.request.Request(server.url + "/api/finetune", data=b"{}", method="POST",
                                         headers={"Authorization": "Bearer s3cret", "Content-Type": "application/json"})
        with urllib.request.urlopen(request) as response:
            assert response.status == 202
        assert call(server.url, "/api/model")[0] == 200  # reading stays open


def test_serve_without_checkpoint_trains_the_default_model_once(tmp_path, monkeypatch):
    from digitlab.training.default_model import default_checkpoint
    from digitlab.version import __version__
    checkpoint = default_checkpoint(str(tmp_path))
    assert checkpoint == tmp_path / "models" / f"default-fast-mnist-5k-{__version__}" / "checkpoint.pt"
    assert checkpoint.is_file() and [p.name for p in (tmp_path / "models").iterdir() if p.is_dir()] == [
        checkpoint.parent.name]  # trained whole in a scratch folder, then moved: nothing else left behind
    stamp = checkpoint.stat().st_mtime_ns
    # loaded, not retrained
    assert default_checkpoint(str(tmp_path)) == checkpoint and checkpoint.stat().st_mtime_ns == stamp
    service = ModelService(checkpoint)
    assert service.info.name == "digitnet-fast" and service.info.accuracy > 0.97


@pytest.fixture
def worker_board(trained_run, tmp_path):
    board = Board.open(tmp_path / "samples.sqlite", checkpoint=trained_run, workers=2)
    with serving(board) as server:
        yield server, board


def _always_three(trained_run, path: Path) -> Path:
    """A copy of the trained model whose last layer answers 3 whatever it is shown."""
    from digitlab.inference.checkpoint import load_checkpoint, save_checkpoint
    payload = load_checkpoint(trained_run)
    state = payload["state_dict"]
    last = [k for k, v in state.items() if k.endswith("bias") and v.shape == (10,)][-1]
    state[last.removesuffix("bias") + "weight"].zero_()
    state[last].copy_(torch.nn.functional.one_hot(torch.tensor(3), 10).float() * 20)
    save_checkpoint(path, payload)
    return path


def test_worker_processes_answer_as_the_server_process_does(worker_board, trained_run, digits):
    import asyncio
    server, board = worker_board
    pngs = [drawing(image, offset=(10 + i, 40)) for i, image in enumerate(digits[0])]
    in_process = ModelService(trained_run)
    alone = [json.loads(asyncio.run(in_process.predict(png))) for png in pngs]

    def client(i: int) -> list[tuple[int, int, dict]]:
        return [((i + k) % len(pngs), *call(server.url, "/api/predict", {"image": data_url(pngs[(i + k) % len(pngs)])}))
                for k in range(5)]

    with ThreadPoolExecutor(16) as pool:  # batches of many drawings: messages larger than a pipe holds at once
        answers = [triple for batch in pool.map(client, range(16)) for triple in batch]
    assert len(answers) == 80 and [status for _, status, _ in answers] == [200] * 80
    for index, _, answer in answers:
        assert answer["digit"] == alone[index]["digit"] and answer["input28"] == alone[index]["input28"]
        assert np.allclose(answer["probabilities"], alone[index]["probabilities"], atol=2e-3)
        assert answer["model_version"] == 1
    pids = {worker.process.pid for worker in board.service._workers.workers}
    assert len(pids) == 2 and os.getpid() not in pids
    status, error = call(server.url, "/api/predict", {"image": data_url(b"this is not a png")})
    assert status == 400 and "not a readable image" in error["error"]  # the worker's ImageError, as a 400


@pytest.mark.parametrize("new_loop", ["asyncio", "uvloop"])
def test_prediction_workers_take_a_burst_in_one_big_batch(trained_run, digits, new_loop):
    import asyncio

    import uvloop

    from digitlab.web.workers import PredictWorkers
    pngs = [drawing(image, offset=(10 + i, 40)) for i, image in enumerate(digits[0])] * 6
    loop = uvloop.new_event_loop() if new_loop == "uvloop" else asyncio.new_event_loop()  # uvicorn's is uvloop
    workers = PredictWorkers(1, str(trained_run), 1, max_batch=len(pngs))

    async def burst() -> list[dict]:
        return [json.loads(answer) for answer in
                await asyncio.gather(*[workers.predict(png, str(trained_run), 1) for png in pngs])]

    try:  # one drawing goes at once, the other 119 wait and go together: more than a socket buffer (208 KB) each way
        answers = loop.run_until_complete(burst())
    finally:
        workers.close()
        loop.close()
    in_process = ModelService(trained_run)
    alone = [json.loads(asyncio.run(in_process.predict(png))) for png in pngs[:20]]
    assert len(answers) == 120
    for i, answer in enumerate(answers):
        assert answer["input28"] == alone[i % 20]["input28"] and answer["digit"] == alone[i % 20]["digit"]


def test_workers_answer_with_the_version_swapped_in_and_rolled_back(worker_board, trained_run, digits, tmp_path):
    server, board = worker_board
    body = {"image": data_url(drawing(digits[0][0]))}
    first = call(server.url, "/api/predict", body)[1]
    # published as a fine-tune publishes a version: its file, then its row with the serving switch
    job, three = board.version_store.new_job(), _always_three(trained_run, board.version_store.folder / "v2.pt")
    sha = sha256_of(three)
    board.service.swap(three, 2, commit=lambda: board.version_store.publish(job, 2, three.name, sha, 1, 0.9, 0.1,
                                                                       samples=[]))
    answers = [call(server.url, "/api/predict", body)[1] for _ in range(6)]  # both workers get asked
    assert all(a["digit"] == 3 and a["model_version"] == 2 and a["probabilities"][3] > 0.99 for a in answers)
    assert call(server.url, "/api/model/rollback", {})[0] == 200
    back = call(server.url, "/api/predict", body)[1]
    assert back["model_version"] == 1 and back["probabilities"] == pytest.approx(first["probabilities"], abs=1e-6)


def test_a_worker_that_dies_is_replaced_and_no_answer_is_lost(worker_board, digits):
    server, board = worker_board
    service = board.service
    body = {"image": data_url(drawing(digits[0][1]))}
    assert call(server.url, "/api/predict", body)[0] == 200
    victim = service._workers.workers[0].process
    os.kill(victim.pid, signal.SIGKILL)
    statuses = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # answers go on from the other worker while the new one starts
        status, answer = call(server.url, "/api/predict", body)
        statuses.append(status)
        assert status == 200 or (status == 503 and "worker stopped" in answer["error"])
        workers = service._workers.workers
        if len(workers) == 2 and victim not in [w.process for w in workers] and all(w.ready for w in workers):
            break
    else:
        raise AssertionError("the dead worker was not replaced")
    assert statuses.count(503) <= 1  # only a drawing the dead worker held
    assert all(call(server.url, "/api/predict", body)[0] == 200 for _ in range(10))


def test_serve_with_workers_from_the_command_line(trained_run, tmp_path, digits):
    port = free_port()
    bad = run_cli("serve", "--checkpoint", str(trained_run), "--workers", "-1", "--db", str(tmp_path / "s.sqlite"))
    assert bad.returncode == 2 and "--workers must be 0 or more" in bad.stderr and "Traceback" not in bad.stderr
    server = subprocess.Popen([sys.executable, "-m", "digitlab", "-q", "serve", "--checkpoint", str(trained_run),
                               "--port", str(port), "--db", str(tmp_path / "s.sqlite"), "--workers", "2"],
                              start_new_session=True, stderr=subprocess.PIPE, text=True)
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(600):
            try:
                status, answer = call(url, "/api/predict", {"image": data_url(drawing(digits[0][2]))})
                break
            except OSError:
                time.sleep(0.1)
        assert status == 200 and answer["digit"] == digits[1][2]
        workers = subprocess.run(["pgrep", "-P", str(server.pid), "-f", "multiprocessing.spawn"],
                                 capture_output=True, text=True).stdout.split()
        assert len(workers) == 2
    finally:
        os.killpg(server.pid, signal.SIGINT)  # Ctrl-C in a terminal: the server and its workers all get it
        _, stderr = server.communicate(timeout=30)
    assert server.returncode == 0 and "Traceback" not in stderr, stderr
    for pid in workers:  # the workers leave with the server
        for _ in range(100):
            if not Path(f"/proc/{pid}").exists():
                break
            time.sleep(0.1)
        assert not Path(f"/proc/{pid}").exists()
