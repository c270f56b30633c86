"""How sure a reading is (issue 40): every number and line read has a confidence, the numbers in doubt are
flagged for review, and the calibration behind it is fitted as reading/confidence.py says."""

from __future__ import annotations

import json

import numpy as np
import pytest

from digitlab.api import Reader
from digitlab.errors import ConfigError
from digitlab.inference.predictor import Predictor
from digitlab.reading.confidence import calibrated, fit
from digitlab.reading.line import _kept_probabilities
from digitlab.reading.page import read_page
from tests.helpers import run_cli
from tests.test_pages import _page


@pytest.fixture(scope="module")
def reader(reader_run):
    return Predictor.from_checkpoint(reader_run)


def test_a_segment_is_kept_in_the_share_of_readings_that_keep_it():
    """Cuts 0-1-2: the ink read whole (span 0-2) or in two (0-1, 1-2). Equal scores: each way half the readings;
    reading whole e^2 times likelier than in two: whole in 0.88 of them."""
    spans = [(0, 1), (0, 2), (1, 2)]
    assert np.allclose(_kept_probabilities(spans, [0.0, 0.0, 0.0], 3), [0.5, 0.5, 0.5])
    kept = _kept_probabilities(spans, [-1.0, 0.0, -1.0], 3)
    assert kept[1] == pytest.approx(1 / (1 + np.exp(-2))) and kept[0] == kept[2] == pytest.approx(1 - kept[1])
    assert np.allclose(_kept_probabilities([(0, 1)], [np.log(0.3)], 2), [1.0])  # one way only: kept, however read


def test_the_fit_finds_the_rule_behind_right_and_wrong():
    rng = np.random.default_rng(0)
    rows = rng.normal(size=(20_000, 2))
    truth = np.array([2.0, -1.0, 0.5])
    right = rng.random(len(rows)) < calibrated(rows, truth)
    fitted = fit(rows, right)
    assert np.allclose(fitted, truth, atol=0.1), fitted
    probability = calibrated(rows, fitted)
    sure = probability > 0.9
    assert right[sure].mean() == pytest.approx(probability[sure].mean(), abs=0.01)  # calibrated where it is sure


def _blend(digits, a, b, share=0.5):
    """A digit half way between two: a reading in doubt."""
    return (share * digits[a][0].astype(np.float32) + (1 - share) * digits[b][1].astype(np.float32)).astype(np.uint8)


def test_a_number_in_doubt_is_less_sure_and_flagged(reader, sure_digits):
    doubtful = {**sure_digits, 1: np.stack([_blend(sure_digits, 3, 8), _blend(sure_digits, 3, 8)])}
    clear = read_page(reader, _page(["3127 45"], sure_digits).picture)
    [line] = clear.lines
    assert line.text == "3127 45"
    sure = line.numbers[0].confidence
    assert 0.0 < line.confidence <= min(n.confidence for n in line.numbers) <= 1.0
    assert line.confidence == pytest.approx(np.prod([n.confidence for n in line.numbers]))
    unsure = read_page(reader, _page(["3127 45"], doubtful).picture, review_below=(sure + 1e-3)).lines[0].numbers[0]
    assert unsure.confidence < sure and unsure.review
    assert not read_page(reader, _page(["3127 45"], sure_digits).picture, review_below=0.0).lines[0].numbers[0].review


def test_read_says_how_sure_and_what_to_check(reader_run, sure_digits, tmp_path):
    path = tmp_path / "page.png"
    _page(["31 27", "45"], sure_digits).picture.save(path)
    everything = run_cli("read", "--checkpoint", str(reader_run), str(path), "--json", "--review-below", "1")
    assert everything.returncode == 0, everything.stderr
    numbers = [n for line in json.loads(everything.stdout)[0]["lines"] for n in line["numbers"]]
    assert [n["text"] for n in numbers] == ["31", "27", "45"]
    assert all(0 < n["confidence"] <= 1 and n["review"] for n in numbers)
    for digit in (d for n in numbers for d in n["digits"]):  # the second guesses a reviewer picks from
        alternatives = digit["alternatives"]
        chances = [a["probability"] for a in alternatives]
        assert len(alternatives) == 3 and chances == sorted(chances, reverse=True)
        assert alternatives[0] == {"digit": digit["digit"], "probability": digit["probability"]}
    plain = run_cli("read", "--checkpoint", str(reader_run), str(path), "--review-below", "1").stdout.splitlines()
    assert plain == [f"{path}: 31 27  [check: 31, 27]", f"{path}: 45  [check: 45]"]
    nothing = run_cli("read", "--checkpoint", str(reader_run), str(path), "--json", "--review-below", "0")
    assert not any(n["review"] for line in json.loads(nothing.stdout)[0]["lines"] for n in line["numbers"])
    for bad in ("1.5", "sure"):
        refused = run_cli("read", "--checkpoint", str(reader_run), str(path), "--review-below", bad)
        assert refused.returncode == 2 and "a probability from 0 to 1" in refused.stderr
        assert "Traceback" not in refused.stderr


def test_the_library_refuses_a_review_threshold_that_is_no_probability(reader):
    with pytest.raises(ConfigError, match="between 0 and 1"):
        Reader(reader, "test").read(np.zeros((28, 28), np.uint8), review_below=1.5)
