"""Reading a page: its lines top to bottom, the numbers on each line, and the digits and signs of each number.

A picture of one number is a page with one line; a phone photo of a list of scores is a page with
several. Each line found (lines.py) is read by recognition (segment.py, line.py), signs people write in
numbers are read by their shape and place on the line (signs.py), and the characters of a line are
grouped into numbers where a gap is clearly wider than the gaps between a number's characters.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from digitlab.reading.images import to_grey
from digitlab.reading.line import Classifier, ReadDigit, Token, read_line
from digitlab.reading.lines import TextLine, find_lines
from digitlab.reading.segment import cut_line
from digitlab.reading.signs import find_signs

NUMBER_GAP = 0.8       # in digit heights: characters further apart than this belong to two numbers ...
RELATIVE_GAP = 2.5     # ... and so do characters this many times further apart than the line's other gaps, if
LEAST_GAP = 0.45       # ... that is at least this far (digit heights)


@dataclass
class ReadNumber:
    text: str
    box: list[int]
    digits: list[ReadDigit]

    def to_dict(self) -> dict:
        return {"text": self.text, "box": self.box, "digits": [d.to_dict() for d in self.digits]}


@dataclass
class ReadLine:
    text: str
    box: list[int]
    numbers: list[ReadNumber]

    def to_dict(self) -> dict:
        return {"text": self.text, "box": self.box, "numbers": [n.to_dict() for n in self.numbers]}


@dataclass
class ReadPage:
    """What a picture says: its lines top to bottom; `inputs` holds the 28x28 the model read for each digit
    (and refused mark), in reading order."""
    lines: list[ReadLine] = field(default_factory=list)
    inputs: np.ndarray = field(default_factory=lambda: np.zeros((0, 28, 28), np.uint8))

    @property
    def text(self) -> str:
        return "\n".join(line.text for line in self.lines)

    @property
    def digits(self) -> list[ReadDigit]:
        return [d for line in self.lines for number in line.numbers for d in number.digits]

    def to_dict(self) -> dict:
        return {"text": self.text, "digits": [d.to_dict() for d in self.digits],
                "lines": [line.to_dict() for line in self.lines]}


def read_page(classifier: Classifier, picture: Image.Image, signs: bool = True) -> ReadPage:
    """Every line of digits written in `picture` (either polarity, any size and light); `signs`: read the signs
    written in numbers (. , - / :) too, where without them they would be read as digits or refused."""
    page, inputs = ReadPage(), []
    for line in find_lines(to_grey(picture)):
        tokens = _read(classifier, line, signs)
        if not tokens:
            continue
        numbers = [_number(group) for group in _numbers(tokens, line.height)]
        page.lines.append(ReadLine(" ".join(n.text for n in numbers if n.text), _union([n.box for n in numbers]),
                                   numbers))
        inputs += [t.input28 for t in tokens if t.input28 is not None]
    if inputs:
        page.inputs = np.stack(inputs)
    return page


def _read(classifier: Classifier, line: TextLine, signs: bool) -> list[Token]:
    """The characters of a line, left to right: its signs read by shape, the rest of its ink by the model."""
    found, ink = find_signs(line) if signs else ([], line.ink)
    tokens = read_line(classifier, cut_line(line, ink)) if ink.any() else []
    return sorted(tokens + found, key=lambda t: (t.left + t.right) / 2)


def _numbers(tokens: list[Token], height: float) -> list[list[Token]]:
    """Characters grouped into numbers: a new number where the gap is clearly wider than the line's others."""
    gaps = [max(0, b.left - a.right) for a, b in zip(tokens, tokens[1:])]
    groups = [[tokens[0]]]
    for k, (gap, token) in enumerate(zip(gaps, tokens[1:])):
        others = gaps[:k] + gaps[k + 1:]
        usual = float(np.median(others)) if others else 0.0
        if gap > NUMBER_GAP * height or (gap > LEAST_GAP * height and gap > RELATIVE_GAP * max(usual, 1.0)):
            groups.append([])
        groups[-1].append(token)
    return groups


def _number(tokens: list[Token]) -> ReadNumber:
    digits = [t.read for t in tokens]
    return ReadNumber("".join(d.text for d in digits), _union([d.box for d in digits]), digits)


def _union(boxes: list[list[int]]) -> list[int]:
    return [min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes)]
