"""Close-match suggestions for misspelled names (variables, networks)."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def did_you_mean(words: str | Iterable[str], choices: Iterable[str]) -> str:
    """``"; did you mean 'x'?"`` for the close matches of ``words`` among ``choices``, else "".

    >>> did_you_mean("smokee", ["smoke", "lung"])
    "; did you mean 'smoke'?"
    >>> did_you_mean(["smokee", "lungg", "zzz"], ["smoke", "lung"])
    "; did you mean 'smoke' for 'smokee', 'lung' for 'lungg'?"
    >>> did_you_mean("zzz", ["smoke"])
    ''
    """
    single = isinstance(words, str)
    words = [words] if single else list(words)
    choices = list(dict.fromkeys(choices))
    found = [(w, close[0]) for w in words if (close := difflib.get_close_matches(w, choices, 1))]
    if not found:
        return ""
    if single:
        return f"; did you mean {found[0][1]!r}?"
    return "; did you mean " + ", ".join(f"{c!r} for {w!r}" for w, c in found) + "?"
