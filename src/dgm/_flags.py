"""Command-line flags built from the config dataclasses, and the errors that name them.

Every model and training option is a field of a typed config; its flag, type, default and
help come from the field (the comment beside it is the help), so nothing here knows a model.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import re
from collections.abc import Iterable, Iterator
from typing import Any


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def add_dataclass_flags(parser: argparse.ArgumentParser, cls: type, skip: tuple = (),
                        keep: tuple | None = None) -> None:
    """One flag per field, typed from the field's annotation, default from the class, help
    from the comment beside the field (:meth:`dgm.models.base.ModelConfig.field_help`)."""
    helps = cls.field_help() if hasattr(cls, "field_help") else {}
    for f in dataclasses.fields(cls):
        if f.name in skip or (keep is not None and f.name not in keep):
            continue
        t, default = str(f.type), f.default
        text = helps.get(f.name, "").replace("%", "%%")  # argparse formats help with %
        kw: dict[str, Any] = {"dest": f.name, "default": argparse.SUPPRESS,
                              "help": f"{text} (default: {default})".lstrip()}
        if t == "bool":
            kw["action"] = argparse.BooleanOptionalAction
        elif t.startswith("tuple["):
            kw.update(nargs="*", type=int if "int" in t else float, metavar="N")
        elif t in ("int", "float"):
            kw["type"] = int if t == "int" else float
        else:
            kw["type"] = str
        parser.add_argument(flag(f.name), **kw)


@contextlib.contextmanager
def options_as_flags(names: Iterable[str]) -> Iterator[None]:
    """A ValueError that names an option by its Python name (``batch_size must be ...``,
    ``ais_betas=3``) names it by its flag instead (``--batch-size``), as the user typed it."""
    try:
        yield
    except ValueError as err:
        msg = str(err)
        for name in sorted(names, key=len, reverse=True):
            # a name before " " or "=" or at the end; not prose: "reads the schedule off"
            msg = re.sub(rf"(?<![\w-])(?<!the ){name}(?=[ =]|$)", flag(name), msg)
        if msg == str(err):
            raise
        raise ValueError(msg) from err


def split_args(args: argparse.Namespace, cls: type) -> dict[str, Any]:
    names = {f.name for f in dataclasses.fields(cls)}
    return {k: v for k, v in vars(args).items() if k in names}


def command(subparsers, name: str, **kw: Any) -> argparse.ArgumentParser:
    """A (sub)command: no abbreviated flags (--lat is not --latent), and it knows itself
    so that an unknown flag is reported with its usage (:func:`dgm.cli.main`)."""
    c = subparsers.add_parser(name, allow_abbrev=False, **kw)
    c.set_defaults(cli_parser=c)
    return c


#: what torch says when an allocation fails (CPU: "DefaultCPUAllocator: can't allocate
#: memory: you tried to allocate N bytes"; GPU: "CUDA out of memory. Tried to allocate 2 GiB")
_NO_MEMORY = re.compile(r"can't allocate memory|out of memory", re.I)
#: the size asked for, in torch's and NumPy's words ("Unable to allocate 149. GiB for ...")
_ASKED = re.compile(r"(?:tried|unable) to allocate ([\d.]+) ?(bytes|[KMGTP]i?B)", re.I)


@contextlib.contextmanager
def memory_named(what: str, lower: str) -> Iterator[None]:
    """A MemoryError, or torch's RuntimeError for an allocation that failed, as a one-line
    :class:`~dgm._errors.DGMError`: ``WHAT needs more memory than there is (an allocation
    of 80 GB failed): lower LOWER``, the option that sets the size, not a traceback."""
    from dgm._errors import DGMError

    try:
        yield
    except (MemoryError, RuntimeError) as err:
        if isinstance(err, DGMError) or not (isinstance(err, MemoryError)
                                              or _NO_MEMORY.search(str(err))):
            raise
        raise DGMError(f"{what} needs more memory than there is{_asked(str(err))}: "
                       f"lower {lower}") from None


def _asked(message: str) -> str:
    """`` (an allocation of 80 GB failed)`` read off an allocation error's message (the
    one that failed: the command may have needed more in all); "" when it has none."""
    m = _ASKED.search(message)
    if m is None:
        return ""
    size, unit = m.groups()
    size = f"{float(size) / 1e9:.3g} GB" if unit == "bytes" else f"{size.rstrip('.')} {unit}"
    return f" (an allocation of {size} failed)"
