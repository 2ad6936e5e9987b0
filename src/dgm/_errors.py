"""The library's own error base class and the command lines' one way of reporting errors,
importable without torch (``dgm.pgm`` and ``dgm.data`` use it too)."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable


class DGMError(RuntimeError):
    """A failure dgm detected and explains in its message (a corrupt checkpoint, a diverged
    run): the command line prints the message, not a traceback."""


def error_text(err: BaseException) -> str:
    """The message of an error; an OS error as ``Permission denied: /sys/x``: the problem,
    then the path."""
    if isinstance(err, OSError) and err.filename is not None:
        return f"{err.strerror or err}: {err.filename}"
    return str(err)


def _stdout_gone() -> None:
    """The reader of stdout went away (``| head``): send what is left to /dev/null."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # no real stdout (e.g. captured)
        pass


def run_command(what: str, body: Callable[[], int | None],
                errors: tuple[type[BaseException], ...] = (ValueError, OSError, DGMError)
                ) -> int:
    """Run a command: its status (0 when it returns None); for an error it explains, one
    line ``WHAT: error: ...`` on stderr and 2; a closed stdout (``| head``) ends quietly
    with 0; Ctrl-C prints ``WHAT: interrupted`` and gives 130. Never a traceback for these."""
    try:
        status = int(body() or 0)
        sys.stdout.flush()  # a closed pipe shows here, not at exit
        return status
    except BrokenPipeError:  # before OSError: not an error
        _stdout_gone()
        return 0
    except errors as err:
        print(f"{what}: error: {error_text(err)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{what}: interrupted", file=sys.stderr)
        return 130
