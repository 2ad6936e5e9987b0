"""Sample-quality metrics usable on any model's samples (no download needed).

* :mod:`dgm.eval.toy_modes`: modes captured, high-quality share, reverse KL (ring8, grid25);
* :mod:`dgm.eval.classifier`: the MNIST feature classifier dgm trains itself;
* :mod:`dgm.eval.fid`: Frechet distance in the classifier's feature space, class histogram;
* :mod:`dgm.eval.precision_recall`: k-NN precision and recall (Kynkaanniemi et al. 2019);
* :mod:`dgm.eval.theory`: the GAN theorem (D*, -log 4 + 2 JSD) and generator gradients;
* :mod:`dgm.eval.samples`: :func:`sample_metrics_for_run`, what ``dgm eval --samples`` reports.
"""

from __future__ import annotations

from dgm.eval.toy_modes import N_EVAL, mode_metrics, toy_floor, toy_metrics

__all__ = ["N_EVAL", "mode_metrics", "toy_floor", "toy_metrics"]
