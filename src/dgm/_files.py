"""File helpers shared by the NumPy-only and the torch parts."""

from __future__ import annotations

import os
from pathlib import Path


def umask_mode(path: str | Path) -> None:
    """Give a file made by ``tempfile.mkstemp`` (always 0600) the mode an ordinary ``open``
    would: ``0666`` less the umask, so checkpoints and downloaded data in a shared directory
    stay readable by the users the umask allows."""
    mask = os.umask(0)
    os.umask(mask)
    os.chmod(path, 0o666 & ~mask)
