"""A writer's own style learnt on the drawing board: ~20 corrections, then a fine-tune.

    python benchmarks/adapt.py [--checkpoint PATH] [--writer NAME] [--corrections 20] [--json]

A simulated writer draws one digit in a way of their own that the base model misreads (WRITERS below: a
4 whose top is a loop, read as a 9; a 1 with a long flag, read as a 7, for a model trained without the
styled digits). Each drawing is made as the board's page sends it: a stroke drawing on the 280x280 canvas,
shrunk to the 140x140 grey picture the page posts. The writer corrects --corrections of them on a real
board (`POST /api/samples` with the right label, on 127.0.0.1, the board's SQLite file in a temporary
folder), starts a fine-tune (`POST /api/finetune`) and waits for it. Printed, before and after:

  the writer's new drawings   300 other drawings by the same hand, none of them corrected
  real MNIST test digits      the 5,000 in ../shared (refused = wrong), as the board's model reads them

and whether the board's guard accepted the new version (held-out accuracy must not drop over 0.5 points).
"""

from __future__ import annotations

import base64
import io
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from _common import benchmark_parser, digits_right, model_to_measure, pictures_right, print_table, real_test_digits
from _http import api
from digitlab.data.handwriting import Glyph, Hand, arc, render
from digitlab.inference.predictor import Predictor
from digitlab.web.app import create_app
from digitlab.web.board import Board
from digitlab.web.server import BackgroundServer


@dataclass
class Writer:
    """One hand: a way of writing a digit, and how this person's drawings of it vary."""
    glyph: Glyph
    slant: float
    stretch: float
    pen: float

    def drawings(self, count: int, seed: int) -> list[bytes]:
        """Drawings as the board's page sends them: a 280x280 canvas shrunk to a 140x140 grey PGM."""
        rng = np.random.default_rng(seed)
        out = []
        for _ in range(count):
            hand = Hand(slant=self.slant + rng.normal(0, 0.05), rotate=float(rng.normal(0, 3)),
                        stretch=self.stretch * rng.uniform(0.92, 1.08), wobble=float(rng.uniform(0.01, 0.035)),
                        pen=self.pen * rng.uniform(0.85, 1.15))
            ink, (mx, my) = render(self.glyph, float(rng.uniform(110, 190)), hand, rng)
            canvas = np.zeros((280, 280), np.float32)
            x, y = int(rng.uniform(70, 210) - mx), int(rng.uniform(70, 210) - my)
            top, left = max(0, y), max(0, x)
            piece = ink[top - y:280 - y, left - x:280 - x]
            canvas[top:top + piece.shape[0], left:left + piece.shape[1]] = piece
            grey = Image.fromarray(np.uint8(255 - 255 * canvas)).reduce(2)
            buffer = io.BytesIO()
            grey.save(buffer, format="PPM")
            out.append(buffer.getvalue())
        return out


WRITERS = {
    "4 looped top": Writer(Glyph("4", "looped top", ((( 0.5, 1.0), (0.5, 0.3), *arc(0.3, 0.3, 0.2, 0.28, 0, -360, 10),
                                                      (0.66, 0.58)),), 0.66), slant=0.1, stretch=1.0, pen=0.12),
    "1 long flag": Writer(Glyph("1", "long flag", (((0.0, 0.45), (0.36, 0.0), (0.34, 1.0)),), 0.5),
                          slant=0.15, stretch=1.0, pen=0.12),
}


def adapt(checkpoint: str, writer: Writer, corrections: int, folder: Path) -> dict:
    """Corrections on a real board, a fine-tune, and the readings before and after."""
    _, digits, labels = real_test_digits()
    label = int(writer.glyph.char)
    unseen = writer.drawings(300, seed=2)
    unseen_labels = [label] * len(unseen)
    base = Predictor.from_checkpoint(checkpoint)
    result = {"writer": writer.glyph.name, "corrections": corrections,
              "style_before": pictures_right(base, unseen, unseen_labels),
              "real_before": digits_right(base, digits, labels)}
    board = Board.open(folder / "board.sqlite", checkpoint=checkpoint)
    with BackgroundServer(create_app(board)) as server:
        port = int(server.url.rsplit(":", 1)[1])
        for drawing in writer.drawings(corrections, seed=1):
            url = "data:image/x-portable-graymap;base64," + base64.b64encode(drawing).decode()
            api(port, "/api/samples", {"image": url, "label": label})
        start = time.perf_counter()
        job = api(port, "/api/finetune", {})["job"]
        while (status := api(port, f"/api/finetune/{job}"))["state"] in ("queued", "running"):
            time.sleep(0.5)
        result.update(state=status["state"], seconds=time.perf_counter() - start,
                      held_out=f"{status['before']:.2%} -> {status['after']:.2%}" if status.get("after") else "-")
        serving = board.version_store.path(board.version_store.get(board.service.info.version))
    board.close()
    after = Predictor.from_checkpoint(serving)
    result.update(style_after=pictures_right(after, unseen, unseen_labels),
                  real_after=digits_right(after, digits, labels))
    return result


def main() -> int:
    parser = benchmark_parser(__doc__)
    parser.add_argument("--writer", choices=list(WRITERS), default="4 looped top")
    parser.add_argument("--corrections", type=int, default=20, help="drawings the writer corrects (default: 20)")
    args = parser.parse_args()
    with model_to_measure(args.checkpoint) as (checkpoint, scratch):
        result = adapt(checkpoint, WRITERS[args.writer], args.corrections, scratch)
    if args.json:
        print(json.dumps(result))
        return 0
    rows = [{"what": f"the writer's new drawings ({result['writer']})", "before": result["style_before"],
             "after": result["style_after"]},
            {"what": "real MNIST test digits", "before": result["real_before"], "after": result["real_after"]}]
    print_table([{**r, "before": f"{r['before']:.2%}", "after": f"{r['after']:.2%}",
                  "change": f"{(r['after'] - r['before']) * 100:+.2f}"} for r in rows],
                [("what", "read right"), ("before", "before"), ("after", "after"), ("change", "points")])
    print(f"\n{result['corrections']} corrections; fine-tune {result['state']} in {result['seconds']:.1f} s "
          f"(held-out {result['held_out']})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
