"""Every notebook in examples/ runs top to bottom (with small settings in its parameters cell), and is committed
without outputs."""

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
SMALL = {  # the parameters cell's values for the test: the same code, less of it
    "01_digit_recogniser.ipynb": "EPOCHS = 1\nSEED = 1",
    "02_conv_variants_and_lessons.ipynb": "SEED = 0",
    "03_numpy_cnn_from_scratch.ipynb": "EPOCHS = 1\nSEED = 0",
    "04_mnist_cnn_tsne_and_board_api.ipynb": "EPOCHS = 1\nPOINTS = 200",
    "05_folders_and_the_zoo.ipynb": "PER_CLASS = 30\nEPOCHS = 2",
}


def test_every_notebook_is_tested_and_committed_without_outputs():
    names = sorted(p.name for p in EXAMPLES.glob("*.ipynb"))
    assert names == sorted(SMALL)
    for name in names:
        book = nbformat.read(EXAMPLES / name, as_version=4)
        nbformat.validate(book)
        code = [cell for cell in book.cells if cell.cell_type == "code"]
        assert all(not cell.outputs and cell.execution_count is None for cell in code), name
        assert sum("parameters" in cell.metadata.get("tags", []) for cell in code) == 1, name
        assert book.cells[0].cell_type == "markdown" and book.cells[0].source.startswith("# "), name


@pytest.mark.parametrize("name", sorted(SMALL))
def test_notebook_runs_top_to_bottom(name, tmp_path, monkeypatch):
    book = nbformat.read(EXAMPLES / name, as_version=4)
    parameters = next(cell for cell in book.cells if "parameters" in cell.metadata.get("tags", []))
    parameters.source = SMALL[name]
    monkeypatch.setenv("DIGITLAB_DATA", str(tmp_path / "cache"))  # the kernel inherits it: caches stay in tmp_path
    monkeypatch.setenv("MPLBACKEND", "Agg")
    NotebookClient(book, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [o for cell in book.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert any(o.output_type in ("stream", "execute_result", "display_data") for o in outputs)
