"""Immutable discrete factors: tables over named variables, combined with einsum.

A :class:`Factor` maps every joint state of its variables to a non-negative
number.  Conditional probability tables, clique potentials and posteriors are
all factors.  Every operation returns a new factor; the table is read-only.

>>> a = Factor(["A", "B"], [2, 2], [[30, 5], [1, 10]])
>>> a.marginalize(["B"]).values.tolist()
[35.0, 11.0]
>>> a.reduce({"A": 1}).values.tolist()
[1.0, 10.0]
>>> (a * Factor(["B"], [2], [0.5, 2.0])).values.tolist()
[[15.0, 10.0], [0.5, 20.0]]
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

StateNames = Mapping[str, Sequence[str]]
MAX_OPERANDS = 32  # np.einsum takes at most 32 operands (NumPy 1.x; 64 in NumPy 2)


def default_states(card: int) -> tuple[str, ...]:
    """State names used when none are given: ``("0", "1", ...)``."""
    return tuple(str(i) for i in range(card))


def state_index(variable: str, value: Any, states: Sequence[str]) -> int:
    """The index of ``value`` among ``states``: a state name (str) or an index (int).

    >>> state_index("G", "g2", ["g1", "g2", "g3"])
    1
    >>> state_index("G", 2, ["g1", "g2", "g3"])
    2
    """
    if isinstance(value, (str, np.str_)):
        try:
            return list(states).index(str(value))
        except ValueError:
            raise ValueError(
                f"unknown state {value!r} for variable {variable!r}; states are {list(states)}"
            ) from None
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        if 0 <= int(value) < len(states):
            return int(value)
        raise ValueError(
            f"state index {value} out of range for variable {variable!r} "
            f"with {len(states)} states {list(states)}"
        )
    raise TypeError(f"state of {variable!r} must be a state name or an index, got {value!r}")


def _state_names(
    variables: Sequence[str], cardinality: Sequence[int], given: StateNames
) -> dict[str, tuple[str, ...]]:
    """Each variable's state names (given or default), checked: one per state, all distinct."""
    names: dict[str, tuple[str, ...]] = {}
    for var, card in zip(variables, cardinality):
        states = tuple(str(s) for s in given.get(var, default_states(card)))
        if len(states) != card:
            raise ValueError(f"variable {var!r} has cardinality {card} but states {states}")
        if len(set(states)) != card:
            twice = next(s for i, s in enumerate(states) if s in states[:i])
            raise ValueError(f"variable {var!r} has the state {twice!r} twice: {list(states)}")
        names[var] = states
    return names


class Factor:
    """A non-negative table over discrete variables (immutable).

    ``values`` has one axis per variable, in the order of ``variables``; axis
    ``i`` has ``cardinality[i]`` entries, in the order of ``state_names[var]``.
    """

    __slots__ = ("variables", "cardinality", "values", "state_names")

    variables: tuple[str, ...]
    cardinality: tuple[int, ...]
    values: np.ndarray
    state_names: dict[str, tuple[str, ...]]

    def __init__(
        self,
        variables: Sequence[str],
        cardinality: Sequence[int],
        values: Any,
        state_names: StateNames | None = None,
    ) -> None:
        variables = tuple(str(v) for v in variables)
        cardinality = tuple(int(c) for c in cardinality)
        if len(set(variables)) != len(variables):
            raise ValueError(f"repeated variable in factor scope {variables}")
        if len(variables) != len(cardinality):
            raise ValueError(
                f"{len(variables)} variables {list(variables)} but {len(cardinality)} "
                f"cardinalities {list(cardinality)}"
            )
        small = [(v, c) for v, c in zip(variables, cardinality) if c < 1]
        if small:
            raise ValueError(
                f"variable {small[0][0]!r} has cardinality {small[0][1]}; "
                "a variable needs at least one state"
            )
        names = _state_names(variables, cardinality, state_names or {})
        arr = np.array(values, dtype=np.float64)
        need = math.prod(cardinality)  # a Python int: an int64 product could wrap to 0
        if arr.size != need:
            raise ValueError(
                f"factor over {list(variables)} with cardinalities {list(cardinality)} needs "
                f"{need} values, got {arr.size}"
            )
        arr = arr.reshape(cardinality)
        bad = ~np.isfinite(arr) | (arr < 0)
        if bad.any():
            idx = tuple(int(i) for i in np.argwhere(bad)[0])
            entry = {v: names[v][i] for v, i in zip(variables, idx)}
            raise ValueError(
                f"factor over {list(variables)} has negative or non-finite values: "
                f"entry {entry} = {arr[idx]}"
            )
        arr.flags.writeable = False
        object.__setattr__(self, "variables", variables)
        object.__setattr__(self, "cardinality", cardinality)
        object.__setattr__(self, "values", arr)
        object.__setattr__(self, "state_names", names)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("Factor is immutable; operations return new factors")

    # ------------------------------------------------------------------ basics
    @property
    def scope(self) -> tuple[str, ...]:
        """The variables of the factor (same as ``variables``)."""
        return self.variables

    SHOWN = 64  # joint states shown by repr (a larger factor shows its header only)

    def __repr__(self) -> str:
        """The header and, for up to :attr:`SHOWN` joint states, the table itself.

        >>> Factor(["I"], [2], [0.3867, 0.6133], {"I": ["low", "high"]})
        Factor(['I'], cardinality=[2])
        I     value
        low   0.3867
        high  0.6133
        """
        head = f"Factor({list(self.variables)}, cardinality={list(self.cardinality)})"
        n = math.prod(self.cardinality)
        if n > self.SHOWN:
            return f"{head} ({n} values: see .values)"
        cols = [*self.variables, "value"]
        rows = [[*(self.state_names[v][i] for v, i in zip(self.variables, idx)),
                 f"{float(self.values[idx]):.6g}"] for idx in np.ndindex(*self.cardinality)]
        widths = [max(len(str(c)), *(len(r[j]) for r in rows)) for j, c in enumerate(cols)]
        lines = ["  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip()
                 for row in [cols, *rows]]
        return "\n".join([head, *lines])

    def _with(self, variables: Sequence[str], values: np.ndarray) -> Factor:
        names = {v: self.state_names[v] for v in variables}
        return Factor(variables, [len(names[v]) for v in variables], values, names)

    def transpose(self, variables: Sequence[str]) -> Factor:
        """The same factor with its axes in the order ``variables``."""
        variables = list(variables)
        if sorted(variables) != sorted(self.variables):
            raise ValueError(f"{variables} is not a permutation of {list(self.variables)}")
        axes = [self.variables.index(v) for v in variables]
        return self._with(variables, np.transpose(self.values, axes))

    def value(self, assignment: Mapping[str, Any]) -> float:
        """The entry for a full assignment of the factor's variables (names or indices)."""
        missing = [v for v in self.variables if v not in assignment]
        if missing:
            raise ValueError(
                f"assignment lacks variables {missing} of the factor over {list(self.variables)}"
            )
        idx = tuple(state_index(v, assignment[v], self.state_names[v]) for v in self.variables)
        return float(self.values[idx])

    def allclose(self, other: Factor, rtol: float = 1e-9, atol: float = 1e-12) -> bool:
        """Whether two factors agree (same scope and states, any axis order)."""
        if set(self.variables) != set(other.variables):
            return False
        if any(self.state_names[v] != other.state_names[v] for v in self.variables):
            return False
        other_t = other.transpose(self.variables)
        return bool(np.allclose(self.values, other_t.values, rtol=rtol, atol=atol))

    # ------------------------------------------------------------- operations
    def product(self, *others: Factor) -> Factor:
        """The factor product, over the union of the scopes (einsum).

        Any number of factors: beyond einsum's operand limit they are
        multiplied in groups.
        """
        if len(others) >= MAX_OPERANDS:
            out = self
            for k in range(0, len(others), MAX_OPERANDS - 1):
                out = out.product(*others[k : k + MAX_OPERANDS - 1])
            return out
        factors = (self, *others)
        names: dict[str, tuple[str, ...]] = {}
        for f in factors:
            for v in f.variables:
                if v in names and names[v] != f.state_names[v]:
                    raise ValueError(
                        f"variable {v!r} has different states in two factors: "
                        f"{list(names[v])} and {list(f.state_names[v])}"
                    )
                names[v] = f.state_names[v]
        out = list(names)
        label = {v: i for i, v in enumerate(out)}
        args: list[Any] = []
        for f in factors:
            args += [f.values, [label[v] for v in f.variables]]
        values = np.einsum(*args, list(range(len(out))))
        return Factor(out, [len(names[v]) for v in out], values, names)

    def __mul__(self, other: Factor) -> Factor:
        if isinstance(other, Factor):
            return self.product(other)
        if isinstance(other, (int, float, np.number)):
            return self._with(self.variables, self.values * float(other))
        return NotImplemented

    __rmul__ = __mul__

    def _drop(self, variables: Iterable[str]) -> tuple[list[str], tuple[int, ...]]:
        drop = list(dict.fromkeys(variables))
        unknown = [v for v in drop if v not in self.variables]
        if unknown:
            raise ValueError(f"variables {unknown} are not in the factor scope {self.variables}")
        keep = [v for v in self.variables if v not in drop]
        return keep, tuple(self.variables.index(v) for v in drop)

    def marginalize(self, variables: Iterable[str]) -> Factor:
        """Sum the given variables out."""
        keep, axes = self._drop(variables)
        return self._with(keep, self.values.sum(axis=axes))

    def maximize(self, variables: Iterable[str]) -> Factor:
        """Maximize the given variables out (max-product)."""
        keep, axes = self._drop(variables)
        return self._with(keep, self.values.max(axis=axes))

    def reduce(self, evidence: Mapping[str, Any]) -> Factor:
        """Condition on ``{variable: state}``; variables not in the scope are ignored."""
        index: list[Any] = []
        keep = []
        for v in self.variables:
            if v in evidence:
                index.append(state_index(v, evidence[v], self.state_names[v]))
            else:
                index.append(slice(None))
                keep.append(v)
        return self._with(keep, self.values[tuple(index)])

    def normalize(self) -> Factor:
        """The factor divided by its total (a distribution over its scope)."""
        total = self.values.sum()
        if total <= 0:
            raise ValueError(f"cannot normalize factor over {list(self.variables)}: it sums to 0")
        return self._with(self.variables, self.values / total)

    def log_values(self) -> np.ndarray:
        """``log(values)`` with ``-inf`` for zeros (no warning)."""
        with np.errstate(divide="ignore"):
            return np.log(self.values)

    def log_normalizer(self) -> float:
        """``log(sum(values))``, computed stably."""
        m = float(self.values.max()) if self.values.size else 0.0
        if m <= 0:
            return float("-inf")
        return float(np.log(m) + np.log(np.sum(self.values / m)))

    def argmax(self) -> dict[str, str]:
        """The state names of the largest entry (ties: first in C order)."""
        idx = np.unravel_index(int(np.argmax(self.values)), self.cardinality)
        return {v: self.state_names[v][int(i)] for v, i in zip(self.variables, idx)}
