"""Where data files live: ``--data-dir``, then ``$DGM_DATA``, then a per-user cache.

>>> import os
>>> str(resolve_data_dir("/tmp/some/where"))
'/tmp/some/where'
"""

from __future__ import annotations

import os
from pathlib import Path

ENV_VAR = "DGM_DATA"


def data_dir_source(data_dir: str | os.PathLike | None = None) -> tuple[Path, str]:
    """The resolved data directory and a few words on where the choice came from."""
    if data_dir is not None and str(data_dir) != "":
        return Path(data_dir).expanduser(), "given by --data-dir / data_dir"
    env = os.environ.get(ENV_VAR, "")
    if env:
        return Path(env).expanduser(), f"from the {ENV_VAR} environment variable"
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "dgm", f"the per-user cache (neither --data-dir nor {ENV_VAR} was set)"


def resolve_data_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """The data directory: ``data_dir`` if given, else ``$DGM_DATA``, else
    ``$XDG_CACHE_HOME/dgm`` (default ``~/.cache/dgm``). Nothing is created."""
    return data_dir_source(data_dir)[0]
