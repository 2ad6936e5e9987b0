"""Open a network by file path or by bnlearn name.

``load_network("alarm")`` finds ``<data dir>/bnlearn/alarm.bif.gz``, the data
directory being ``data_dir`` if given, else ``$DGM_DATA``, else
``$XDG_CACHE_HOME/dgm`` (``~/.cache/dgm``); a path (``nets/alarm.bif``,
``grid.uai``) is read as it is. A name that matches nothing gets an error that
says where it looked and the nearest names found there.

>>> import tempfile, pathlib
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> (folder / "bnlearn").mkdir()
>>> from dgm.pgm import examples, write_bif
>>> _ = write_bif(examples.student(), folder / "bnlearn" / "student.bif.gz")
>>> sorted(load_network("student", data_dir=folder).variables)
['D', 'G', 'I', 'L', 'S']
>>> load_network("studnet", data_dir=folder)
Traceback (most recent call last):
...
FileNotFoundError: no network file or bnlearn network 'studnet' (...); did you mean 'student'?
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

NET_SUFFIXES = (".bif", ".bif.gz", ".uai", ".uai.gz", ".gz")


def bnlearn_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """``<data dir>/bnlearn``, where bnlearn networks are looked up by name."""
    from dgm.data.paths import resolve_data_dir  # torch-free

    return resolve_data_dir(data_dir) / "bnlearn"


def is_bare_name(spec: str) -> bool:
    """A bnlearn name rather than a path: no folder, no network-file suffix."""
    return "/" not in spec and os.sep not in spec and not spec.lower().endswith(NET_SUFFIXES)


def bnlearn_file(spec: str, data_dir: str | os.PathLike | None = None) -> Path | None:
    """``<data dir>/bnlearn/SPEC.bif.gz`` if ``spec`` is a bare name and that file exists."""
    if not spec or not is_bare_name(spec):
        return None
    candidate = bnlearn_dir(data_dir) / f"{spec}.bif.gz"
    return candidate if candidate.is_file() else None


def network_suggestion(spec: str, data_dir: str | os.PathLike | None = None) -> str:
    """``; did you mean ...?`` among the bnlearn names and the network files beside ``spec``."""
    from dgm.pgm._hints import did_you_mean
    from dgm.pgm.io.bif import network_stem

    def listing(folder: Path) -> list[Path]:
        try:
            return [p for p in folder.iterdir() if p.name.lower().endswith(NET_SUFFIXES)]
        except OSError:
            return []

    parent = Path(spec).parent
    beside = did_you_mean(spec, [str(parent / p.name) for p in listing(parent)])
    names = [network_stem(p) for p in listing(bnlearn_dir(data_dir))]
    bnlearn = did_you_mean(network_stem(spec), names)
    # a path most likely means a file beside it; a bare name, a bnlearn network
    return (bnlearn or beside) if is_bare_name(spec) else (beside or bnlearn)


def load_network(spec: str | os.PathLike, data_dir: str | os.PathLike | None = None) -> Any:
    """A :class:`~dgm.pgm.BayesianNetwork` (BIF) or :class:`~dgm.pgm.MarkovNetwork` (UAI) from
    a file path, or from a bnlearn name looked up under the data directory."""
    from dgm.pgm.io.bif import read_bif
    from dgm.pgm.io.uai import read_uai

    spec = os.fspath(spec)
    path = Path(spec)
    if not path.exists():
        found = bnlearn_file(spec, data_dir)
        if found is None:
            hint = network_suggestion(spec, data_dir)
            if is_bare_name(spec):
                where = (f"neither ./{spec} nor "
                         f"{bnlearn_dir(data_dir) / (spec + '.bif.gz')} exists")
                raise FileNotFoundError(
                    f"no network file or bnlearn network {spec!r} ({where}){hint}")
            raise FileNotFoundError(f"no network file {spec!r}{hint}")
        path = found
    if path.name.lower().endswith((".uai", ".uai.gz")):
        return read_uai(path)
    return read_bif(path)
