"""``dgm._files.atomic_write`` (every output of dgm.pgm goes through it): errors name the
user's file, not the hidden temporary one, and temporary files left by a killed write do
not pile up."""

from __future__ import annotations

import errno
import os
import time
from pathlib import Path

import pytest

import dgm._files
from dgm._errors import error_text
from dgm._files import STALE_SECONDS, atomic_write, check_writable


def _read_only_mkstemp(dir, prefix, suffix):  # called as mkstemp is, with its keywords
    raise OSError(errno.EROFS, "Read-only file system", f"{dir}/{prefix}x1y2z3w4{suffix}")


def _full_disk(tmp: str) -> None:
    Path(tmp).write_bytes(b"half")
    raise OSError(errno.ENOSPC, "No space left on device", tmp)


def _replace_refused(tmp: str, path: str) -> None:
    raise PermissionError(errno.EACCES, "Permission denied", tmp, None, path)


@pytest.mark.parametrize("where", ["mkstemp", "write", "replace"])
def test_an_os_error_names_the_target_not_the_temporary_file(where, tmp_path, monkeypatch):
    target = tmp_path / "out.csv"
    target.write_text("old")
    if where == "mkstemp":
        monkeypatch.setattr(dgm._files.tempfile, "mkstemp", _read_only_mkstemp)
    if where == "replace":
        monkeypatch.setattr(dgm._files.os, "replace", _replace_refused)
    write = _full_disk if where == "write" else (lambda tmp: Path(tmp).write_text("new"))
    with pytest.raises(OSError) as err:
        atomic_write(target, write)
    assert err.value.filename == str(target) and err.value.filename2 is None
    assert error_text(err.value).endswith(f": {target}") and ".tmp" not in str(err.value)
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["out.csv"]


@pytest.mark.parametrize(("make", "error"), [
    (lambda p: p.mkdir(), IsADirectoryError),
    (lambda p: None, None),
], ids=["a-folder", "writable"])
def test_check_writable_raises_what_a_write_would_and_leaves_nothing(make, error, tmp_path):
    target = tmp_path / "clf.safetensors"
    make(target)
    if error is None:
        check_writable(target)
    else:
        with pytest.raises(error, match=str(target)):
            check_writable(target)
    assert [p.name for p in tmp_path.iterdir()] == ([target.name] if error else [])


def test_check_writable_names_the_target_of_a_read_only_folder(tmp_path, monkeypatch):
    monkeypatch.setattr(dgm._files.tempfile, "mkstemp", _read_only_mkstemp)
    with pytest.raises(OSError, match="Read-only file system") as err:
        check_writable(tmp_path / "clf.safetensors")
    assert err.value.filename == str(tmp_path / "clf.safetensors")


def test_a_successful_write_removes_the_stale_temporary_files_of_its_target(tmp_path):
    """A ``kill -9`` mid-write leaves ``.NAME.XXXXXXXX.tmp``; the next write of NAME removes
    it once it is older than STALE_SECONDS. A fresh one (a live writer's) and the temporary
    files of other targets stay."""
    stale, fresh = tmp_path / ".curves.png.ab3d_f7h.tmp", tmp_path / ".curves.png.zz99yy88.tmp"
    others = [tmp_path / ".samples.png.ab3d_f7h.tmp", tmp_path / ".curves.png.notes.tmp"]
    for p in (stale, fresh, *others):
        p.write_bytes(b"half")
    old = time.time() - STALE_SECONDS - 60
    for p in (stale, *others):
        os.utime(p, (old, old))
    atomic_write(tmp_path / "curves.png", lambda tmp: Path(tmp).write_bytes(b"png"))
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == sorted(["curves.png", fresh.name, *(p.name for p in others)])
