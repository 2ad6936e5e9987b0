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
    >>> did_you_mean("hr", ["HR", "HRBP", "BP"])  # a name that differs only in case first
    "; did you mean 'HR'?"
    """
    single = isinstance(words, str)
    words = [words] if single else list(words)
    choices = list(dict.fromkeys(choices))
    found = [(w, close) for w in words if (close := _closest(w, choices))]
    if not found:
        return ""
    if single:
        return f"; did you mean {found[0][1]!r}?"
    return "; did you mean " + ", ".join(f"{c!r} for {w!r}" for w, c in found) + "?"


def _closest(word: str, choices: list[str]) -> str | None:
    """The choice equal to ``word`` but for case, else the closest by spelling (case ignored:
    ``hr`` and ``HR`` have no letter in common for difflib), else None."""
    folded = {c.casefold(): c for c in choices}
    if word.casefold() in folded:
        return folded[word.casefold()]
    close = difflib.get_close_matches(word.casefold(), list(folded), 1)
    return folded[close[0]] if close else None
