"""Reading a page: its lines top to bottom, the numbers on each line, and the digits and signs of each number.

A picture of one number is a page with one line; a phone photo of a list of scores is a page with
several. A page lying on a desk is found in the photo and flattened first (paper.py); a page photographed
sideways or upside down is turned the way its digits read most surely. Each line found (lines.py) is read
by recognition (segment.py, line.py), signs people write in numbers are read by their shape and place on
the line (signs.py), and the characters of a line are grouped into numbers where a gap is clearly wider
than the gaps between a number's characters. Boxes are carried back to the photo's pixels.
"""

from __future__ import annotations

import contextlib

import cv2
import numpy as np
from PIL import Image

from digitlab.errors import ImageError
from digitlab.reading.confidence import REVIEW_BELOW, number_confidence
from digitlab.reading.elements import ReadLine, ReadNumber, ReadPage, Token
from digitlab.reading.framing import mnist_style
from digitlab.reading.images import to_grey
from digitlab.reading.line import Classifier, read_line
from digitlab.reading.lines import TextLine, find_lines
from digitlab.reading.paper import Paper, find_paper
from digitlab.reading.segment import cut_line
from digitlab.reading.signs import find_signs

NUMBER_GAP = 0.8       # in digit heights: characters further apart than this belong to two numbers ...
RELATIVE_GAP = 2.5     # ... and so do characters this many times further apart than the line's other gaps, if
LEAST_GAP = 0.45       # ... that is at least this far (digit heights)
SURE = 0.8             # a page whose blobs read this surely at 0 degrees (_sureness) is left as it is: the other
                       # three turns are looked at only for one that does not
TURNS = (0, 180, 90, 270)  # degrees, anticlockwise: the turns a page may need, likeliest first
TURN_MARGIN = 0.2      # a page is turned only where it reads this much more surely turned: pages turned in their
                       # photos read 0.3-0.9 more surely the right way up, short numbers upside down at most 0.07
                       # more ("886" reads as "988"; tests/test_reading.py, benchmarks/pages.py turned row)
SAMPLE_LINES = 3       # lines ...
SAMPLE_BLOBS = 24      # ... and blobs of ink on them, at most, read to judge how surely a turned page reads


def read_page(classifier: Classifier, picture: Image.Image, signs: bool = True, upright: bool = False,
              scale: float = 1.0, review_below: float = REVIEW_BELOW) -> ReadPage:
    """Every line of digits written in `picture` (either polarity, any size and light); `signs`: read the signs
    written in numbers (. , - / :) too, where without them they would be read as digits or refused; `upright`:
    turn a page photographed sideways or upside down (a drawing on the board is never); `scale`: photo pixels per
    pixel of `picture` (a photo decoded at reduced size), for the boxes; `review_below`: numbers read with less
    confidence than this are flagged for review."""
    paper = find_paper(picture)
    grey = to_grey(picture)
    if paper is not None:
        grey = paper.flatten(grey)
    turn, lines = _upright(classifier, grey) if upright else (0, None)
    page = _read_turned(classifier, grey, signs, turn, lines)
    for number in (n for line in page.lines for n in line.numbers):
        number.review = number.confidence < review_below
    if paper is not None or page.turn or scale != 1:
        _to_photo(page, grey.shape, paper, scale)
    page.paper = paper
    return page


def _read_turned(classifier: Classifier, grey: np.ndarray, signs: bool, turn: int,
                 lines: list[TextLine] | None = None) -> ReadPage:
    flat = _turned(grey, turn)
    page = _read_grey(classifier, flat, signs, find_lines(flat) if lines is None else lines)
    page.turn, page.flat = turn, flat
    return page


def _turned(grey: np.ndarray, turn: int) -> np.ndarray:
    return np.ascontiguousarray(np.rot90(grey, turn // 90)) if turn else grey


def _upright(classifier: Classifier, grey: np.ndarray) -> tuple[int, list[TextLine]]:
    """The turn that reads the page most surely, judged on SAMPLE_LINES of its lines (the inkiest) so that a
    page turned the wrong way costs a fraction of a whole page's reading; turn 0 where it reads surely enough
    (SURE). With the lines found at that turn."""
    scores, found = {}, {}
    for turn in TURNS:
        found[turn] = find_lines(_turned(grey, turn))
        scores[turn] = _sureness(classifier, found[turn])
        if turn == 0 and scores[0] >= SURE:
            break
    best = max(scores, key=scores.get)
    if scores[best] < scores[0] + TURN_MARGIN:  # 8s, 0s and 6s read well upside down: "886" reads as "988"
        best = 0
    return best, found[best]


def _sureness(classifier: Classifier, lines: list[TextLine]) -> float:
    """How surely the blobs of ink of the inkiest lines read as digits, each on its own (no cutting: a page turned
    the wrong way would make cuts without end): their mean probability, one refused as no digit counting 0."""
    inkiest = sorted(lines, key=lambda line: -float(line.ink.sum()))[:SAMPLE_LINES]
    blobs = []
    for line in inkiest:
        count, labels, stats, _ = cv2.connectedComponentsWithStats((line.ink > 0).astype(np.uint8), connectivity=8)
        for k in range(1, count):
            x, y, w, h = (int(v) for v in stats[k, :4])
            if h >= 0.5 * line.height and len(blobs) < SAMPLE_BLOBS:
                with contextlib.suppress(ImageError):  # a blob too faint to frame: not a digit to judge by
                    blobs.append(mnist_style(np.where(labels[y:y + h, x:x + w] == k, line.ink[y:y + h, x:x + w], 0)))
    if not blobs:
        return 0.0
    answers = classifier.predict_arrays(np.stack(blobs))
    return float(np.mean([a.probabilities[a.label] if a.is_digit else 0.0 for a in answers]))


def _to_photo(page: ReadPage, shape: tuple[int, int], paper: Paper | None, scale: float) -> None:
    """Carry every box from the page as read (flattened, turned) back to the photo: the box around it there, and
    its four corners where the page was flattened (they are no upright rectangle in the photo)."""
    steps = page.turn // 90
    for item in [*page.lines, *(n for line in page.lines for n in line.numbers), *page.digits]:
        x0, y0, x1, y1 = item.box
        points = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], np.float64)
        h, w = shape  # the page before it was turned
        for k in range(steps, 0, -1):  # undo each quarter turn: (x, y) on the turned page -> (width - y, x)
            width = w if (k - 1) % 2 == 0 else h
            points = np.stack([width - points[:, 1], points[:, 0]], axis=1)
        if paper is not None:
            points = paper.to_photo(points)
        points *= scale
        item.box = [int(np.floor(points[:, 0].min())), int(np.floor(points[:, 1].min())),
                    int(np.ceil(points[:, 0].max())), int(np.ceil(points[:, 1].max()))]
        if paper is not None:
            item.quad = [[int(round(x)), int(round(y))] for x, y in points]


def _read_grey(classifier: Classifier, grey: np.ndarray, signs: bool, lines: list[TextLine]) -> ReadPage:
    page, inputs = ReadPage(), []
    for line in lines:
        tokens = _read(classifier, line, signs)
        if not tokens:
            continue
        numbers = [_number(group) for group in _numbers(tokens, line.height)]
        page.lines.append(ReadLine(" ".join(n.text for n in numbers if n.text), _union([n.box for n in numbers]),
                                   numbers, confidence=float(np.prod([n.confidence for n in numbers]))))
        inputs += [t.input28 for t in tokens if t.input28 is not None]
    if inputs:
        page.inputs = np.stack(inputs)
    return page


def _read(classifier: Classifier, line: TextLine, signs: bool) -> list[Token]:
    """The characters of a line, left to right: its signs read by shape, the rest of its ink by the model."""
    found, ink = find_signs(line) if signs else ([], line.ink)
    tokens = read_line(classifier, cut_line(line, ink)) if ink.any() else []
    return _between_digits(sorted(tokens + found, key=lambda t: (t.left + t.right) / 2))


def _between_digits(tokens: list[Token]) -> list[Token]:
    """The characters less the signs that stand where no number has one: a number's signs stand between two
    digits (3.14, 12,50, 12/04, 13:45) or, a minus, before one (-5); two signs side by side are no number's
    (a page of noise read as '88::1::::1:::1,:::' before this)."""
    def digit(k: int) -> bool:
        return 0 <= k < len(tokens) and tokens[k].read.is_digit and not tokens[k].read.sign
    return [t for k, t in enumerate(tokens) if not t.read.sign
            or (digit(k + 1) and (t.read.digit == "-" or digit(k - 1)))]


def _numbers(tokens: list[Token], height: float) -> list[list[Token]]:
    """Characters grouped into numbers: a new number where the gap is clearly wider than the line's others.

    A sign binds the digits it was read between (signs.py reads . , / : only between two digits, - only before
    one), so a number is never split beside it: "3.14" written with a wide space after the point is one number."""
    gaps = [max(0, b.left - a.right) for a, b in zip(tokens, tokens[1:])]
    groups = [[tokens[0]]]
    for k, (gap, token) in enumerate(zip(gaps, tokens[1:])):
        others = gaps[:k] + gaps[k + 1:]
        usual = float(np.median(others)) if others else 0.0
        wide = gap > NUMBER_GAP * height or (gap > LEAST_GAP * height and gap > RELATIVE_GAP * max(usual, 1.0))
        if wide and not _binds(tokens[k], token):
            groups.append([])
        groups[-1].append(token)
    return groups


def _binds(left: Token, right: Token) -> bool:
    """Whether two neighbouring characters belong to one number whatever the gap between them: a sign and the
    digit it was read beside."""
    return (left.read.sign and right.read.is_digit) or (right.read.sign and right.read.digit != "-"
                                                         and left.read.is_digit)


def _number(tokens: list[Token]) -> ReadNumber:
    digits = [t.read for t in tokens]
    confidence, evidence = number_confidence(tokens)
    return ReadNumber("".join(d.text for d in digits), _union([d.box for d in digits]), digits, confidence=confidence,
                      evidence=evidence)


def _union(boxes: list[list[int]]) -> list[int]:
    return [min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes)]
