"""How far a number's confidence can be trusted: fit reading/confidence.py's calibration on held-out pages, and
check it on others.

    python benchmarks/confidence.py [--checkpoint PATH] [--pages N] [--seed S] [--figure PNG] [--json]

Pages are made as benchmarks/pages.py makes them (plain pages, pages with signs, pages on a desk, pages in
other hands), in two sets that share neither digits nor pages with each other: the fit pages, written with
the first half of the real test digits (seeds from 1000), and the check pages, with the second half (seeds
from 2000). The logistic regression of reading/confidence.py is fitted on every number read on the fit pages
(right: one of the numbers written, in its place in reading order, benchmarks/pages.py: judge_numbers) and its
coefficients printed, ready to be pasted into COEFFICIENTS; then, on the check pages, with the coefficients the
library has now:

  reliability        per band of confidence, the numbers in it, their mean confidence and the share right
                     (a calibrated confidence has the two equal); ECE, their gap weighted by the band's numbers
  coverage           per threshold, the share of numbers accepted and the share of those that are wrong;
                     and the share a person must look at for 99.5% and 99.9% of the numbers read to be right
  review threshold   the least threshold at which at most 0.5% of the accepted numbers are wrong

--figure writes the reliability diagram and the accuracy-against-coverage curve (docs/figures/).
"""

from __future__ import annotations

import json
import sys

import numpy as np

from _common import benchmark_parser, machine, model_to_measure, print_table, real_test_digits
from digitlab.data.handwriting import one_writer
from digitlab.inference.predictor import Predictor
from digitlab.reading.confidence import COEFFICIENTS, FEATURES, calibrated, fit
from pages import coverage, photo_of_page, photo_on_a_desk, plain_texts, read_pages, sign_texts

BANDS = (0.0, 0.5, 0.8, 0.9, 0.95, 0.98, 0.99, 1.0001)  # confidence bands of the reliability table
WRONG_ALLOWED = 0.005  # of the accepted numbers: the review threshold keeps the wrong ones at most this share


def judged_pages(predictor, digits: dict, pages: int, seed: int) -> list:
    """Every number read on `pages` pages of each kind, with whether it is right."""
    size = (2400, 1800)
    kinds = [(photo_of_page(digits, size), plain_texts), (photo_of_page(digits, size), sign_texts),
             (photo_on_a_desk(digits), plain_texts), (photo_of_page(one_writer, size), plain_texts)]
    judged = []
    for k, (photograph, texts) in enumerate(kinds):
        judged += read_pages(predictor, photograph, texts, pages, seed + k)["judged"]
    return judged


def reliability(confidence: np.ndarray, right: np.ndarray) -> tuple[list[dict], float]:
    rows, gap = [], 0.0
    for low, high in zip(BANDS, BANDS[1:]):
        inside = (confidence >= low) & (confidence < high)
        if inside.any():
            mean, share = float(confidence[inside].mean()), float(right[inside].mean())
            rows.append({"band": f"{low:.2f}-{min(high, 1):.2f}", "numbers": int(inside.sum()), "confidence": mean,
                         "right": share})
            gap += inside.sum() * abs(mean - share)
    return rows, gap / max(len(confidence), 1)


def review_threshold(confidence: np.ndarray, right: np.ndarray) -> float:
    """The least threshold at which at most WRONG_ALLOWED of the numbers at or above it are wrong."""
    for threshold in np.unique(confidence):
        accepted = confidence >= threshold
        if (~right[accepted]).mean() <= WRONG_ALLOWED:
            return float(threshold)
    return 1.0


def draw(path: str, confidence: np.ndarray, right: np.ndarray, table: list[dict]) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from digitlab.utils.files import atomic_write
    figure, (left, right_axes) = plt.subplots(1, 2, figsize=(9, 3.8))
    left.plot([0, 1], [0, 1], color="grey", linestyle=":", label="calibrated")
    left.plot([r["confidence"] for r in table], [r["right"] for r in table], "o-", label="numbers read")
    for r in table:
        left.annotate(str(r["numbers"]), (r["confidence"], r["right"]), textcoords="offset points", xytext=(4, -10),
                      fontsize=7)
    left.set(xlabel="confidence (mean in band)", ylabel="share read exactly", title="Reliability", xlim=(0, 1.02),
             ylim=(0, 1.02))
    left.legend(loc="upper left", fontsize=8)
    order = np.argsort(-confidence)
    accepted = np.arange(1, len(order) + 1) / len(order)
    wrong = np.cumsum(~right[order]) / np.arange(1, len(order) + 1)
    right_axes.plot(accepted, 100 * wrong)
    right_axes.axhline(100 * WRONG_ALLOWED, color="grey", linestyle=":", label="0.5% wrong")
    right_axes.set(xlabel="share of numbers accepted (the surest first)", ylabel="% of accepted that are wrong",
                   title="Accuracy against coverage", xlim=(0, 1))
    right_axes.legend(loc="upper left", fontsize=8)
    figure.tight_layout()
    with atomic_write(path) as handle:
        figure.savefig(handle, format="png", dpi=90)
    plt.close(figure)


def main() -> int:
    parser = benchmark_parser(__doc__)
    parser.add_argument("--pages", type=int, default=30, help="pages of each kind in each set (default: 30)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--figure", metavar="PNG", help="write the reliability diagram and coverage curve here")
    args = parser.parse_args()

    test_set, images, labels = real_test_digits()
    half = len(labels) // 2
    fit_digits = {d: images[:half][labels[:half] == d] for d in range(10)}
    check_digits = {d: images[half:][labels[half:] == d] for d in range(10)}
    with model_to_measure(args.checkpoint) as (checkpoint, _):
        predictor = Predictor.from_checkpoint(checkpoint)
        fitting = judged_pages(predictor, fit_digits, args.pages, 1000 + args.seed)
        checking = judged_pages(predictor, check_digits, args.pages, 2000 + args.seed)
    rows = np.stack([n.evidence for n, _ in fitting])
    fitted = fit(rows, np.array([ok for _, ok in fitting]))

    confidence = np.array([n.confidence for n, _ in checking])
    right = np.array([ok for _, ok in checking], bool)
    table, ece = reliability(confidence, right)
    covered = coverage(checking)
    threshold = review_threshold(confidence, right)
    refit = calibrated(np.stack([n.evidence for n, _ in checking]), fitted)
    print(f"# {machine()}; {test_set or 'mnist-5k held-out'} digits; {len(fitting)} numbers fitted on, "
          f"{len(checking)} checked", file=sys.stderr)
    result = {"coefficients": dict(zip([*FEATURES, "intercept"], fitted.round(4).tolist())),
              "reliability": table, "ece": ece, "ece_fitted_now": reliability(refit, right)[1],
              "coverage": covered, "review_threshold": threshold}
    if args.figure:
        draw(args.figure, confidence, right, table)
    if args.json:
        print(json.dumps(result, default=str))
        return 0
    print("fitted COEFFICIENTS (" + ", ".join([*FEATURES, "intercept"]) + "):")
    print("    np.array([" + ", ".join(f"{v:.4g}" for v in fitted) + "])")
    print(f"(the library's now: {np.array2string(COEFFICIENTS, precision=4)})\n")
    print_table([{**r, "confidence": f"{r['confidence']:.3f}", "right": f"{r['right']:.1%}"} for r in table],
                [("band", "confidence band"), ("numbers", "numbers"), ("confidence", "mean confidence"),
                 ("right", "read exactly")])
    print(f"\nECE {ece:.4f} (with the coefficients just fitted: {result['ece_fitted_now']:.4f})\n")
    print_coverage(covered)
    print(f"\nreview threshold for <= {WRONG_ALLOWED:.1%} wrong among accepted: {threshold:.3f}")
    return 0


def print_coverage(covered: dict) -> None:
    print_table([{"threshold": f"{t:.2f}", "accepted": f"{a:.1%}", "wrong": f"{w:.2%}"}
                 for t, (a, w) in covered["accepted"].items()],
                [("threshold", "confidence at least"), ("accepted", "numbers accepted"),
                 ("wrong", "of them wrong")])
    look = covered["look_at"]
    print(f"{covered['numbers']} numbers read, {covered['wrong']} wrong; to reach 99.5% right look at "
          f"{look[0.995]:.1%} of them, 99.9%: {look[0.999]:.1%}")


if __name__ == "__main__":
    raise SystemExit(main())
