"""Reading whole numbers and refusing what is no digit (issue 18), with a real trained model:
numbers built from real MNIST test digits, non-digits generated with seeds the model never saw."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from digitlab.analysis.pictures import clean, number_picture
from digitlab.data import load_dataset
from digitlab.data.non_digits import KINDS, LETTERS, LOOK_LIKE_DIGITS, make_non_digits
from digitlab.inference.predictor import Predictor
from digitlab.reading.framing import preprocess_image
from digitlab.reading.images import to_grey
from digitlab.reading.lines import find_lines
from digitlab.reading.page import read_page
from digitlab.reading.refusal import NOT_A_DIGIT, THRESHOLD_KEY, Refusal, refusal_of
from digitlab.reading.segment import cut_line
from tests.helpers import run_cli


@pytest.fixture(scope="module")
def test_digits():
    test = load_dataset("mnist-5k").test  # the 1,000 digits mnist-5k holds out: never trained on
    return test.images[:, 0].numpy(), test.labels.numpy()


@pytest.fixture(scope="module")
def reader(reader_run):
    return Predictor.from_checkpoint(reader_run)


def _numbers(digits, labels, count, gap, seed, length=None, scales=(2, 5)):
    rng = np.random.default_rng(seed)
    for k in range(count):
        pick = rng.integers(len(digits), size=length or int(rng.integers(1, 7)))
        picture, boxes = number_picture(list(digits[pick]), gap, light_on_dark=k % 2 == 1,
                                        scale=float(rng.uniform(*scales)), rng=rng)
        yield picture, boxes, "".join(str(int(v)) for v in labels[pick])


def test_non_digits_are_made_of_every_kind_and_repeat_with_their_seed(test_digits):
    digits, _ = test_digits
    assert not set(LETTERS) & LOOK_LIKE_DIGITS
    for kind in KINDS:
        made = make_non_digits(6, seed=5, digits=digits, clothes=digits, kinds={kind: 1.0})
        assert made.shape == (6, 28, 28) and made.dtype == np.uint8
        assert (made.reshape(6, -1).max(axis=1) > 100).all(), kind  # ink, framed like a digit
    ones = digits[np.asarray(test_digits[1]) == 1]
    assert make_non_digits(300, seed=0, digits=ones[:5], kinds={"pairs": 1.0}).shape == (300, 28, 28)  # narrow
    mixed = make_non_digits(40, seed=5, digits=digits)
    assert np.array_equal(mixed, make_non_digits(40, seed=5, digits=digits))
    assert not np.array_equal(mixed, make_non_digits(40, seed=6, digits=digits))


def test_training_with_non_digits_adds_the_class(reader_run, reader):
    assert reader.classes == [*map(str, range(10)), NOT_A_DIGIT] and reader.refusal.index == 10
    payload = torch.load(reader_run / "checkpoint.pt", weights_only=True)
    assert payload["config"]["non_digits"] == 0.2 and payload["model"]["num_classes"] == 11


def test_the_refusal_threshold_is_set_on_new_non_digits_and_travels_with_the_model(reader_run, reader, tmp_path):
    from digitlab.data.datasets import DIGITS
    from digitlab.data.non_digits import training_clothes
    from digitlab.deploy.export import export_checkpoint
    from digitlab.inference.onnx_runtime import OnnxPredictor
    from digitlab.training.calibration import REFUSED_SHARE, VALIDATION_NON_DIGITS, VALIDATION_SEED
    payload = torch.load(reader_run / "checkpoint.pt", weights_only=True)
    threshold = payload[THRESHOLD_KEY]
    assert threshold <= 0 and reader.refusal == Refusal(10, threshold)
    # the non-digits training set it on, made again: it refuses REFUSED_SHARE of them (or all it can at its odds)
    digits, clothes = load_dataset("mnist-5k").train.images[:, 0].numpy(), training_clothes()
    made = make_non_digits(VALIDATION_NON_DIGITS, 1 + VALIDATION_SEED, digits=digits, clothes=clothes)
    scores = reader.refusal.scores(np.array([p.probabilities for p in reader.predict_arrays(made)]))
    refused = reader.refusal.refuses(scores).mean()
    # the most lenient score refusing REFUSED_SHARE of them, never stricter than the model's own odds (0)
    assert threshold == pytest.approx(min(0.0, float(np.quantile(scores, REFUSED_SHARE))), abs=0.1)  # bf16 vs fp32
    assert abs(refused - REFUSED_SHARE) <= 0.02 if threshold < 0 else refused < REFUSED_SHARE + 0.02
    # a picture scoring between the threshold and 0 is a digit only by the threshold (limits 1e-3 either side of
    # its score: read alone rather than in a batch, its score moves by ~1e-6 in fp32)
    score = scores[np.argmin(np.abs(scores - threshold))]
    for limit, is_digit in ((score - 1e-3, True), (score + 1e-3, False)):
        judge = Predictor(reader.model, [*DIGITS, NOT_A_DIGIT], reader.mean, reader.std, meta={THRESHOLD_KEY: limit})
        picture = made[np.argmin(np.abs(scores - score))]
        assert judge.predict_arrays(picture[None])[0].is_digit == is_digit
    export_checkpoint(reader_run, tmp_path / "reader.onnx", "onnx")
    assert OnnxPredictor(tmp_path / "reader.onnx").refusal == reader.refusal


def test_non_digits_only_for_digit_data_sets(tmp_path):
    result = run_cli("-q", "train", "--dataset", "fashion-mnist", "--non-digits", "0.1", "--epochs", "1",
                     "--out", str(tmp_path / "run"))
    assert result.returncode == 2 and "--non-digits applies to digit data sets" in result.stderr
    assert result.stderr.count("\n") == 1


def test_real_digits_pass_and_non_digits_are_refused(reader, test_digits):
    digits, labels = test_digits
    real = reader.predict_arrays(np.stack([preprocess_image(clean(d)) for d in digits[:300]]))
    assert sum(not p.is_digit for p in real) <= 6  # at most 2% of real digits refused
    assert np.mean([p.label == y for p, y in zip(real, labels[:300])]) >= 0.96
    for kind in set(KINDS) - {"clothes"}:  # new seeds, pairs of held-out digits (clothes: benchmarks/whole_numbers.py)
        made = make_non_digits(40, seed=99, digits=digits, kinds={kind: 1.0})
        answers = reader.predict_arrays(np.stack([preprocess_image(clean(m)) for m in made]))
        refused = sum(not p.is_digit for p in answers)
        assert refused >= 28, f"{kind}: only {refused} of 40 refused"
        assert all(p.digit_score is not None and (p.digit_score > reader.refusal.threshold) == p.is_digit
                   for p in answers)


def test_a_model_without_the_class_never_refuses(trained_run, test_digits):
    plain = Predictor.from_checkpoint(trained_run)
    answers = plain.predict_arrays(make_non_digits(5, seed=1))
    assert plain.refusal is None and all(p.is_digit and p.digit_score is None for p in answers)


def test_cuts_between_separated_digits_and_seams_that_never_cross(test_digits):
    digits, _ = test_digits
    picture, boxes = number_picture(list(digits[:5]), gap=5, scale=4)
    [line] = find_lines(to_grey(picture))
    cut = cut_line(line)
    assert 60 <= cut.height * line.page.scale <= 112  # the digits are 28 * 4 = 112 pixels tall, their ink less
    assert (np.diff(cut.seams, axis=0) >= 0).all()
    cuts = (cut.seams.mean(axis=1) + line.origin[0]) * line.page.scale  # in the picture's pixels
    for left, right in zip(boxes, boxes[1:]):  # a cut in every gap between two digits
        assert ((cuts > left[2] - 2) & (cuts < right[0] + 2)).any()


@pytest.mark.parametrize("gap, at_least", [(4, 16), (0, 14)])  # a model trained 8 epochs; benchmarks/whole_numbers.py
def test_numbers_of_real_digits_are_read(reader, test_digits, gap, at_least):
    digits, labels = test_digits
    right = 0
    for picture, boxes, truth in _numbers(digits, labels, 20, gap, seed=gap + 10):
        number = read_page(reader, picture)
        right += number.text == truth
        if number.text == truth:  # each box on its digit, left to right, in the picture's pixels
            for found, true in zip([d.box for d in number.digits], boxes):
                assert abs(found[0] - true[0]) < 0.25 * (true[3] - true[1]) and found[2] <= picture.width
            assert [d.box[0] for d in number.digits] == sorted(d.box[0] for d in number.digits)
    assert right >= at_least, f"{right} of 20 numbers read right with gap {gap}"


def test_one_and_twelve_digits_both_polarities(reader, test_digits):
    digits, labels = test_digits
    singles = [read_page(reader, p).text == t for p, _, t in _numbers(digits, labels, 6, 3, 1, length=1)]
    assert sum(singles) >= 5, singles
    # twelve digits: every digit found, in place; a number is right only if all twelve are (~85% at 98.7% each)
    texts = [(read_page(reader, p).text, t) for p, _, t in _numbers(digits, labels, 6, 3, 2, length=12)]
    assert sum(len(text) == 12 for text, _ in texts) >= 5, texts
    wrong = sum(a != b for text, truth in texts if len(text) == 12 for a, b in zip(text, truth))
    assert wrong <= 4, texts


def test_a_number_small_on_a_large_page_reads_as_alone_with_boxes_on_the_page(reader, test_digits):
    # a phone photo of a page: the number a few hundred pixels wide on 4000x3000, its digits 84-140 pixels tall; a
    # 12-megapixel page is read averaged down by 2 (lines.MAX_WORK_PIXELS), which leaves them tall enough to read
    digits, labels = test_digits
    for picture, _, _ in _numbers(digits, labels, 4, 4, seed=7, scales=(3, 5)):
        alone = read_page(reader, picture)
        page = Image.new("L", (4000, 3000), picture.convert("L").getpixel((0, 0)))  # its paper, either polarity
        page.paste(picture.convert("L"), (2100, 1300))
        on_page = read_page(reader, page)
        assert on_page.text == alone.text
        for far, near in zip(on_page.digits, alone.digits):
            assert np.allclose(far.box, np.add(near.box, [2100, 1300, 2100, 1300]), atol=12), (far.box, near.box)


def _drawn(size, strokes=(), rings=(), dotted=False):
    """Black pen (14 px) on white: strokes as lists of points (dotted: 7 dots along each), rings as ellipse boxes."""
    from PIL import ImageDraw

    image = Image.new("L", size, 255)
    draw = ImageDraw.Draw(image)
    for points in strokes:
        if dotted:
            for x, y in np.linspace(points[0], points[1], 7):
                draw.ellipse((x - 6, y - 6, x + 6, y + 6), fill=0)
        else:
            draw.line(points, fill=0, width=14, joint="curve")
    for box in rings:
        draw.ellipse(box, outline=0, width=14)
    return image


def test_broken_strokes_stay_one_digit(reader):
    """A 4 drawn in two strokes that do not touch, a 5 whose bar floats, a dotted 7: one digit each."""
    four = _drawn((200, 200), [[(70, 30), (45, 120), (150, 120)], [(125, 60), (125, 180)]])
    five = _drawn((200, 200), [[(80, 40), (75, 95), (130, 95), (140, 140), (120, 170), (65, 170)],
                               [(92, 35), (150, 35)]])
    seven = _drawn((200, 200), [[(50, 40), (150, 40)], [(150, 40), (90, 180)]], dotted=True)
    assert [read_page(reader, p).text for p in (four, five, seven)] == ["4", "5", "7"]


def test_a_one_touching_its_neighbour_along_its_side_is_cut_off(reader):
    """The seam from the column between them finds a free path round the 1 and cuts nothing there; the
    nearly straight seam kept beside it does: the cut between them goes through one stroke."""
    ten = _drawn((240, 200), strokes=[[(62, 30), (62, 170)]], rings=[(68, 35, 150, 165)])
    [line] = find_lines(to_grey(ten))
    cut = cut_line(line)
    cuts = (np.median(cut.seams, axis=1) + line.origin[0]) * line.page.scale
    between = (cuts > 64) & (cuts < 76)  # the 1's ink ends at 69, the 0's begins at 68
    assert between.any() and cut.strokes[between].max() == 1, (cuts, cut.strokes)
    assert cut.strokes[0] == cut.strokes[-1] == 0
    # Whether the reading then keeps this cut is the model's call, not asserted here: six of eight test models (seeds
    # 1-4, fp32 and bf16) read "10", one "0", one refuses it (docs/reliability.md); how often touching digits are
    # read right is measured by benchmarks/whole_numbers.py


@pytest.mark.parametrize("width", [60, 100, 140])
def test_a_round_zero_is_read_whole_not_as_its_halves(reader, width):
    """A 0 as wide as it is tall spans more candidate cuts than a digit of MNIST's shape; its halves read as
    digits too ("13"), but each cut through it goes through two strokes."""
    zero = _drawn((width + 80, 200), rings=[(40, 30, 40 + width, 170)])
    assert read_page(reader, zero).text == "0"


def test_no_ink_reads_as_nothing(reader):
    number = read_page(reader, Image.new("L", (300, 100), 255))
    assert number.text == "" and number.digits == []


def test_read_command(reader_run, test_digits, tmp_path):
    digits, labels = test_digits
    paths, truths = [], []
    for k, (picture, _, truth) in enumerate(_numbers(digits, labels, 3, 4, seed=7, length=3)):
        paths.append(str(tmp_path / f"n{k}.png"))
        picture.save(paths[-1])
        truths.append(truth)
    result = run_cli("read", "--checkpoint", str(reader_run), *paths, "--json", "--show-input", str(tmp_path / "in"))
    assert result.returncode == 0, result.stderr
    answers = json.loads(result.stdout)
    assert [a["image"] for a in answers] == paths
    assert sum(a["text"] == t for a, t in zip(answers, truths)) >= 2
    for a in answers:
        assert set(a) == {"image", "text", "turn", "paper", "digits", "lines"} and len(a["lines"]) == 1
        assert a["turn"] == 0 and a["paper"] is None  # a number on white: all paper, the right way up
        assert a["lines"][0]["text"] == a["text"] and a["lines"][0]["numbers"][0]["digits"] == a["digits"]
        for d in a["digits"]:
            assert set(d) >= {"digit", "probability", "box", "is_digit"} and len(d["box"]) == 4
    assert len(list((tmp_path / "in").glob("n0.*.input.png"))) == len(answers[0]["digits"])
    text = run_cli("read", "--checkpoint", str(reader_run), paths[0])
    assert text.returncode == 0 and text.stdout.startswith(f"{paths[0]}: {answers[0]['text'] or 'no digits'}")
    missing = run_cli("read", "--checkpoint", str(reader_run), str(tmp_path / "nope.png"))
    assert missing.returncode == 2 and "no such file" in missing.stderr and "Traceback" not in missing.stderr


def test_predict_says_not_a_digit(reader_run, tmp_path):
    scribbles = make_non_digits(3, seed=11, kinds={"shapes": 1.0})
    paths = []
    for k, s in enumerate(scribbles):
        paths.append(str(tmp_path / f"s{k}.png"))
        clean(s).save(paths[-1])
    answers = json.loads(run_cli("predict", "--checkpoint", str(reader_run), *paths, "--json").stdout)
    assert all(isinstance(a["is_digit"], bool) and isinstance(a["digit_score"], float) for a in answers)
    refused = [p for p, a in zip(paths, answers) if not a["is_digit"]]
    assert refused, answers
    line = run_cli("predict", "--checkpoint", str(reader_run), refused[0]).stdout
    assert "not a digit (best guess " in line


def test_explain_command_writes_the_pictures(reader_run, test_digits, tmp_path):
    digits, _ = test_digits
    path = tmp_path / "seven.png"
    canvas = Image.new("L", (300, 240), 255)
    canvas.paste(clean(digits[0]).convert("L").resize((160, 160)), (100, 40))
    canvas.save(path)
    result = run_cli("explain", "--checkpoint", str(reader_run), str(path), "--out", str(tmp_path / "why"), "--json")
    assert result.returncode == 0, result.stderr
    [answer] = json.loads(result.stdout)
    pictures = {k: Image.open(v) for k, v in answer["pictures"].items()}
    assert set(pictures) == {"gradcam", "saliency", "feature_maps", "input"}
    assert pictures["gradcam"].size == canvas.size
    # the heat lies on the digit's side of the picture, not on the blank left third
    heat = np.asarray(pictures["gradcam"].convert("RGB"), np.int16)
    tint = np.abs(heat - np.asarray(canvas.convert("RGB"), np.int16)).sum(axis=2)
    assert tint[:, 100:].mean() > 4 * tint[:, :90].mean()


@pytest.mark.parametrize("make", [
    lambda: Image.new("L", (300, 100), 255),                                        # an empty page
    lambda: Image.fromarray(np.pad(np.zeros((6, 6), np.uint8), 60, constant_values=255)),  # a dot
    lambda: Image.fromarray(np.pad(np.zeros((4, 200), np.uint8), 50, constant_values=255)),  # one line
    lambda: Image.fromarray(np.pad(np.zeros((80, 80), np.uint8), 30, constant_values=255)),  # a filled square
    lambda: Image.fromarray(np.random.default_rng(0).integers(0, 256, (120, 400), dtype=np.uint8)),  # noise
    lambda: Image.new("L", (4000, 3), 0),                                           # a dark strip
    lambda: Image.new("RGBA", (1, 1)),                                              # one transparent pixel
])
def test_degenerate_pictures_never_fail(reader, make):
    number = read_page(reader, make())
    assert isinstance(number.text, str) and len(number.digits) <= 20
    assert all(len(d.box) == 4 for d in number.digits)


def test_evaluate_scores_a_refusing_model_as_predict_answers(reader, reader_run, test_digits):
    from digitlab.data.datasets import Split
    from digitlab.inference.trained_model import load_trained
    from digitlab.training.evaluate import evaluate
    digits, labels = test_digits
    model, payload = load_trained(reader_run)
    split = Split.from_numpy(digits[:400], labels[:400])
    norm = payload["normalization"]
    result = evaluate(model, split, norm["mean"], norm["std"], 11, refusal=refusal_of(payload))
    answers = reader.predict_arrays(digits[:400])
    expected = np.mean([p.is_digit and p.label == y for p, y in zip(answers, labels[:400])])
    assert result.accuracy == pytest.approx(expected, abs=1 / 400)  # bf16/fold-free paths may flip one digit
    assert set(result.predictions.tolist()) <= set(range(11))
