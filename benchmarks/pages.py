"""Reading whole pages: phone photos of lines of handwritten numbers, and the signs written in them.

    python benchmarks/pages.py [--checkpoint PATH] [--pages N] [--sign-pages N] [--size 2400x1800] [--json]

Each page (analysis/pictures.py: page_photo) is a 2400x1800 phone photo of 3-5 lines of 1-3 numbers
of 1-4 digits, the digits real MNIST test digits (the 5,000 in ../shared, else mnist-5k's held-out
1,000): ruled, squared or plain paper, blue or black ink, light falling off across the whole page
(to 0.45-0.8 of its brightness), up to 5 degrees of tilt, lines that sag or rise a little, sensor
noise and JPEG. Each is read as `digitlab read` reads a file, and scored:

  line count right   pages on which exactly as many lines were found as were written
  lines exact        lines whose text (numbers joined by one space) was read exactly
  digits right       1 - edit distance / length over every line's characters, spaces excluded
  seconds per page   the reading alone (decoding the JPEG included), on this machine's cores

The sign pages are made the same way, every number holding a sign: decimal points and commas
("3.14", "12,50"), a minus ("-5"), a date ("12/04"), a time ("13:45"); the share of those numbers
read exactly is printed. The digits and signs the pages are made of change with --seed; the pages
are the same for every model.
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np

from _common import benchmark_parser, edit_distance, machine, model_to_measure, print_table, real_test_digits
from digitlab.analysis.pictures import page_photo, random_page_style
from digitlab.inference.predictor import Predictor
from digitlab.reading.page import read_page

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


def read_pages(predictor, digits: dict, texts, count: int, size: tuple[int, int], seed: int) -> dict:
    """Pages written with `texts(rng)`, read back; the scores above, and per number how many were read exactly."""
    rng = np.random.default_rng(seed)
    counted = exact = lines = numbers_right = numbers = errors = characters = 0
    seconds = []
    for _ in range(count):
        written = texts(rng)
        photo = page_photo(written, digits, rng, random_page_style(rng, size, len(written)))
        start = time.perf_counter()
        page = read_page(predictor, photo.picture)
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
    return {"pages": count, "line_count": counted / count, "lines_exact": exact / lines,
            "digits_right": 1 - errors / characters, "numbers_exact": numbers_right / numbers,
            "seconds": float(np.mean(seconds)), "seconds_max": float(np.max(seconds))}


def _closest(truth: str, read: list[str]) -> str:
    """The line read that is nearest the one written (when the lines found do not match one for one)."""
    return min(read, key=lambda text: edit_distance(text, truth)) if read else ""


def main() -> int:
    parser = benchmark_parser(__doc__)
    parser.add_argument("--pages", type=int, default=100, help="pages of numbers (default: 100)")
    parser.add_argument("--sign-pages", type=int, default=50, help="pages of numbers with signs (default: 50)")
    parser.add_argument("--size", default="2400x1800", help="photo size, WIDTHxHEIGHT (default: 2400x1800)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    size = tuple(int(v) for v in args.size.lower().split("x"))

    test_set, images, labels = real_test_digits()
    digits = {d: images[labels == d] for d in range(10)}
    with model_to_measure(args.checkpoint) as (checkpoint, _):
        predictor = Predictor.from_checkpoint(checkpoint)
        rows = [{"kind": "numbers", **read_pages(predictor, digits, plain_texts, args.pages, size, args.seed)}]
        if args.sign_pages:
            rows.append({"kind": "numbers with signs",
                         **read_pages(predictor, digits, sign_texts, args.sign_pages, size, args.seed + 1)})
    print(f"# {machine()}; {test_set or 'mnist-5k held-out'} digits", file=sys.stderr)
    if args.json:
        print(json.dumps(rows))
        return 0
    table = [{**r, **{k: f"{r[k]:.1%}" for k in ("line_count", "lines_exact", "digits_right", "numbers_exact")},
              "seconds": f"{r['seconds']:.2f} (max {r['seconds_max']:.2f})"} for r in rows]
    print_table(table, [("kind", "pages"), ("line_count", "line count right"), ("lines_exact", "lines read exactly"),
                        ("digits_right", "digits right"), ("numbers_exact", "numbers read exactly"),
                        ("seconds", "seconds per page")])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
