"""The IDX parser: round trip and errors that name the file."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from dgm.data.idx import MAGIC_IMAGES, MAGIC_LABELS, IdxFormatError, read_idx, write_idx


@pytest.mark.parametrize("name", ["imgs-idx3-ubyte", "imgs-idx3-ubyte.gz"])
def test_round_trip(tmp_path, name):
    a = np.random.default_rng(0).integers(0, 256, (5, 28, 28)).astype(np.uint8)
    write_idx(tmp_path / name, a)
    b = read_idx(tmp_path / name, MAGIC_IMAGES)
    assert b.dtype == np.uint8 and np.array_equal(a, b)


def test_gzip_detected_by_content_not_name(tmp_path):
    p = tmp_path / "labels-idx1-ubyte"  # gzipped but named without .gz
    write_idx(p, np.arange(4), compress=True)
    assert read_idx(p, MAGIC_LABELS).tolist() == [0, 1, 2, 3]


def test_wrong_magic_names_the_file(tmp_path):
    p = tmp_path / "train-labels-idx1-ubyte"
    write_idx(p, np.arange(4))
    with pytest.raises(
        IdxFormatError, match=r"train-labels-idx1-ubyte: bad magic number 0x00000801"
    ):
        read_idx(p, MAGIC_IMAGES)


def test_garbage_header(tmp_path):
    p = tmp_path / "junk.bin"
    p.write_bytes(b"<html>not found</html>")
    with pytest.raises(IdxFormatError, match=r"junk.bin: bad magic number"):
        read_idx(p)


def test_truncated_data_names_the_file(tmp_path):
    p = tmp_path / "t10k-images-idx3-ubyte"
    write_idx(p, np.ones((3, 28, 28), np.uint8))
    p.write_bytes(p.read_bytes()[:-100])
    with pytest.raises(IdxFormatError, match=r"t10k-images-idx3-ubyte: file is truncated") as e:
        read_idx(p, MAGIC_IMAGES)
    assert "(3, 28, 28)" in str(e.value)


def test_truncated_header_and_gzip(tmp_path):
    p = tmp_path / "a-idx3-ubyte"
    p.write_bytes(bytes([0, 0, 8, 3, 0, 0]))
    with pytest.raises(IdxFormatError, match="a-idx3-ubyte: file is truncated inside the header"):
        read_idx(p)
    p.write_bytes(bytes([0, 0]))
    with pytest.raises(IdxFormatError, match="a-idx3-ubyte: file is truncated: 2 bytes, no IDX "
                                             "header"):
        read_idx(p)
    g = tmp_path / "b-idx3-ubyte.gz"
    g.write_bytes(gzip.compress(b"\x00" * 1000)[:20])
    with pytest.raises(IdxFormatError, match="b-idx3-ubyte.gz: corrupt or truncated gzip"):
        read_idx(g)


def test_trailing_bytes_rejected(tmp_path):
    p = tmp_path / "c-idx1-ubyte"
    write_idx(p, np.arange(3))
    p.write_bytes(p.read_bytes() + b"xx")
    with pytest.raises(IdxFormatError, match="c-idx1-ubyte: 2 unexpected bytes"):
        read_idx(p)
