"""One place that turns ``seed | Generator | None`` into random generators.

Every function in dgm that samples takes a ``seed`` (an int, a generator, or
None for fresh OS entropy) and calls one of these helpers; nothing touches
numpy's or torch's global generators.

>>> a = as_numpy_rng(0).random(3)
>>> b = as_numpy_rng(0).random(3)
>>> bool((a == b).all())
True
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # torch stays optional for the NumPy-only parts (dgm.pgm)
    import torch

SeedLike = int | np.random.Generator | None


def as_numpy_rng(seed: SeedLike | Any = None) -> np.random.Generator:
    """A ``numpy.random.Generator`` from an int seed, a Generator (returned as is) or None."""
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None or isinstance(seed, (int, np.integer)):
        if seed is not None and int(seed) < 0:
            raise ValueError(f"seed must be a non-negative integer, got {seed}")
        return np.random.default_rng(seed)
    raise TypeError(f"seed must be an int, a numpy Generator or None, got {_what(seed)}")


def as_torch_generator(seed: Any = None, device: Any = "cpu") -> torch.Generator:
    """A ``torch.Generator`` on ``device`` from an int seed, a torch Generator or None."""
    import torch

    if isinstance(seed, torch.Generator):
        return seed
    gen = torch.Generator(device=device)
    if seed is None:
        gen.seed()
    elif isinstance(seed, (int, np.integer)):
        if int(seed) < 0:
            raise ValueError(f"seed must be a non-negative integer, got {seed}")
        gen.manual_seed(int(seed))
    else:
        raise TypeError(f"seed must be an int, a torch.Generator or None, got {_what(seed)}")
    return gen


def _what(seed: Any) -> str:
    """The value and its type, the package named (a numpy and a torch Generator both call
    themselves "Generator"): ``'3' (str)``, ``Generator(PCG64) at 0x... (numpy.Generator)``."""
    t = type(seed)
    where = "" if t.__module__ == "builtins" else t.__module__.split(".")[0] + "."
    return f"{seed!r} ({where}{t.__qualname__})"


def derive_seed(seed: int, *salt: int | str) -> int:
    """A new 63-bit seed deterministically derived from ``seed`` and a salt (e.g. an epoch).

    A string salt counts as the sum of its character codes (kept: it pins the published
    data bits), so anagrams collide ("init" and "perm"), and trailing zeros do not count:
    give streams that must differ salts with different sums or lengths.

    >>> derive_seed(7, "cli", "init") != derive_seed(7, "perm", 0)
    True
    """
    parts = [int(seed)] + [s if isinstance(s, int) else sum(map(ord, s)) for s in salt]
    ss = np.random.SeedSequence(parts)
    return int(ss.generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))


def require_generator(generator: Any, who: str) -> Any:
    """``generator`` itself; a clear error when it is None, where torch would otherwise draw
    from its global generator (training steps get theirs from the loop)."""
    if generator is None:
        raise ValueError(f"{who} draws random numbers and needs a torch.Generator "
                         f"(e.g. torch.Generator().manual_seed(0)); none was given")
    return generator
