"""Stochastic binarization: bit = 1 with probability equal to the intensity.

>>> import numpy as np
>>> x = np.array([[0.0, 1.0, 0.5]], np.float32)
>>> b = dynamic_binarize(x, seed=0)
>>> b.dtype, b[0, 0], b[0, 1]
(dtype('float32'), np.float32(0.0), np.float32(1.0))
>>> bool((dynamic_binarize(x, 3) == dynamic_binarize(x, 3)).all())
True
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dgm._rng import as_numpy_rng
from dgm.data.validate import check_data

_CHUNK_ROWS = 4096  # an even row count: chunking never changes the bits drawn


def dynamic_binarize(x: np.ndarray, seed: Any = None) -> np.ndarray:
    """Bernoulli(x) bits as float32, same shape as ``x`` (intensities in [0, 1]).

    ``seed`` is an int, a ``numpy.random.Generator`` (advanced in place; pass
    one per epoch/batch stream) or None. Bit = ``u < x`` for ``u ~ U[0, 1)``
    drawn in float32, row-major, so 0 stays 0 and 1 stays 1. Values outside [0, 1] (raw
    0..255 pixels, [-1, 1] data) and NaN are refused with a ``ValueError`` naming the first.
    """
    rng = as_numpy_rng(seed)
    x = np.asarray(x)
    check_data(x.reshape(1) if x.ndim == 0 else x, "unit", "dynamic_binarize input x",
               ndim=max(x.ndim, 1))
    out = np.empty(x.shape, dtype=np.float32)
    if x.ndim == 0 or x.shape[0] == 0:
        out[...] = rng.random(x.shape, dtype=np.float32) < x
        return out
    for start in range(0, x.shape[0], _CHUNK_ROWS):
        xs = x[start : start + _CHUNK_ROWS]
        np.less(
            rng.random(xs.shape, dtype=np.float32),
            xs,
            out=out[start : start + _CHUNK_ROWS],
            casting="unsafe",
        )
    return out
