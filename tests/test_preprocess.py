"""MNIST-style preprocessing of drawings: invert, crop, fit 20x20, centre by mass."""

import io

import numpy as np
import pytest
from PIL import Image, ImageDraw

from digitlab.data.datasets import load_dataset
from digitlab.errors import ImageError
from digitlab.inference.predictor import Predictor
from digitlab.reading.framing import mnist_style, preprocess_image


def draw_digit(digit28: np.ndarray, canvas=280, scale=8, at=(40, 40), dark_on_light=True, mode="L") -> Image.Image:
    """Render an MNIST digit large on a canvas, as a person would draw it (black ink on white)."""
    big = Image.fromarray(digit28).resize((28 * scale, 28 * scale), Image.Resampling.BICUBIC)
    ink = np.asarray(big)
    board = np.zeros((canvas, canvas), np.uint8)
    y, x = at
    h, w = min(ink.shape[0], canvas - y), min(ink.shape[1], canvas - x)
    board[y:y + h, x:x + w] = ink[:h, :w]
    if dark_on_light:
        board = 255 - board
    return Image.fromarray(board).convert(mode)


def centre_of_mass(image: np.ndarray) -> tuple[float, float]:
    ys, xs = np.indices(image.shape)
    mass = image.astype(float).sum()
    return (ys * image).sum() / mass, (xs * image).sum() / mass


@pytest.fixture(scope="module")
def digits():
    data = load_dataset("mnist-5k")
    return data.test.images[:40, 0].numpy(), data.test.labels[:40].numpy()


def test_output_is_mnist_style(digits):
    out = preprocess_image(draw_digit(digits[0][0]))
    assert out.shape == (28, 28) and out.dtype == np.uint8
    assert out.max() == 255 and out[0].max() == 0 and out[:, 0].max() == 0  # light ink, dark border
    rows, cols = np.nonzero(out > 0.2 * 255)
    assert max(rows.max() - rows.min(), cols.max() - cols.min()) <= 21  # fits the 20x20 box
    cy, cx = centre_of_mass(out)
    assert abs(cy - 14) < 1 and abs(cx - 14) < 1


def test_preprocessing_an_mnist_digit_gives_it_back(digits):
    images, _ = digits
    out = np.stack([mnist_style(d / 255.0) for d in images]).astype(float)
    corr = np.corrcoef(out.ravel(), images.astype(float).ravel())[0, 1]
    assert corr > 0.98


def test_off_centre_and_large_matches_centred(digits, trained_run):
    predictor = Predictor.from_checkpoint(trained_run)
    images, labels = digits
    centred = np.stack([preprocess_image(draw_digit(d, scale=6, at=(56, 56))) for d in images])
    corner = np.stack([preprocess_image(draw_digit(d, canvas=400, scale=13, at=(20, 30))) for d in images])
    assert np.abs(centred.astype(int) - corner.astype(int)).mean() < 6  # grey levels out of 255
    a = [p.label for p in predictor.predict_arrays(centred)]
    b = [p.label for p in predictor.predict_arrays(corner)]
    assert a == b
    assert np.mean(np.array(a) == labels) > 0.85


@pytest.mark.parametrize("at", [(0, 0), (0, 196), (196, 0), (196, 196), (150, 100)])
def test_a_small_digit_anywhere_on_the_canvas_is_found(digits, at):
    """A regression: on an evenly lit canvas a digit in the lower half was reported blank (the ink contrast was
    float64, and Pillow read its buffer as 32-bit floats: half the picture)."""
    for digit in digits[0][:10]:
        centred = preprocess_image(draw_digit(digit, scale=3, at=(98, 98)))
        placed = preprocess_image(draw_digit(digit, scale=3, at=at))
        assert np.abs(centred.astype(int) - placed.astype(int)).mean() < 3


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "L"])
def test_colour_modes_and_light_on_dark(digits, mode):
    light = preprocess_image(draw_digit(digits[0][1], dark_on_light=False, mode=mode))
    dark = preprocess_image(draw_digit(digits[0][1], dark_on_light=True, mode=mode))
    assert np.abs(light.astype(int) - dark.astype(int)).max() <= 2


def test_a_browser_canvas_reads_as_its_grey_image(digits):
    """A canvas's toDataURL is an opaque RGBA PNG: it gives exactly what the same drawing in grey gives."""
    drawing = draw_digit(digits[0][4])
    grey = preprocess_image(drawing)
    for fmt in ("RGBA", "LA", "P"):
        buffer = io.BytesIO()
        drawing.convert(fmt).save(buffer, "PNG")
        assert np.array_equal(preprocess_image(buffer.getvalue()), grey), fmt


def test_transparent_canvas_strokes(digits):
    ink = np.asarray(draw_digit(digits[0][2], dark_on_light=False))
    rgba = np.zeros((*ink.shape, 4), np.uint8)
    rgba[..., 3] = ink  # black strokes whose alpha is the ink, on a fully transparent canvas
    out = preprocess_image(Image.fromarray(rgba, "RGBA"))
    reference = preprocess_image(draw_digit(digits[0][2]))
    assert np.abs(out.astype(int) - reference.astype(int)).mean() < 3


def test_png_and_jpeg_bytes(digits):
    for fmt in ("PNG", "JPEG"):
        buffer = io.BytesIO()
        draw_digit(digits[0][3]).convert("RGB").save(buffer, fmt)
        out = preprocess_image(buffer.getvalue())
        assert out.shape == (28, 28) and out.max() > 200


def test_blank_and_bad_images(tmp_path):
    Image.new("L", (100, 100), 255).save(tmp_path / "blank.png")
    with pytest.raises(ImageError, match="blank.png.*blank"):
        preprocess_image(tmp_path / "blank.png")
    (tmp_path / "notes.png").write_text("this is not an image")
    with pytest.raises(ImageError, match="notes.png: not a readable image"):
        preprocess_image(tmp_path / "notes.png")
    with pytest.raises(ImageError, match="no such file"):
        preprocess_image(tmp_path / "missing.png")


def test_oversized_image_is_refused_before_decoding(tmp_path):
    Image.new("L", (5000, 4000), 255).save(tmp_path / "huge.png")
    with pytest.raises(ImageError, match="larger than"):
        preprocess_image(tmp_path / "huge.png")


def test_thin_line_digit_one():
    board = Image.new("L", (280, 280), 255)
    ImageDraw.Draw(board).line([(150, 30), (140, 250)], fill=0, width=18)
    out = preprocess_image(board)
    rows, cols = np.nonzero(out > 50)
    assert rows.max() - rows.min() >= 18 and cols.max() - cols.min() <= 8  # tall and thin, like MNIST's ones


# -- ink and paper: photos, scans and other pens (digitlab/reading/ink.py) ---------------------------

@pytest.fixture(scope="module")
def clean_inputs(digits):
    from digitlab.analysis import pictures
    return [preprocess_image(pictures.clean(d)) for d in digits[0][:20]]


def _distance(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(int) - b.astype(int)).mean())  # grey levels out of 255


def test_a_clean_digit_reads_as_before_ink_separation(digits, clean_inputs):
    """Black on white paper, the 28x28 stays what MNIST's steps alone made of it (1 - grey is the ink)."""
    from digitlab.analysis import pictures
    for digit, ours in zip(digits[0][:20], clean_inputs):
        before = mnist_style(1.0 - np.asarray(pictures.clean(digit).convert("L"), np.float32) / 255)
        assert _distance(ours, before) < 1.0 and np.abs(ours.astype(int) - before.astype(int)).max() <= 40


@pytest.mark.parametrize("condition, bound", [("side_light", 2.0), ("ruled_paper", 4.0), ("blue_ink_jpeg", 3.0),
                                              ("thinner", 8.0), ("thicker", 8.0)])
def test_photos_and_other_pens_land_close_to_the_clean_input(digits, clean_inputs, condition, bound):
    from digitlab.analysis import pictures
    make = {"thinner": lambda d: pictures.pen_width(d, -0.5), "thicker": lambda d: pictures.pen_width(d, 0.5)}.get(
        condition, getattr(pictures, condition, None))
    distances = [_distance(preprocess_image(make(d)), clean) for d, clean in zip(digits[0][:20], clean_inputs)]
    assert np.mean(distances) < bound, (condition, np.mean(distances))
    if condition in ("side_light", "ruled_paper"):  # without separating ink from paper they would not
        naive = [_distance(mnist_style(1.0 - np.asarray(make(d).convert("L"), np.float32) / 255), clean)
                 for d, clean in zip(digits[0][:20], clean_inputs)]
        assert np.mean(naive) > 3 * bound


@pytest.mark.parametrize("condition", ["scan8", "scan10", "marker"])
def test_blurred_scans_and_markers_are_seen_on_evenly_lit_paper(digits, condition):
    """A small scan enlarged blurs a loop into a blob a third of the picture wide; the paper's brightness must
    not take that blob for a shadow (it did with a closing a third of the picture wide: 8x8 scans read worse)."""
    from digitlab.analysis import pictures
    from digitlab.reading.ink import paper_brightness
    make = {"scan8": lambda d: pictures.low_resolution(d, 8), "scan10": lambda d: pictures.low_resolution(d, 10),
            "marker": lambda d: pictures.pen_width(d, 1.0)}[condition]
    for digit in digits[0][:20]:
        grey = np.asarray(make(digit).convert("L"), np.float32) / 255
        assert isinstance(paper_brightness(grey), float)  # one brightness: the paper is evenly lit
    side_lit = np.asarray(pictures.side_light(digits[0][0]).convert("L"), np.float32) / 255
    paper = paper_brightness(side_lit)
    assert paper[:, -5:].mean() - paper[:, :5].mean() > 0.3  # ... while light falling across a page is followed


@pytest.mark.parametrize("shape", [(140, 140), (70, 53), (1, 40), (9, 1)])
def test_the_opencv_steps_are_scipys_pixel_for_pixel(shape):
    # ink.py runs the grey closing and the connected components in OpenCV for speed; they must stay the operations
    # the module describes (SciPy's), whatever the picture's shape or the window's size
    from scipy import ndimage

    from digitlab.reading import ink
    rng = np.random.default_rng(sum(shape))
    grey = rng.random(shape, dtype=np.float32) ** 3
    for size in [(3, 3), (7, 7), (35, 35)]:
        assert np.array_equal(ink._grey_closing(grey, size), ndimage.grey_closing(grey, size=size, mode="nearest"))
    mask = grey > 0.5
    labels, count = ink._label(mask)
    expected, expected_count = ndimage.label(mask, structure=np.ones((3, 3), bool))
    assert count == expected_count
    # the same blobs, whatever their numbering: each label of one maps to exactly one label of the other
    pairs = set(zip(labels[mask].tolist(), expected[mask].tolist()))
    assert len(pairs) == count and not labels[~mask].any()


def test_a_small_digit_on_a_large_page_is_read_as_closely_as_alone(digits):
    # a phone photo of a page: 4000x3000 pixels, the digit 112 across; averaged down whole, it was 5 pixels tall
    from digitlab.analysis.pictures import clean
    from digitlab.reading.framing import read_as_mnist
    from digitlab.reading.images import to_grey
    for digit in digits[0][:5]:
        alone = preprocess_image(clean(digit))
        page = Image.new("L", (4000, 3000), 255)
        page.paste(clean(digit).convert("L"), (1500, 900))
        input28, (x0, y0, side) = read_as_mnist(to_grey(page))
        assert np.abs(input28.astype(int) - alone).mean() < 8
        assert abs(x0 - 1500) < 10 and abs(y0 - 900) < 10 and 100 < side < 130  # framed where it lies on the page


def test_pages_without_a_digit_are_refused():
    from digitlab.analysis import pictures
    for page in (pictures.blank_page(), pictures.blank_page(ruled=True)):
        with pytest.raises(ImageError, match="no digit found"):
            preprocess_image(page)
    grid = np.full((200, 200), 250, np.uint8)
    grid[::25] = 140
    grid[:, ::25] = 140  # squared paper
    with pytest.raises(ImageError, match="no digit found"):
        preprocess_image(Image.fromarray(grid))


@pytest.mark.parametrize("kind", ["dot", "line", "filled square", "noise", "empty", "one pixel", "thin strip"])
def test_degenerate_pictures_never_fail_unexpectedly(kind):
    rng = np.random.default_rng(0)
    page = np.full((120, 90), 255, np.uint8)
    if kind == "dot":
        page[60:63, 40:43] = 0
    elif kind == "line":
        page[20:100, 44:47] = 0
    elif kind == "filled square":
        page[20:100, 10:80] = 0
    elif kind == "noise":
        page = rng.integers(0, 256, page.shape, dtype=np.uint8)
    elif kind == "one pixel":
        page = np.zeros((1, 1), np.uint8)
    elif kind == "thin strip":
        page = rng.integers(0, 256, (1, 300), dtype=np.uint8)
    try:
        out = preprocess_image(Image.fromarray(page))
    except ImageError as exc:  # a clear "no digit", never another exception
        assert "no digit" in str(exc) or "blank" in str(exc)
    else:
        assert out.shape == (28, 28) and out.dtype == np.uint8 and out.max() > 0


def test_predict_show_input_writes_what_the_model_read(trained_run, digits, tmp_path):
    from digitlab.analysis import pictures
    from tests.helpers import run_cli
    paths = []
    for name, picture in (("clean", pictures.clean(digits[0][0])), ("lamp", pictures.side_light(digits[0][0]))):
        picture.save(tmp_path / f"{name}.png")
        paths.append(str(tmp_path / f"{name}.png"))
    result = run_cli("predict", "--checkpoint", str(trained_run), *paths, "--show-input", str(tmp_path / "seen"),
                     "--json")
    assert result.returncode == 0, result.stderr
    seen = {p.name: np.asarray(Image.open(p)) for p in (tmp_path / "seen").glob("*.png")}
    assert set(seen) == {"clean.input.png", "lamp.input.png"}
    assert seen["clean.input.png"].shape == (28, 28)
    assert np.array_equal(seen["clean.input.png"], preprocess_image(paths[0]))
    assert _distance(seen["lamp.input.png"], seen["clean.input.png"]) < 3
