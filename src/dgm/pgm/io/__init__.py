"""Readers and writers: BIF (Bayesian networks) and UAI (Markov and Bayesian networks)."""

from dgm.pgm.io.bif import BIFError, parse_bif, read_bif, write_bif, write_bif_string

__all__ = ["BIFError", "parse_bif", "read_bif", "write_bif", "write_bif_string"]
