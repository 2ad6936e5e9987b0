"""File helpers shared by the NumPy-only and the torch parts."""

from __future__ import annotations

import errno
import os
import re
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

STALE_SECONDS = 600.0
"""A temporary file of :func:`atomic_write` untouched this long belongs to a writer that
died (``kill -9``, a power cut): the next successful write of the same target removes it.
A live writer's file changes as it is written, so it is never this old."""


def umask_mode(path: str | Path) -> None:
    """Give a file made by ``tempfile.mkstemp`` (always 0600) the mode an ordinary ``open``
    would: ``0666`` less the umask, so checkpoints and downloaded data in a shared directory
    stay readable by the users the umask allows."""
    mask = os.umask(0)
    os.umask(mask)
    os.chmod(path, 0o666 & ~mask)


def _check_target(path: Path) -> None:
    """The errors ``open(path, "w")`` would give, named by ``path``: a folder, no folder."""
    if path.is_dir():  # named as open(path, "w") would name it, not by the temporary file
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(path))
    if not path.parent.is_dir():
        raise FileNotFoundError(errno.ENOENT, f"no folder {str(path.parent)!r} to write into",
                                str(path))


def _name_the_target(err: BaseException, tmp: str, path: Path) -> None:
    """An OS error about the hidden temporary file ``tmp`` names ``path`` instead: the user
    asked for ``path`` and has never heard of ``.NAME.XXXX.tmp``."""
    if isinstance(err, OSError) and err.filename == tmp:
        err.filename = str(path)
        if err.filename2 is not None and os.fspath(err.filename2) == str(path):
            err.filename2 = None  # os.replace(tmp, path): one path is enough


def _temporary(path: Path) -> str:
    """A new empty temporary file beside ``path`` (``.NAME.XXXXXXXX.tmp``); an error names
    ``path`` (a read-only or full file system, no permission)."""
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as err:
        _name_the_target(err, err.filename, path)
        raise
    os.close(fd)
    return tmp


def _remove_stale(path: Path, keep: float = STALE_SECONDS) -> None:
    """Remove the temporary files of earlier writes of ``path`` that died before their
    rename (``kill -9``): so they do not pile up beside a file written again and again.
    Only files untouched for ``keep`` seconds go: a live writer's file is newer."""
    pattern = re.compile(re.escape(f".{path.name}.") + r"[a-z0-9_]{8}\.tmp")
    now = time.time()
    try:
        entries = [e for e in os.scandir(path.parent) if pattern.fullmatch(e.name)]
    except OSError:  # tidying is never an error
        return
    for entry in entries:
        try:
            if now - entry.stat().st_mtime > keep:
                os.unlink(entry.path)
        except OSError:  # removed meanwhile by another writer, or not ours to remove
            continue


def check_writable(path: str | Path) -> None:
    """Raise now the error :func:`atomic_write` would raise for ``path`` (a folder, a missing
    or read-only folder, no permission), by creating and removing a temporary file beside
    it: before minutes of work whose result could not be saved."""
    path = Path(path)
    _check_target(path)
    os.unlink(_temporary(path))


def atomic_write(path: str | Path, write: Callable[[str], None]) -> None:
    """Write ``path`` atomically: ``write(tmp)`` fills a temporary file in the same folder,
    which is fsynced, given the umask's mode and renamed over ``path``; on any error (or
    Ctrl-C) the temporary file is removed and ``path`` is left as it was. An OS error names
    ``path``, not the temporary file; temporary files left by a killed earlier write of
    ``path`` are removed after a successful one (see :data:`STALE_SECONDS`).

    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "a.txt"
    >>> atomic_write(p, lambda tmp: pathlib.Path(tmp).write_text("new"))
    >>> def fail(tmp):
    ...     pathlib.Path(tmp).write_text("half")
    ...     raise OSError("disk full")
    >>> atomic_write(p, fail)
    Traceback (most recent call last):
    ...
    OSError: disk full
    >>> p.read_text(), sorted(x.name for x in p.parent.iterdir())
    ('new', ['a.txt'])
    """
    path = Path(path)
    _check_target(path)
    tmp = _temporary(path)
    try:
        write(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        umask_mode(tmp)
        os.replace(tmp, path)
    except BaseException as err:
        if os.path.exists(tmp):
            os.unlink(tmp)
        _name_the_target(err, tmp, path)
        raise
    _remove_stale(path)


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temporary file + fsync + rename)."""
    atomic_write(path, lambda tmp: Path(tmp).write_bytes(data))


def atomic_save_npy(path: str | Path, array) -> None:
    """``np.save`` to ``path`` atomically (through a file object: no second ``.npy`` suffix)."""
    import numpy as np

    def write(tmp: str) -> None:
        with open(tmp, "wb") as f:
            np.save(f, array)

    atomic_write(path, write)
