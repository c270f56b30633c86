"""Reading pictures: from a photo, a scan or a drawing to the digits a model reads, and back.

  images.py    files and bytes decoded safely; grey levels
  ink.py       ink separated from paper: any light, paper, pen or polarity; ruled lines and specks removed
  framing.py   ink -> MNIST-style 28x28 digits, and where each lies in the picture
  segment.py   where a line of ink may be cut into digits
  line.py      a line of digits read with a classifier (segmentation by recognition)
  refusal.py   the rule by which a model answers "not a digit"

NumPy, Pillow, SciPy, scikit-image and OpenCV only (no torch): the lowest layer above utils, used by
data (non-digits, augmentation that frames like MNIST), inference, the board and the commands.
"""
