"""Fetching data files from public mirrors into the local cache.

Each file is tried on every mirror in order. Bytes are streamed to a temporary file
beside the destination while their MD5 is computed; only a file whose checksum matches
is renamed into place, so the cache never holds a partial or corrupt file. A mirror
that cannot be reached at all is not asked again for the next file, which lets an
offline machine give up after one short timeout per mirror.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import os
import sys
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from digitlab.errors import DownloadError

DEFAULT_TIMEOUT_S = 4.0
MAX_FILE_BYTES = 200 * 1024**2  # no data set file of ours is larger; a bigger answer is wrong
_CHUNK = 1 << 16


@dataclass(frozen=True)
class RemoteFile:
    name: str
    md5: str


class _Unreachable(Exception):
    """The mirror itself did not answer (DNS, refused, timeout): skip it from now on."""


def cache_root(data_dir: str | os.PathLike | None = None) -> Path:
    """Where data sets are cached: --data-dir, else $DIGITLAB_DATA, else ~/.cache/digitlab."""
    if data_dir:
        return Path(data_dir).expanduser()
    if os.environ.get("DIGITLAB_DATA"):
        return Path(os.environ["DIGITLAB_DATA"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "digitlab"


def md5sum(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch_files(files: list[RemoteFile], dest: Path, mirrors: list[str],
                timeout: float = DEFAULT_TIMEOUT_S, progress: bool = True) -> None:
    """Make sure every file in `files` is in `dest`, downloading the missing ones."""
    dest.mkdir(parents=True, exist_ok=True)
    dead: dict[str, str] = {}  # mirror -> why it was given up on
    for remote in files:
        if (dest / remote.name).is_file():
            continue
        failures = []
        for mirror in mirrors:
            if mirror in dead:
                failures.append(f"{mirror}: {dead[mirror]}")
                continue
            url = mirror.rstrip("/") + "/" + remote.name
            try:
                _download(url, dest / remote.name, remote.md5, timeout, progress)
                break
            except _Unreachable as exc:
                dead[mirror] = str(exc)
                failures.append(f"{mirror}: {exc}")
            except DownloadError as exc:
                failures.append(f"{mirror}: {exc}")
        else:
            raise DownloadError(f"could not download {remote.name} ({'; '.join(failures)})")


def _download(url: str, target: Path, md5: str, timeout: float, progress: bool) -> None:
    request = urllib.request.Request(url, headers={"User-Agent": "digitlab"})
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        raise DownloadError(f"HTTP {exc.code}") from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        reason = getattr(exc, "reason", exc)
        raise _Unreachable(str(reason) or type(exc).__name__) from None

    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    try:
        with response, os.fdopen(fd, "wb") as out:
            digest = hashlib.md5()
            total = int(response.headers.get("Content-Length") or 0) or None
            if total and total > MAX_FILE_BYTES:
                raise DownloadError(f"{url} announces {total:,} bytes, more than any MNIST file")
            bar = tqdm(total=total, unit="B", unit_scale=True, desc=target.name, leave=False,
                       file=sys.stderr, disable=not progress or None)
            received = 0
            with bar:
                while chunk := response.read(_CHUNK):
                    received += len(chunk)
                    if received > MAX_FILE_BYTES:
                        raise DownloadError(f"{url} sent more than {MAX_FILE_BYTES:,} bytes")
                    digest.update(chunk)
                    out.write(chunk)
                    bar.update(len(chunk))
            if total is not None and received != total:
                raise DownloadError(f"connection closed after {received:,} of {total:,} bytes")
            if digest.hexdigest() != md5:
                raise DownloadError(f"checksum mismatch (MD5 {digest.hexdigest()}, expected {md5})")
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, target)
    except (OSError, http.client.HTTPException) as exc:
        raise DownloadError(f"transfer failed: {exc}") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
