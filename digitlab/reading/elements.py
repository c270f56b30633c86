"""What reading a picture gives: a page of lines, numbers and characters, each with its box in the photo.

The output types of every stage of reading/ (as doctr's io/elements.py): the recogniser (line.py) makes
characters, the sign reader (signs.py) makes characters too, and the page (page.py) groups them into numbers
and lines. Each `to_dict()` is what `digitlab read --json` prints.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from digitlab.reading.paper import Paper


@dataclass
class ReadDigit:
    """One character read: a digit, a mark refused as no digit (is_digit False), or a sign (sign True)."""
    digit: str
    probability: float
    box: list[int]                 # [x0, y0, x1, y1] in the picture's pixels
    is_digit: bool = True
    digit_score: float | None = None
    sign: bool = False
    quad: list[list[int]] | None = None  # the box's four corners in the photo where it is not upright there
    alternatives: list[dict] = field(default_factory=list)  # its likeliest readings, {"digit", "probability"}

    @property
    def text(self) -> str:
        """What it adds to the text read: its character, or nothing for a mark that is no digit."""
        return self.digit if self.is_digit or self.sign else ""

    def to_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if k != "quad" or v is not None}


@dataclass
class Token:
    """A character read on a line, with where it lies along the line (columns of the line's pixels), the
    28x28 the model read (None for a sign), and the probability that the cuts around it are right (line.py)."""
    read: ReadDigit
    left: int
    right: int
    input28: np.ndarray | None = None
    kept: float = 1.0


@dataclass
class ReadNumber:
    """A number read: `confidence`, the probability that it was read exactly (confidence.py); `review`, that
    it is too unsure to go unchecked."""
    text: str
    box: list[int]
    digits: list[ReadDigit]
    quad: list[list[int]] | None = None
    confidence: float = 1.0
    review: bool = False
    evidence: np.ndarray | None = field(default=None, repr=False)  # what the confidence was made of (confidence.py)

    def to_dict(self) -> dict:
        return {"text": self.text, "box": self.box, **_quad(self), "confidence": round(self.confidence, 4),
                "review": self.review, "digits": [d.to_dict() for d in self.digits]}


@dataclass
class ReadLine:
    """A line read: `confidence`, the probability that every number on it was read exactly."""
    text: str
    box: list[int]
    numbers: list[ReadNumber]
    quad: list[list[int]] | None = None
    confidence: float = 1.0

    def to_dict(self) -> dict:
        return {"text": self.text, "box": self.box, **_quad(self), "confidence": round(self.confidence, 4),
                "numbers": [n.to_dict() for n in self.numbers]}


def _quad(item) -> dict:
    return {} if item.quad is None else {"quad": item.quad}


@dataclass
class ReadPage:
    """What a picture says: its lines top to bottom; `inputs` holds the 28x28 the model read for each digit
    (and refused mark), in reading order."""
    lines: list[ReadLine] = field(default_factory=list)
    inputs: np.ndarray = field(default_factory=lambda: np.zeros((0, 28, 28), np.uint8))
    turn: int = 0               # degrees the page was turned (anticlockwise) to read it the right way up
    paper: Paper | None = None  # the page found in the photo and flattened, None where the picture is all paper
    flat: np.ndarray | None = field(default=None, repr=False)  # grey levels of the page as read (flattened, turned)

    @property
    def text(self) -> str:
        return "\n".join(line.text for line in self.lines)

    @property
    def digits(self) -> list[ReadDigit]:
        return [d for line in self.lines for number in line.numbers for d in number.digits]

    def to_dict(self) -> dict:
        return {"text": self.text, "turn": self.turn, "paper": self.paper.to_dict() if self.paper else None,
                "digits": [d.to_dict() for d in self.digits], "lines": [line.to_dict() for line in self.lines]}
