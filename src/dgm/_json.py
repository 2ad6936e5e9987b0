"""Strict JSON for what dgm writes for other programs (results files, ``--json`` output)."""

from __future__ import annotations

import math
from typing import Any


def strict_json(obj: Any) -> Any:
    """``obj`` with every non-finite float as None, through dicts, lists and tuples: JSON has
    no ``Infinity`` or ``NaN`` (a run without validation, one example's stderr, an AIS lower
    bound at Z = 0 have no finite figure).

    >>> strict_json({"a": float("inf"), "b": [1.5, float("nan")], "c": "x"})
    {'a': None, 'b': [1.5, None], 'c': 'x'}
    """
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: strict_json(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [strict_json(v) for v in obj]
    return obj
