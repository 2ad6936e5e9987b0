"""Probabilistic graphical models in NumPy: Bayesian and Markov networks, exact inference.

Imports without torch.  The main entry points:

>>> from dgm.pgm import examples
>>> bn = examples.student()
>>> bn.query("I", evidence={"G": "g1"}).values.round(3).tolist()
[0.387, 0.613]
>>> round(examples.misconception().partition_function())
7201840
"""

from dgm.pgm.bayesnet import BayesianNetwork, Independence, cpd
from dgm.pgm.factor import Factor
from dgm.pgm.inference import ImpossibleEvidenceError
from dgm.pgm.io.bif import BIFError, parse_bif, read_bif, write_bif
from dgm.pgm.io.network import load_network
from dgm.pgm.markovnet import MarkovNetwork

__all__ = [
    "BIFError",
    "BayesianNetwork",
    "Factor",
    "ImpossibleEvidenceError",
    "Independence",
    "MarkovNetwork",
    "cpd",
    "load_network",
    "parse_bif",
    "read_bif",
    "write_bif",
]
