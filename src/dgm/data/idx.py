"""Reader for the IDX format of the official MNIST files (plain or gzipped).

>>> import io, struct
>>> raw = struct.pack(">HBB", 0, 0x08, 1) + struct.pack(">I", 3) + bytes([7, 8, 9])
>>> parse_idx_bytes(raw, "labels").tolist()
[7, 8, 9]
"""

from __future__ import annotations

import gzip
import math
import os
import zlib
from pathlib import Path

import numpy as np

IDX_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
MAGIC_IMAGES = 0x00000803  # unsigned bytes, 3 dimensions
MAGIC_LABELS = 0x00000801  # unsigned bytes, 1 dimension


class IdxFormatError(ValueError):
    """An IDX file is malformed; the message names the file (and, from the MNIST loader,
    says how to replace it)."""


def parse_idx_bytes(data: bytes, name: str = "<bytes>", expected_magic: int | None = None):
    """Parse the (decompressed) bytes of an IDX file into an array of native dtype."""
    if len(data) < 4:
        raise IdxFormatError(f"{name}: file is truncated: {len(data)} bytes, no IDX header")
    magic = int.from_bytes(data[:4], "big")
    if expected_magic is not None and magic != expected_magic:
        raise IdxFormatError(
            f"{name}: bad magic number 0x{magic:08x}, expected 0x{expected_magic:08x}; "
            "is this the right file (images vs labels) and is it an IDX file?"
        )
    code, ndim = data[2], data[3]
    if data[0] != 0 or data[1] != 0 or code not in IDX_DTYPES or ndim == 0:
        raise IdxFormatError(
            f"{name}: bad magic number 0x{magic:08x}; an IDX file starts with two zero "
            "bytes, a type code (0x08 for unsigned bytes) and the number of dimensions"
        )
    header = 4 + 4 * ndim
    if len(data) < header:
        raise IdxFormatError(
            f"{name}: file is truncated inside the header ({len(data)} of {header} bytes)"
        )
    dims = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    dtype = IDX_DTYPES[code]
    need = math.prod(dims) * dtype.itemsize
    have = len(data) - header
    if have < need:
        raise IdxFormatError(
            f"{name}: file is truncated: the header promises shape {dims} "
            f"({need} bytes of data) but only {have} bytes follow"
        )
    if have > need:
        raise IdxFormatError(
            f"{name}: {have - need} unexpected bytes after the data of shape {dims}"
        )
    arr = np.frombuffer(data, dtype=dtype, count=math.prod(dims), offset=header)
    return arr.reshape(dims).astype(dtype.newbyteorder("="))


def read_idx(path: str | os.PathLike, expected_magic: int | None = None) -> np.ndarray:
    """Read an IDX file; gzip is detected from its first two bytes, not its name."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            data = f.read()
        if data[:2] == b"\x1f\x8b":
            data = gzip.decompress(data)
    except (EOFError, gzip.BadGzipFile, zlib.error) as e:
        raise IdxFormatError(f"{path}: corrupt or truncated gzip data ({e})") from e
    return parse_idx_bytes(data, str(path), expected_magic)


def write_idx(path: str | os.PathLike, arr: np.ndarray, compress: bool | None = None) -> None:
    """Write ``arr`` (uint8) as an IDX file; gzipped if ``compress`` or the name ends in .gz.

    Used by the tests to build fake MNIST files.
    """
    path = Path(path)
    arr = np.ascontiguousarray(arr, dtype=np.uint8)
    head = bytes([0, 0, 0x08, arr.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in arr.shape)
    payload = head + arr.tobytes()
    if compress if compress is not None else path.suffix == ".gz":
        payload = gzip.compress(payload, compresslevel=1, mtime=0)
    path.write_bytes(payload)
