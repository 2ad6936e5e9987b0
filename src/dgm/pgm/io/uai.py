"""The UAI inference-competition format for Markov (``MARKOV``) and Bayesian (``BAYES``) networks.

Preamble: the network type, the number of variables, their cardinalities, the
number of factors and each factor's scope (a count, then variable indices);
then one table per factor (a count, then the entries, last variable fastest).
In ``BAYES`` files the last variable of each scope is the child.

>>> from dgm.pgm.examples import misconception
>>> text = write_uai_string(misconception())
>>> print(text.splitlines()[0:3])
['MARKOV', '4', '2 2 2 2']
>>> round(parse_uai(text).partition_function())
7201840
>>> parse_uai("MARKOV\\n2\\n2 2\\n1\\n2 0 7\\n")
Traceback (most recent call last):
...
dgm.pgm.io.uai.UAIError: <string>, line 5: variable index 7 out of range (2 variables)
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from dgm._files import atomic_write_bytes
from dgm.pgm.bayesnet import BayesianNetwork
from dgm.pgm.factor import Factor
from dgm.pgm.io._text import read_network_text
from dgm.pgm.markovnet import MarkovNetwork

MAX_STATES = 1_000_000
"""The most states a variable may have: each gets a name, and a variable that no factor
mentions a unit table, so a cardinality such as 10^11 (no table need list its entries)
would exhaust the memory instead of failing with a message."""


class UAIError(ValueError):
    """A malformed UAI file; the message names the file and line."""


class _Tokens:
    def __init__(self, text: str, source: str) -> None:
        self.items = [
            (tok, lineno)
            for lineno, line in enumerate(text.splitlines(), start=1)
            for tok in line.split()
        ]
        self.pos = 0
        self.source = source

    def error(self, message: str, back: int = 1) -> UAIError:
        k = min(max(self.pos - back, 0), len(self.items) - 1)
        line = self.items[k][1] if self.items else 1
        return UAIError(f"{self.source}, line {line}: {message}")

    def word(self, what: str) -> str:
        if self.pos >= len(self.items):
            raise self.error(f"unexpected end of file, expected {what}", back=0)
        self.pos += 1
        return self.items[self.pos - 1][0]

    def integer(self, what: str, low: int = 0, high: int | None = None) -> int:
        tok = self.word(what)
        try:
            value = int(tok)
        except ValueError:
            raise self.error(f"expected {what} (an integer), found {tok!r}") from None
        if high is not None and not low <= value < high:
            raise self.error(f"{what} {value} out of range ({high} variables)")
        if value < low:
            raise self.error(f"{what} must be at least {low}, found {value}")
        return value

    def number(self, what: str) -> float:
        tok = self.word(what)
        try:
            return float(tok)
        except ValueError:
            raise self.error(f"expected {what} (a number), found {tok!r}") from None


def _cardinality(t: _Tokens, i: int) -> int:
    """The number of states of variable ``i``: from 1 to :data:`MAX_STATES`."""
    card = t.integer(f"the cardinality of variable {i}", low=1)
    if card > MAX_STATES:
        raise t.error(f"variable {i} (x{i}) has {card} states; at most {MAX_STATES:,} are "
                      "supported (each state gets a name and a table entry)")
    return card


def parse_uai(text: str, source: str = "<string>") -> MarkovNetwork | BayesianNetwork:
    """A MarkovNetwork (``MARKOV``) or BayesianNetwork (``BAYES``) from UAI text."""
    t = _Tokens(text, source)
    kind = t.word("the network type").upper()
    if kind not in ("MARKOV", "BAYES"):
        raise t.error(f"expected MARKOV or BAYES, found {kind!r}")
    n = t.integer("the number of variables")
    cards = [_cardinality(t, i) for i in range(n)]
    scopes = []
    for j in range(t.integer("the number of factors")):
        k = t.integer("a scope size")
        scope = [t.integer("variable index", high=n) for _ in range(k)]
        if len(set(scope)) != k:
            twice = next(v for i, v in enumerate(scope) if v in scope[:i])
            raise t.error(f"factor {j}: variable {twice} appears twice in its scope {scope}")
        scopes.append(scope)
    names = [f"x{i}" for i in range(n)]
    factors = []
    for j, scope in enumerate(scopes):
        size = math.prod(cards[i] for i in scope)  # a Python int: an int64 could wrap to 0
        count = t.integer("a table size")
        if count != size:
            raise t.error(f"table for scope {scope} needs {size} entries, says {count}")
        values = np.array([t.number("a table entry") for _ in range(size)])
        bad = np.flatnonzero(~np.isfinite(values) | (values < 0))
        if bad.size:  # reported on the line of the first bad entry
            k = int(bad[0])
            raise t.error(
                f"table of factor {j} (scope {scope}): entry {k} is "
                f"{t.items[t.pos - size + k][0]!r}, not a finite number >= 0",
                back=size - k,
            )
        factors.append(([names[i] for i in scope], [cards[i] for i in scope], values))
    if t.pos != len(t.items):
        t.pos += 1
        raise t.error(f"unexpected trailing token {t.items[t.pos - 1][0]!r}")
    if kind == "MARKOV":
        # a declared variable that no factor mentions still counts (in Z): give it a unit factor
        mentioned = {i for scope in scopes for i in scope}
        factors += [
            ([names[i]], [cards[i]], np.ones(cards[i])) for i in range(n) if i not in mentioned
        ]
        return MarkovNetwork([Factor(v, c, x) for v, c, x in factors], name=Path(source).stem)
    no_cpd = sorted(set(range(n)) - {scope[-1] for scope in scopes if scope})
    if no_cpd:
        raise UAIError(f"{source}: BAYES variables {no_cpd} have no CPD (no scope ends with them)")
    cpds = []
    for v, c, x in factors:
        table = np.moveaxis(x.reshape(c), -1, 0)  # child (last) first
        cpds.append(Factor([v[-1], *v[:-1]], [c[-1], *c[:-1]], table))
    try:
        return BayesianNetwork(cpds, name=Path(source).stem)
    except ValueError as err:
        raise UAIError(f"{source}: {err}") from None


def read_uai(path: str | Path) -> MarkovNetwork | BayesianNetwork:
    """Read a ``.uai`` file, plain or gzipped (told by its first bytes, not its name)."""
    path = Path(path)
    return parse_uai(read_network_text(path, UAIError), source=str(path))


def write_uai_string(model: MarkovNetwork | BayesianNetwork) -> str:
    """UAI text; variables are numbered in ``model.variables`` order (names are not kept)."""
    index = {v: i for i, v in enumerate(model.variables)}
    if isinstance(model, BayesianNetwork):
        kind = "BAYES"
        tables = []
        for v in model.variables:
            f = model.cpds[v]
            scope = [*f.variables[1:], v]
            tables.append((scope, np.moveaxis(f.values, 0, -1)))
    else:
        kind = "MARKOV"
        tables = [(list(f.variables), f.values) for f in model.factors]
    lines = [kind, str(len(index)), " ".join(str(len(model.states[v])) for v in model.variables)]
    lines.append(str(len(tables)))
    lines += [" ".join(map(str, [len(s), *(index[v] for v in s)])) for s, _ in tables]
    for _, arr in tables:
        lines += ["", str(arr.size), " ".join(repr(float(x)) for x in arr.ravel())]
    return "\n".join(lines) + "\n"


def write_uai(model: MarkovNetwork | BayesianNetwork, path: str | Path) -> None:
    """Write ``model`` in UAI format."""
    data = write_uai_string(model).encode("utf-8")
    atomic_write_bytes(path, data)
