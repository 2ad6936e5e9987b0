"""Reading a network file's text, gzipped or not: gzip is told by its magic bytes, not its name."""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

GZIP_MAGIC = b"\x1f\x8b"


def read_network_text(path: Path, error: type[ValueError]) -> str:
    """The UTF-8 text of ``path`` (a byte order mark dropped), gunzipped when it starts with
    gzip's magic bytes whatever its name; ``error`` names the file when it is truncated,
    corrupt or not UTF-8."""
    data = path.read_bytes()
    try:
        if data[:2] == GZIP_MAGIC:
            data = gzip.decompress(data)
        return data.decode("utf-8-sig")
    except (EOFError, gzip.BadGzipFile, zlib.error, UnicodeDecodeError) as err:
        raise error(f"{path}: truncated or corrupt file ({err})") from None
