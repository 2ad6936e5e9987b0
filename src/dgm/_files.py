"""File helpers shared by the NumPy-only and the torch parts."""

from __future__ import annotations

import errno
import os
import tempfile
from collections.abc import Callable
from pathlib import Path


def umask_mode(path: str | Path) -> None:
    """Give a file made by ``tempfile.mkstemp`` (always 0600) the mode an ordinary ``open``
    would: ``0666`` less the umask, so checkpoints and downloaded data in a shared directory
    stay readable by the users the umask allows."""
    mask = os.umask(0)
    os.umask(mask)
    os.chmod(path, 0o666 & ~mask)


def atomic_write(path: str | Path, write: Callable[[str], None]) -> None:
    """Write ``path`` atomically: ``write(tmp)`` fills a temporary file in the same folder,
    which is fsynced, given the umask's mode and renamed over ``path``; on any error (or
    Ctrl-C) the temporary file is removed and ``path`` is left as it was.

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
    if path.is_dir():  # named as open(path, "w") would name it, not by the temporary file
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(path))
    if not path.parent.is_dir():
        raise FileNotFoundError(errno.ENOENT, f"no folder {str(path.parent)!r} to write into",
                                str(path))
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        umask_mode(tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


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
