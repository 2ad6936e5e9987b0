"""Download the four official MNIST IDX files, verified by SHA-256, from public mirrors.

Nothing here runs unless asked (``dgm data download mnist`` or
``load_dataset(..., download=True)``). Each file is streamed into a temporary
file next to its destination, checked, then renamed into place, so a broken
download never leaves a half-written file under the final name.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from dgm._files import umask_mode
from dgm.data.paths import resolve_data_dir


@dataclass(frozen=True)
class FileSpec:
    """Published size and checksums of one file (md5 as torchvision lists it)."""

    sha256: str
    md5: str | None = None
    size: int | None = None


MNIST_MIRRORS: tuple[str, ...] = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)

MNIST_FILES: dict[str, FileSpec] = {
    "train-images-idx3-ubyte.gz": FileSpec(
        "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
        "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        9_912_422,
    ),
    "train-labels-idx1-ubyte.gz": FileSpec(
        "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
        "d53e105ee54ea40749a09fcbcd1e9432",
        28_881,
    ),
    "t10k-images-idx3-ubyte.gz": FileSpec(
        "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
        "9fb629c4189551a2d022fa330f9573f3",
        1_648_877,
    ),
    "t10k-labels-idx1-ubyte.gz": FileSpec(
        "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
        "ec29112dd5afa0611ce80d1b7f02629c",
        4_542,
    ),
}

_CHUNK = 1 << 16


class DownloadError(RuntimeError):
    """Every mirror failed for a file; the message lists each attempt."""


def file_digests(path: str | os.PathLike) -> tuple[str, str]:
    """``(sha256, md5)`` hex digests of a file."""
    sha, md5 = hashlib.sha256(), hashlib.md5()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            sha.update(chunk)
            md5.update(chunk)
    return sha.hexdigest(), md5.hexdigest()


def verify_file(path: str | os.PathLike, spec: FileSpec) -> str | None:
    """None if ``path`` matches ``spec``, else a sentence saying what differs."""
    sha, md5 = file_digests(path)
    if sha != spec.sha256:
        return f"SHA-256 mismatch: expected {spec.sha256}, got {sha}"
    if spec.md5 is not None and md5 != spec.md5:
        return f"MD5 mismatch: expected {spec.md5}, got {md5}"
    return None


def _fetch(url: str, dest: Path, spec: FileSpec, progress: bool, timeout: float) -> None:
    """Stream ``url`` to a temp file beside ``dest``, verify, then rename into place."""
    from tqdm.auto import tqdm

    req = urllib.request.Request(url, headers={"User-Agent": "dgm-data/0.1"})
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    out = os.fdopen(fd, "wb")  # owns the descriptor from here: closed on every path
    try:
        sha = hashlib.sha256()
        md5 = hashlib.md5()
        with out, urllib.request.urlopen(req, timeout=timeout) as resp:
            total = resp.headers.get("Content-Length")
            total = int(total) if total and total.isdigit() else spec.size
            with tqdm(
                total=total,
                unit="B",
                unit_scale=True,
                desc=dest.name,
                disable=not progress,
                leave=False,
            ) as bar:
                while chunk := resp.read(_CHUNK):
                    out.write(chunk)
                    sha.update(chunk)
                    md5.update(chunk)
                    bar.update(len(chunk))
        if sha.hexdigest() != spec.sha256:
            raise ValueError(f"SHA-256 mismatch: expected {spec.sha256}, got {sha.hexdigest()}")
        if spec.md5 is not None and md5.hexdigest() != spec.md5:
            raise ValueError(f"MD5 mismatch: expected {spec.md5}, got {md5.hexdigest()}")
        umask_mode(tmp)
        os.replace(tmp, dest)
    except BaseException:
        out.close()
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def _check_writable(folder: Path) -> None:
    """Raise the ``OSError`` (naming ``folder``) that writing a file into it would give."""
    try:
        fd, probe = tempfile.mkstemp(prefix=".write-test.", dir=folder)
    except OSError as err:
        raise type(err)(err.errno, err.strerror, str(folder)) from None
    os.close(fd)
    os.unlink(probe)


def download_mnist(
    data_dir: str | os.PathLike | None = None,
    mirrors: Sequence[str] | None = None,
    progress: bool = True,
    *,
    files: Mapping[str, FileSpec] | None = None,
    force: bool = False,
    timeout: float = 60.0,
) -> Path:
    """Download the MNIST IDX ``.gz`` files into ``<data_dir>/mnist/`` and return that folder.

    ``mirrors`` defaults to :data:`MNIST_MIRRORS` and ``files`` (name -> checksums)
    to :data:`MNIST_FILES`. Files already present with the right checksum are kept
    (unless ``force``). For each file the mirrors are tried in order; a failed request or a
    checksum mismatch moves on to the next. Raises :class:`DownloadError`
    naming every attempt when all mirrors fail for a file, ``ValueError`` for an
    empty ``mirrors``, and ``OSError`` naming the folder when it cannot be created or
    written.
    """
    files = MNIST_FILES if files is None else files
    if isinstance(mirrors, str):
        mirrors = (mirrors,)
    mirrors = MNIST_MIRRORS if mirrors is None else tuple(mirrors)
    if not mirrors:
        raise ValueError("mirrors is empty; give at least one base URL (or None for the "
                         "built-in MNIST_MIRRORS)")
    target = resolve_data_dir(data_dir) / "mnist"
    target.mkdir(parents=True, exist_ok=True)
    writable = False
    for name, spec in files.items():
        dest = target / name
        if dest.exists() and not force:
            if verify_file(dest, spec) is None:
                continue
        if not writable:  # once, before the first download: not a failure of every mirror
            _check_writable(target)
            writable = True
        errors = []
        for mirror in mirrors:
            url = mirror if mirror.endswith("/") else mirror + "/"
            url += name
            try:
                _fetch(url, dest, spec, progress, timeout)
                break
            except Exception as e:  # noqa: BLE001 - any failure moves on to the next mirror
                errors.append(f"  {url}: {type(e).__name__}: {e}")
        else:
            raise DownloadError(
                f"could not download {name} into {target}; tried:\n" + "\n".join(errors)
            )
    return target
