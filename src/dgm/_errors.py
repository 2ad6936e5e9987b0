"""The library's own error base class, importable without torch (the CLI catches it)."""


class DGMError(RuntimeError):
    """A failure dgm detected and explains in its message (a corrupt checkpoint, a diverged
    run): the command line prints the message, not a traceback."""
