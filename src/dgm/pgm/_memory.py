"""Refusing a sample too large for this machine's memory before drawing any of it."""

from __future__ import annotations

import os

# peak memory per sampled value of ``dgm pgm sample``: the int64 codes and float64 uniforms,
# a copy while transposing, and the state names of a CSV's columns
BYTES_PER_VALUE = 32


def physical_memory() -> int | None:
    """This machine's memory in bytes, or None where the system does not say."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):  # not POSIX, or the name is unknown
        return None


def _gigabytes(size: int) -> str:
    return f"{size / 1e9:,.1f} GB"


def check_sample_memory(rows: int, n_variables: int, what: str) -> None:
    """A ValueError when ``rows`` samples of ``n_variables`` variables cannot fit in memory:
    said before a single one is drawn, where NumPy would fail (or the kernel kill the
    process) midway. ``what`` names the flags that asked for ``rows``.

    >>> try:
    ...     check_sample_memory(10**15, 8, "-n 1000000000000000")
    ... except ValueError as err:
    ...     print(str(err).split(" of memory")[0])
    -n 1000000000000000: 1,000,000,000,000,000 samples of 8 variables need about 256,000,000.0 GB
    """
    need = rows * max(1, n_variables) * BYTES_PER_VALUE
    have = physical_memory()
    if have is not None and need > have:
        raise ValueError(
            f"{what}: {rows:,} samples of {n_variables} variables need about "
            f"{_gigabytes(need)} of memory, more than this machine's {_gigabytes(have)}; "
            "draw fewer (several runs with different --seed add up to more)")
