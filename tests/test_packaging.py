"""Installed the way users install it: a wheel built from this tree, in a fresh virtual environment.

An editable install reads digitlab's files from the source tree, so it cannot show that the
wheel carries every file digitlab reads at run time (the drawing board's page, for one).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
import urllib.request
import zipfile
from pathlib import Path

import pytest

from tests.helpers import free_port

ROOT = Path(__file__).resolve().parents[1]
STATIC = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "digitlab/web/static").iterdir())


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> dict[str, Path]:
    # built from a copy, so that the build's own folders (build/, *.egg-info) stay out of the source tree
    source, out = tmp_path_factory.mktemp("source") / "digitlab", tmp_path_factory.mktemp("dist")
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(".git", "build", "dist", "*.egg-info", "__pycache__",
                                                                 ".pytest_cache", "runs", ".venv"))
    # no build isolation: the build backend (setuptools) is already here, and no index is needed
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out),
                    str(source)], check=True, capture_output=True, timeout=300)
    subprocess.run([sys.executable, "-c", f"from setuptools import build_meta; build_meta.build_sdist({str(out)!r})"],
                   check=True, capture_output=True, cwd=source, timeout=300)
    return {"wheel": next(out.glob("digitlab-*.whl")), "sdist": next(out.glob("digitlab-*.tar.gz"))}


def install_wheel(wheel: Path, venv: Path) -> tuple[Path, Path]:
    """A fresh virtual environment with digitlab from `wheel` alone; its other packages (torch, ...) are the ones
    of the interpreter running the tests, whichever it is.

    `venv --system-site-packages` would not do: inside a virtual environment it reaches the base interpreter's
    packages, not the environment's. The interpreter's site-packages folders are listed in a .pth file as plain
    paths, so that their own .pth files (an editable install of this tree among them) are not run."""
    import site
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    ours = subprocess.run([python, "-c", "import site; print(site.getsitepackages()[0])"], check=True,
                          capture_output=True, text=True).stdout.strip()
    Path(ours, "_tests_parent_packages.pth").write_text("".join(f"{p}\n" for p in site.getsitepackages()))
    subprocess.run([python, "-m", "pip", "install", "--no-deps", "--no-index", "-q", str(wheel)],
                   check=True, capture_output=True, timeout=300)
    return python, venv / "bin" / "digitlab"


def test_wheel_and_sdist_carry_the_board_files(built):
    wheel = zipfile.ZipFile(built["wheel"]).namelist()
    assert set(STATIC) <= set(wheel) and "digitlab/web/static/index.html" in wheel
    with tarfile.open(built["sdist"]) as sdist:
        names = {name.split("/", 1)[1] for name in sdist.getnames() if "/" in name}
    assert set(STATIC) <= names


def test_the_installed_wheel_serves_the_board(built, tmp_path, trained_run):
    venv = tmp_path / "venv"
    python, digitlab = install_wheel(built["wheel"], venv)
    where = subprocess.run([python, "-c", "import digitlab; print(digitlab.__file__)"], cwd=tmp_path,
                           capture_output=True, text=True, check=True).stdout.strip()
    assert where.startswith(str(venv)), where  # the installed copy, not this source tree

    port = free_port()
    env = {**os.environ, "DIGITLAB_DATA": str(tmp_path / "cache")}
    server = subprocess.Popen([digitlab, "-q", "serve", "--checkpoint", str(trained_run), "--port", str(port),
                               "--workers", "0", "--db", str(tmp_path / "s.sqlite")],
                              cwd=tmp_path, env=env, stderr=subprocess.PIPE, text=True)
    try:
        page = script = None
        for _ in range(600):
            if server.poll() is not None:
                break
            try:
                page = urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5).read().decode()
                script = urllib.request.urlopen(f"http://127.0.0.1:{port}/static/app.js", timeout=5).read().decode()
                break
            except OSError:
                time.sleep(0.1)
    finally:
        server.terminate()
        _, stderr = server.communicate(timeout=30)
    assert page is not None, stderr
    assert "<canvas" in page and "/static/app.js" in page and "fetch(" in script
    assert "Traceback" not in stderr, stderr
    listed = subprocess.run([digitlab, "samples", "versions", "--db", str(tmp_path / "s.sqlite"), "--json"],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert listed.returncode == 0 and json.loads(listed.stdout)["serving"] == 1, listed.stderr


def test_read_without_a_model_trains_the_default_one_once_for_two_processes(built, tmp_path):
    """Right after installing: `digitlab read page.jpg`, no checkpoint, an empty cache, twice at once. The
    default model is trained once (the second process waits for the first), and both read the page."""
    import numpy as np

    from digitlab.analysis.pictures import PageStyle, page_photo
    from digitlab.data import load_dataset
    python, digitlab = install_wheel(built["wheel"], tmp_path / "venv")
    test = load_dataset("mnist-5k").test
    digits, labels = test.images[:, 0].numpy(), test.labels.numpy()
    written = ["305 12", "4.5"]
    photo = page_photo(written, {d: digits[labels == d][:20] for d in range(10)}, np.random.default_rng(2),
                       PageStyle(size=(1000, 700), digit_height=60, paper="ruled"))
    photo.picture.save(tmp_path / "page.jpg", quality=90)
    env = {**os.environ, "DIGITLAB_DATA": str(tmp_path / "cache")}
    readers = [subprocess.Popen([digitlab, "read", "page.jpg", "--json"], cwd=tmp_path, env=env, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)]
    outputs = [reader.communicate(timeout=900) for reader in readers]
    assert [reader.returncode for reader in readers] == [0, 0], [err for _, err in outputs]
    for out, _ in outputs:
        assert [line["text"] for line in json.loads(out)[0]["lines"]] == written
    notes = [err for _, err in outputs]
    assert sum("training one, once" in note for note in notes) == 1, notes
    assert sum("waiting for it" in note for note in notes) == 1, notes
    assert [p.name for p in (tmp_path / "cache" / "models").iterdir() if p.is_dir()] == [
        next(p.name for p in (tmp_path / "cache" / "models").iterdir() if p.name.startswith("default-fast-"))]
    again = subprocess.run([digitlab, "predict", "page.jpg", "--json"], cwd=tmp_path, env=env, text=True,
                           capture_output=True, timeout=300)  # loaded from the cache: no training, no waiting
    assert again.returncode == 0 and "training" not in again.stderr and "waiting" not in again.stderr
