"""BIF (Bayesian Interchange Format) reader and writer, the bnlearn dialect.

Plain or gzipped files.  A state name is any run of characters other than
white space and ``{ } ( ) [ ] , ; |``, so bnlearn names such as ``Asy/Patch``,
``>=7.5`` or ``Transp.`` survive.  Syntax errors name the file and line.

A ``table`` lists the child's states slowest, as JavaBayes BIF 0.15 and
pgmpy do: for ``probability ( c | a, b )`` the values fill an array of shape
``(card_c, card_a, card_b)`` in C order (``b`` fastest).

>>> text = '''network n { }
... variable rain { type discrete [ 2 ] { yes, no }; }
... variable wet { type discrete [ 2 ] { yes, no }; }
... probability ( rain ) { table 0.2, 0.8; }
... probability ( wet | rain ) { (yes) 0.9, 0.1; (no) 0.2, 0.8; }
... '''
>>> bn = parse_bif(text)
>>> bn.query("rain", evidence={"wet": "yes"}).values.round(4).tolist()
[0.5294, 0.4706]
>>> again = parse_bif(write_bif_string(bn))
>>> again.query("rain", {"wet": "yes"}).allclose(bn.query("rain", {"wet": "yes"}))
True
"""

from __future__ import annotations

import gzip
import math
from pathlib import Path

import numpy as np

from dgm._files import atomic_write_bytes
from dgm.pgm.bayesnet import ROW_TOL, BayesianNetwork
from dgm.pgm.factor import Factor
from dgm.pgm.io._text import read_network_text

MAX_TABLE = 10**8  # entries of one probability table (800 MB as float64)

DELIMITERS = "{}()[],;|"


class BIFError(ValueError):
    """A malformed BIF file; the message names the file and line."""


def _tokenize(text: str, source: str) -> list[tuple[str, int]]:
    tokens: list[tuple[str, int]] = []
    i, line, n = 0, 1, len(text)
    while i < n:
        ch = text[i]
        if ch == "\n":
            line += 1
            i += 1
        elif ch.isspace():
            i += 1
        elif text.startswith("//", i):
            while i < n and text[i] != "\n":
                i += 1
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            if end < 0:
                raise BIFError(f"{source}, line {line}: unterminated comment")
            line += text.count("\n", i, end)
            i = end + 2
        elif ch in DELIMITERS:
            tokens.append((ch, line))
            i += 1
        elif ch == '"':
            end = text.find('"', i + 1)
            if end < 0:
                raise BIFError(f"{source}, line {line}: unterminated string")
            tokens.append((text[i + 1 : end], line))
            line += text.count("\n", i, end)
            i = end + 1
        else:
            j = i
            while j < n and not text[j].isspace() and text[j] not in DELIMITERS:
                j += 1
            tokens.append((text[i:j], line))
            i = j
    return tokens


class _Parser:
    def __init__(self, text: str, source: str) -> None:
        self.tokens = _tokenize(text, source)
        self.pos = 0
        self.source = source

    def error(self, message: str, line: int | None = None) -> BIFError:
        """An error at ``line`` (default: the line of the next token)."""
        if line is None:
            line = self.tokens[min(self.pos, len(self.tokens) - 1)][1] if self.tokens else 1
        return BIFError(f"{self.source}, line {line}: {message}")

    def line(self) -> int:
        """The line of the token read last."""
        return self.tokens[self.pos - 1][1]

    def peek(self) -> str | None:
        return self.tokens[self.pos][0] if self.pos < len(self.tokens) else None

    def next(self) -> str:
        if self.pos >= len(self.tokens):
            raise self.error("unexpected end of file")
        self.pos += 1
        return self.tokens[self.pos - 1][0]

    def expect(self, token: str) -> None:
        got = self.next()
        if got != token:
            self.pos -= 1
            raise self.error(f"expected {token!r}, found {got!r}")

    def until(self, stop: str) -> list[str]:
        """Tokens up to ``stop`` (consumed), commas dropped."""
        out = []
        while (tok := self.next()) != stop:
            if tok != ",":
                out.append(tok)
        return out

    def skip_block(self) -> None:
        depth = 1
        while depth:
            tok = self.next()
            depth += {"{": 1, "}": -1}.get(tok, 0)

    def numbers(self, var: str) -> tuple[np.ndarray, list[int]]:
        """Probabilities of ``var`` up to ``;`` and the line of each (finite, >= 0)."""
        values, lines = [], []
        while (word := self.next()) != ";":
            if word == ",":
                continue
            try:
                x = float(word)
            except ValueError:
                self.pos -= 1
                raise self.error(f"expected a probability, found {word!r}") from None
            if not (np.isfinite(x) and x >= 0):
                raise self.error(
                    f"probability of {var!r}: {word!r} is not a probability "
                    "(negative, NaN or infinite)",
                    self.line(),
                )
            values.append(x)
            lines.append(self.line())
        return np.array(values), lines


def parse_bif(
    text: str, source: str = "<string>", default_name: str | None = None
) -> BayesianNetwork:
    """A :class:`BayesianNetwork` from BIF text (at least one variable).

    Its name is the ``network`` block's, else ``"network"``; ``default_name``, when given,
    replaces a missing name and the placeholder ``unknown``.
    """
    p = _Parser(text, source)
    name = None
    states: dict[str, tuple[str, ...]] = {}
    tables: dict[str, tuple[list[str], np.ndarray]] = {}
    declared: dict[str, int] = {}  # the line of each variable's name
    while p.peek() is not None:
        kind = p.next()
        if kind == "network":
            name = p.next()
            p.expect("{")
            p.skip_block()
        elif kind == "variable":
            var = p.next()
            if var in declared:
                raise p.error(
                    f"variable {var!r} declared twice (first on line {declared[var]})", p.line()
                )
            declared[var] = p.line()
            p.expect("{")
            while (tok := p.next()) != "}":
                if tok == "type":
                    type_line = p.line()
                    if (vtype := p.next()) != "discrete":
                        raise p.error(
                            f"variable {var!r}: type {vtype!r} is not supported "
                            "(only 'type discrete')",
                            p.line(),
                        )
                    p.expect("[")
                    count = p.next()
                    p.expect("]")
                    p.expect("{")
                    names = tuple(p.until("}"))
                    p.expect(";")
                    if not count.isdigit() or int(count) != len(names):
                        raise p.error(
                            f"variable {var!r}: [{count}] states declared, {len(names)} listed",
                            type_line,
                        )
                    if not names:
                        raise p.error(f"variable {var!r} has no states", type_line)
                    if len(set(names)) != len(names):
                        twice = next(s for i, s in enumerate(names) if s in names[:i])
                        raise p.error(
                            f"variable {var!r} has the state {twice!r} twice: {list(names)}",
                            type_line,
                        )
                    states[var] = names
                elif tok == "property":
                    p.until(";")
                else:
                    p.pos -= 1
                    raise p.error(
                        f"variable {var!r}: unexpected {tok!r} (expected 'type' or 'property')"
                    )
            if var not in states:
                raise p.error(
                    f"variable {var!r} has no 'type discrete [N] {{ ... }};' line", declared[var]
                )
        elif kind == "probability":
            var, parents, arr = _parse_probability(p, states, set(tables))
            tables[var] = (parents, arr)
        else:
            p.pos -= 1
            raise p.error(f"expected 'network', 'variable' or 'probability', found {kind!r}")
    if not states:
        raise BIFError(f"{source}: no variables (an empty file, or no 'variable' block)")
    missing = [v for v in states if v not in tables]
    if missing:
        raise p.error(  # on the line that declares the first of them
            f"no probability block for variable{'s' * (len(missing) > 1)} "
            + ", ".join(map(repr, missing)),
            declared[missing[0]],
        )
    if default_name is not None and name in (None, "unknown"):
        name = default_name
    cpds = []
    for var, (parents, arr) in tables.items():
        names = {v: states[v] for v in (var, *parents)}
        cpds.append(Factor((var, *parents), arr.shape, arr, names))
    try:
        return BayesianNetwork(cpds, name="network" if name is None else name)
    except ValueError as err:
        raise BIFError(f"{source}: {err}") from None


def _parse_probability(p: _Parser, states: dict[str, tuple[str, ...]], done: set[str]):
    p.expect("(")
    head_line = p.line()
    head = p.until(")")
    if not head:
        raise p.error("'probability ( )' names no variable", head_line)
    var, parents = head[0], [t for t in head[1:] if t != "|"]
    for v in (var, *parents):
        if v not in states:
            raise p.error(f"probability block uses undeclared variable {v!r}")
    if var in done:
        raise p.error(f"a second probability block for {var!r}", head_line)
    if var in parents:
        raise p.error(f"probability of {var!r} lists {var!r} as its own parent", head_line)
    repeated = [u for i, u in enumerate(parents) if u in parents[:i]]
    if repeated:
        raise p.error(f"probability of {var!r} lists parent {repeated[0]!r} twice", head_line)
    pcards = [len(states[u]) for u in parents]
    card = len(states[var])
    size = math.prod([card, *pcards])  # Python ints: no wrap-around
    if size > MAX_TABLE:  # (a 'default' row could ask for it in one line of the file)
        raise p.error(f"the table of {var!r} given {len(parents)} parents has {size:,} entries; "
                      f"at most {MAX_TABLE:,} are read", head_line)
    arr = np.zeros((card, *pcards))
    filled = np.zeros(pcards, dtype=bool)
    default = None

    def check_sum(vals: np.ndarray, line: int, idx: tuple[int, ...] | None) -> None:
        """A row must sum to 1 (``idx``: its parent configuration; None: the default row)."""
        total = float(vals.sum())
        if abs(total - 1.0) <= ROW_TOL:
            return
        if idx is None:
            where = "the default row"
        elif parents:
            config = {u: states[u][i] for u, i in zip(parents, idx)}
            where = f"the row for parents {config}"
        else:
            where = "the table"
        raise p.error(f"probability of {var!r}: {where} sums to {total:.6g}, not 1", line)

    p.expect("{")
    while (tok := p.next()) != "}":
        line = p.line()
        if tok == "table":
            vals, lines = p.numbers(var)
            if len(vals) != arr.size:
                raise p.error(
                    f"table of {var!r} needs {arr.size} numbers, got {len(vals)}",
                    lines[0] if lines else line,
                )
            if filled.any():
                raise p.error(f"table of {var!r} repeats rows given earlier in the block", line)
            # the child's states slowest (JavaBayes BIF 0.15, pgmpy): shape (card, *pcards)
            arr = vals.reshape(card, *pcards)
            first_line = np.reshape(lines, (card, *pcards))[0]
            filled[...] = True
            for idx in np.ndindex(*pcards):
                check_sum(arr[(slice(None), *idx)], int(first_line[idx]), idx)
        elif tok == "default":
            vals, _ = p.numbers(var)
            if len(vals) != card:
                raise p.error(f"default row of {var!r} needs {card} numbers, got {len(vals)}", line)
            if default is not None:
                raise p.error(f"probability of {var!r} has a second default row", line)
            check_sum(vals, line, None)
            default = vals
        elif tok == "(":
            config = p.until(")")
            if len(config) != len(parents):
                raise p.error(
                    f"row {tuple(config)} of {var!r} gives {len(config)} parent states, "
                    f"but {var!r} has {len(parents)} parent{'s' * (len(parents) != 1)} {parents}",
                    line,
                )
            idx = []
            for u, s in zip(parents, config):
                if s not in states[u]:
                    raise p.error(
                        f"unknown state {s!r} of parent {u!r}; states are {list(states[u])}",
                        line,
                    )
                idx.append(states[u].index(s))
            vals, _ = p.numbers(var)
            if len(vals) != card:  # reported on the row's line, not the next token's
                raise p.error(
                    f"row {tuple(config)} of {var!r} needs {card} numbers, got {len(vals)}", line
                )
            if filled[tuple(idx)]:
                raise p.error(f"row {tuple(config)} of {var!r} is given twice", line)
            check_sum(vals, line, tuple(idx))
            arr[(slice(None), *idx)] = vals
            filled[tuple(idx)] = True
        elif tok == "property":
            p.until(";")
        else:
            p.pos -= 1
            raise p.error(
                f"probability of {var!r}: unexpected {tok!r} "
                "(expected 'table', 'default', a row '( ... )' or 'property')"
            )
    if default is not None:
        arr = np.where(filled, arr, default.reshape(card, *[1] * len(pcards)))
        filled[...] = True
    missing = [idx for idx in np.ndindex(*pcards) if not filled[idx]]
    if missing:
        config = {u: states[u][i] for u, i in zip(parents, missing[0])}
        what = f"no row for parents {config}" if parents else "no table"
        raise p.error(f"probability of {var!r} has {what}", head_line)
    return var, parents, arr


def network_stem(path: str | Path) -> str:
    """A file's name without its ``.gz``, ``.bif`` or ``.uai`` suffixes.

    >>> network_stem("/data/bnlearn/asia.bif.gz"), network_stem("my.net.uai")
    ('asia', 'my.net')
    """
    name = Path(path).name
    for suffix in (".gz", ".bif", ".uai"):
        if name.lower().endswith(suffix) and len(name) > len(suffix):
            name = name[: -len(suffix)]
    return name


def read_bif(path: str | Path) -> BayesianNetwork:
    """Read a ``.bif`` file, plain or gzipped (told by its first bytes, not its name).

    A network declared without a name or as ``unknown`` (as bnlearn's files are) is named
    after the file: ``asia.bif.gz`` gives ``asia``.
    """
    path = Path(path)
    text = read_network_text(path, BIFError)  # tolerates a byte-order mark
    return parse_bif(text, source=str(path), default_name=network_stem(path))


def _check_name(kind: str, name: str) -> str:
    """``name`` if the reader gives it back as one token; a clear error otherwise."""
    if (
        not name
        or any(c.isspace() or c in DELIMITERS + '"' for c in name)
        or name.startswith(("//", "/*"))
    ):
        raise ValueError(
            f"{kind} {name!r} cannot be written to BIF (empty, white space, a quote, one of "
            f"{DELIMITERS}, or a leading // or /* that would start a comment)"
        )
    return name


def write_bif_string(bn: BayesianNetwork) -> str:
    """The network as BIF text (bnlearn layout)."""
    lines = [f"network {_check_name('network name', bn.name)} {{", "}"]
    for v in bn.variables:
        names = ", ".join(_check_name("state", s) for s in bn.states[v])
        lines += [
            f"variable {_check_name('variable', v)} {{",
            f"  type discrete [ {len(bn.states[v])} ] {{ {names} }};",
            "}",
        ]
    for v in bn.variables:
        f = bn.cpds[v]
        ps = bn.parents[v]
        if not ps:
            lines += [f"probability ( {v} ) {{", f"  table {_row(f.values)};", "}"]
            continue
        lines.append(f"probability ( {v} | {', '.join(ps)} ) {{")
        for idx in np.ndindex(*f.values.shape[1:]):
            config = ", ".join(bn.states[p][i] for p, i in zip(ps, idx))
            lines.append(f"  ({config}) {_row(f.values[(slice(None), *idx)])};")
        lines.append("}")
    return "\n".join(lines) + "\n"


def _row(values: np.ndarray) -> str:
    return ", ".join(repr(float(x)) for x in np.ravel(values))


def write_bif(bn: BayesianNetwork, path: str | Path) -> None:
    """Write ``bn`` as BIF (gzipped when the name ends in ``.gz``)."""
    path = Path(path)
    data = write_bif_string(bn).encode("utf-8")
    if path.suffix == ".gz":
        data = gzip.compress(data)
    atomic_write_bytes(path, data)
