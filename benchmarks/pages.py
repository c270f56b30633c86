"""Reading whole pages: phone photos of lines of handwritten numbers, the signs written in them, pages lying on a
desk, turned, in other hands, and 48 MP photos.

    python benchmarks/pages.py [--checkpoint PATH] [--pages N] [--sign-pages N] [--desk-pages N]
                               [--turned-pages N] [--hand-pages N] [--big-pages N] [--size 2400x1800] [--json]

Each page (analysis/pictures.py: page_photo) is a 2400x1800 phone photo of 3-5 lines of 1-3 numbers
of 1-4 digits, the digits real MNIST test digits (the 5,000 in ../shared, else mnist-5k's held-out
1,000): ruled, squared or plain paper, blue or black ink, light falling off across the whole page
(to 0.45-0.8 of its brightness), up to 5 degrees of tilt, lines that sag or rise a little, sensor
noise and JPEG. Each is read as `digitlab read` reads a file (the JPEG decoded by load_photo, the page
found, flattened and turned the right way up), and scored:

  line count right   pages on which exactly as many lines were found as were written
  lines exact        lines whose text (numbers joined by one space) was read exactly
  digits right       1 - edit distance / length over every line's characters, spaces excluded
  seconds per page   the reading alone (decoding the JPEG included), on this machine's cores

and, per row, how far each number's confidence (reading/confidence.py) can be trusted: the numbers read, the
share wrong (a number read is right when it is one of those written, in its place in reading order:
judge_numbers), the share accepted
(confidence at or above REVIEW_BELOW) and the share of those that are wrong, and the share a person must look
at, the least sure first, for 99.5% and 99.9% of the numbers read to be right. `--json` has the table at every
threshold of REVIEW_THRESHOLDS.

The sign pages are made the same way, every number holding a sign: decimal points and commas
("3.14", "12,50"), a minus ("-5"), a date ("12/04"), a time ("13:45"); the share of those numbers
read exactly is printed. Desk pages (analysis/pictures.py: desk_photo): an evenly lit page of 1240x1754
lying on a wooden, dark, pale, tiled or cloth desk, photographed at 4000x3000 (12 MP): turned up to 12
degrees, each corner pushed by up to 10% of the page, a shadow, light falling off, sometimes a hand or a
second sheet in the frame, one page in five with a corner out of the frame. Turned pages: desk pages in
photos turned by 90, 180 or 270 degrees. Other hands: pages written with one writer's digits drawn from
the handwriting templates (data/handwriting.py: one_writer), a writer a page. 48 MP: desk pages scaled to
8000x6000. The digits and signs the pages are made of change with --seed; the pages are the same for
every model.
"""

from __future__ import annotations

import io
import json
import sys
import time
from dataclasses import replace

import numpy as np
from PIL import Image

from _common import benchmark_parser, machine, model_to_measure, print_table, real_test_digits
from digitlab.analysis.pictures import desk_photo, page_photo, random_page_style
from digitlab.data.handwriting import one_writer
from digitlab.inference.predictor import Predictor
from digitlab.reading.confidence import REVIEW_BELOW
from digitlab.reading.elements import ReadNumber
from digitlab.reading.images import load_photo
from digitlab.reading.page import read_page
from digitlab.utils.text import edit_distance

REVIEW_THRESHOLDS = tuple(sorted({0.5, 0.8, 0.9, REVIEW_BELOW, 0.97, 0.99}))  # confidences at which coverage is printed
SIGN_PATTERNS = ["d.dd", "dd,dd", "-d", "-dd", "dd/dd", "d/dd", "dd:dd", "d.d", "ddd,dd", "-d.d"]


def plain_texts(rng: np.random.Generator) -> list[str]:
    """3-5 lines of 1-3 numbers of 1-4 digits."""
    return [" ".join("".join(str(d) for d in rng.integers(0, 10, int(rng.integers(1, 5))))
                     for _ in range(int(rng.integers(1, 4)))) for _ in range(int(rng.integers(3, 6)))]


def sign_texts(rng: np.random.Generator) -> list[str]:
    """3-5 lines of 1-2 numbers, each written after a pattern of SIGN_PATTERNS (d: a digit)."""
    def number() -> str:
        pattern = SIGN_PATTERNS[rng.integers(len(SIGN_PATTERNS))]
        return "".join(str(rng.integers(0, 10)) if c == "d" else c for c in pattern)
    return [" ".join(number() for _ in range(int(rng.integers(1, 3)))) for _ in range(int(rng.integers(3, 6)))]


def read_pages(predictor, photograph, texts, count: int, seed: int) -> dict:
    """Pages written with `texts(rng)` and photographed with `photograph(written, rng)` (a picture, or a JPEG
    file's bytes), read back as `digitlab read` reads a file; the scores above, per number how many were read
    exactly, and every number read with its confidence and whether it is right ("judged")."""
    rng = np.random.default_rng(seed)
    counted = exact = lines = numbers_right = numbers = errors = characters = 0
    seconds, judged = [], []
    for _ in range(count):
        written = texts(rng)
        photo = photograph(written, rng)
        start = time.perf_counter()
        picture, scale = load_photo(photo) if isinstance(photo, bytes) else (photo, 1.0)
        page = read_page(predictor, picture, upright=True, scale=scale)
        seconds.append(time.perf_counter() - start)
        read = [line.text for line in page.lines]
        counted += len(read) == len(written)
        for k, truth in enumerate(written):
            text = read[k] if len(read) == len(written) else _closest(truth, read)
            exact += text == truth
            lines += 1
            errors += min(len(truth.replace(" ", "")), edit_distance(text.replace(" ", ""), truth.replace(" ", "")))
            characters += len(truth.replace(" ", ""))
            got = set(text.split())
            numbers_right += sum(n in got for n in truth.split())
            numbers += len(truth.split())
        judged += judge_numbers(written, page)
    return {"pages": count, "line_count": counted / count, "lines_exact": exact / lines,
            "digits_right": 1 - errors / characters, "numbers_exact": numbers_right / numbers,
            "seconds": float(np.mean(seconds)), "seconds_max": float(np.max(seconds)), "judged": judged}


def judge_numbers(written: list[str], page) -> list[tuple[ReadNumber, bool]]:
    """Every number read on a page (with text), and whether it is right: one of the numbers written, in its place
    in reading order (a longest common run of the numbers read and written, the lines' breaks aside: a line
    found as two, or two as one, is the line count's error, not its numbers')."""
    read = [n for line in page.lines for n in line.numbers if n.text]
    right = _common_run([n.text for n in read], " ".join(written).split())
    return [(n, k in right) for k, n in enumerate(read)]


def _common_run(read: list[str], written: list[str]) -> set[int]:
    """The indices of `read` in a longest common subsequence with `written`."""
    table = np.zeros((len(read) + 1, len(written) + 1), int)
    for i in range(len(read) - 1, -1, -1):
        for j in range(len(written) - 1, -1, -1):
            table[i, j] = table[i + 1, j + 1] + 1 if read[i] == written[j] else max(table[i + 1, j], table[i, j + 1])
    kept, i, j = set(), 0, 0
    while i < len(read) and j < len(written):
        if read[i] == written[j]:
            kept.add(i)
            i, j = i + 1, j + 1
        elif table[i + 1, j] >= table[i, j + 1]:
            i += 1
        else:
            j += 1
    return kept


def coverage(judged: list[tuple[ReadNumber, bool]], thresholds=REVIEW_THRESHOLDS) -> dict:
    """Accuracy against coverage: at each threshold, the share of numbers accepted (confidence at or above it,
    not flagged) and the share of those that are wrong; and the share a person must look at (the least sure
    first) for 99.5% and 99.9% of the numbers read to be right."""
    confidence = np.array([n.confidence for n, _ in judged])
    right = np.array([ok for _, ok in judged], bool)
    rows = {}
    for threshold in thresholds:
        accepted = confidence >= threshold
        rows[threshold] = (float(accepted.mean()) if len(right) else 0.0,
                           float((~right[accepted]).mean()) if accepted.any() else 0.0)
    order = np.argsort(confidence)
    wrong_left = (~right[order])[::-1].cumsum()[::-1]  # wrong among the numbers from the k-th least sure on
    looked = {}
    for goal in (0.995, 0.999):
        allowed = (1 - goal) * len(right)
        k = next((k for k in range(len(right)) if wrong_left[k] <= allowed), len(right))
        looked[goal] = k / max(len(right), 1)
    return {"accepted": rows, "look_at": looked, "numbers": len(right), "wrong": int((~right).sum())}


def photo_of_page(digits, size: tuple[int, int]):
    """A page photographed whole (today's pages), as page_photo makes it (a JPEG, decoded); `digits`: label ->
    MNIST-style digits, or a function of the page's random generator giving them (a writer a page)."""
    def photograph(written, rng):
        mine = digits(rng) if callable(digits) else digits
        return page_photo(written, mine, rng, random_page_style(rng, size, len(written))).picture
    return photograph


def photo_on_a_desk(digits: dict, size=(4000, 3000), turns=(0,), upscale: tuple[int, int] | None = None):
    """An evenly lit page lying on a desk, photographed (desk_photo: a JPEG, decoded), maybe turned; `upscale`:
    the photo scaled to that size and given as a JPEG file's bytes (read at reduced size, as a file is)."""
    def photograph(written, rng):
        style = replace(random_page_style(rng, (1240, 1754), len(written)), tilt=0.0, darkest=1.0, noise=0.0,
                        jpeg=None)
        page = page_photo(written, digits, rng, style)
        photo = desk_photo(page, rng, size=size, corner_out=rng.random() < 0.2,
                           turn=int(turns[rng.integers(len(turns))]))
        if upscale is None:
            return photo.picture
        buffer = io.BytesIO()
        photo.picture.resize(upscale, Image.Resampling.BILINEAR).save(buffer, format="JPEG", quality=85)
        return buffer.getvalue()
    return photograph


def _closest(truth: str, read: list[str]) -> str:
    """The line read that is nearest the one written (when the lines found do not match one for one)."""
    return min(read, key=lambda text: edit_distance(text, truth)) if read else ""


def main() -> int:
    parser = benchmark_parser(__doc__)
    parser.add_argument("--pages", type=int, default=100, help="pages of numbers (default: 100)")
    parser.add_argument("--sign-pages", type=int, default=50, help="pages of numbers with signs (default: 50)")
    parser.add_argument("--desk-pages", type=int, default=50, help="12 MP photos of a page on a desk (default: 50)")
    parser.add_argument("--turned-pages", type=int, default=30, help="... of them turned sideways or upside down "
                        "(default: 30)")
    parser.add_argument("--hand-pages", type=int, default=50, help="pages in other hands (default: 50)")
    parser.add_argument("--big-pages", type=int, default=10, help="48 MP photos of a page on a desk (default: 10)")
    parser.add_argument("--size", default="2400x1800", help="photo size, WIDTHxHEIGHT (default: 2400x1800)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    size = tuple(int(v) for v in args.size.lower().split("x"))

    test_set, images, labels = real_test_digits()
    digits = {d: images[labels == d] for d in range(10)}
    whole = photo_of_page(digits, size)
    rows_wanted = [("numbers", whole, plain_texts, args.pages, args.seed),
                   ("numbers with signs", whole, sign_texts, args.sign_pages, args.seed + 1),
                   ("on a desk, 12 MP", photo_on_a_desk(digits), plain_texts, args.desk_pages, args.seed + 2),
                   ("on a desk, turned 90/180/270", photo_on_a_desk(digits, turns=(90, 180, 270)), plain_texts,
                    args.turned_pages, args.seed + 3),
                   ("other hands (templates)", photo_of_page(one_writer, size), plain_texts, args.hand_pages,
                    args.seed + 4),
                   ("on a desk, 48 MP", photo_on_a_desk(digits, upscale=(8000, 6000)), plain_texts, args.big_pages,
                    args.seed + 5)]
    with model_to_measure(args.checkpoint) as (checkpoint, _):
        predictor = Predictor.from_checkpoint(checkpoint)
        rows = [{"kind": kind, **read_pages(predictor, photograph, texts, count, seed)}
                for kind, photograph, texts, count, seed in rows_wanted if count]
    for row in rows:
        row["coverage"] = coverage(row.pop("judged"))
    print(f"# {machine()}; {test_set or 'mnist-5k held-out'} digits", file=sys.stderr)
    if args.json:
        print(json.dumps(rows))
        return 0
    table = [{**r, **{k: f"{r[k]:.1%}" for k in ("line_count", "lines_exact", "digits_right", "numbers_exact")},
              "seconds": f"{r['seconds']:.2f} (max {r['seconds_max']:.2f})"} for r in rows]
    print_table(table, [("kind", "pages"), ("line_count", "line count right"), ("lines_exact", "lines read exactly"),
                        ("digits_right", "digits right"), ("numbers_exact", "numbers read exactly"),
                        ("seconds", "seconds per page")])
    print(f"\nNumbers read and their confidence: accepted (confidence >= {REVIEW_BELOW}, not flagged for review) "
          "and wrong among them; the share of numbers to look at, least sure first, for 99.5% and 99.9% right")
    print_table([coverage_row(r["kind"], r["coverage"]) for r in rows],
                [("kind", "pages"), ("numbers", "numbers read"), ("wrong", "wrong"), ("accepted", "accepted"),
                 ("accepted_wrong", "of them wrong"), ("look_995", "look at for 99.5%"),
                 ("look_999", "look at for 99.9%")])
    return 0


def coverage_row(kind: str, covered: dict, threshold: float = REVIEW_BELOW) -> dict:
    accepted, wrong = covered["accepted"][threshold]
    share_wrong = covered["wrong"] / max(covered["numbers"], 1)
    return {"kind": kind, "numbers": covered["numbers"], "wrong": f"{share_wrong:.1%}",
            "accepted": f"{accepted:.1%}", "accepted_wrong": f"{wrong:.2%}",
            "look_995": f"{covered['look_at'][0.995]:.1%}", "look_999": f"{covered['look_at'][0.999]:.1%}"}


if __name__ == "__main__":
    raise SystemExit(main())
