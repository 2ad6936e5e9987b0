"""What ``dgm eval RUN --samples N`` reports: sample-quality metrics for any model that samples.

* toy 2-D runs (``ring8``, ``grid25``): :func:`dgm.eval.toy_metrics` on ``n_samples`` samples
  (the papers use 2,500), beside the same metrics of as many true points (the floor);
* MNIST-shaped image runs (1, 28, 28): the classifier metrics of :func:`image_metrics`
  against the real ``mnist:gray`` training images, beside the floor (real test images
  scored the same way);
* any other data (digits, moons, ...): :func:`raw_metrics`, the Frechet distance and k-NN
  precision/recall on the data's own values (no feature network), beside the same floor.

Samples are mapped to data space [0, 1] first (:func:`to_unit`): a model whose
``data_range`` is "pm1" (GAN, DCGAN) gives values in [-1, 1]. Samples with NaN or inf (a
diverged model) are refused, naming the model and the first bad value, before any clipping.

>>> import numpy as np
>>> to_unit(np.array([-1.0, 0.0, 1.0]), "pm1").tolist()
[0.0, 0.5, 1.0]
"""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from dgm.eval.classifier import FeatureClassifier
from dgm.eval.fid import class_histogram, feature_stats, frechet_distance
from dgm.eval.precision_recall import precision_recall
from dgm.eval.toy_modes import toy_metrics

MAX_SAMPLES = 1_000_000
"""The most samples ``dgm eval --samples`` scores: 20x the 50,000 the literature uses at most;
a million MNIST samples already take gigabytes and a long while on a CPU."""


def to_unit(x: Any, data_range: str) -> np.ndarray:
    """Samples in data space -> [0, 1] (pm1: (x + 1) / 2), clipped; float32."""
    x = np.asarray(x.detach().cpu() if hasattr(x, "detach") else x, dtype=np.float32)
    if data_range == "pm1":
        x = (x + 1.0) / 2.0
    return np.clip(x, 0.0, 1.0)


def _refuse_non_finite(x: np.ndarray, what: str, hint: str = "") -> None:
    """ValueError naming ``what``, how many rows of ``x`` (N, ...) hold NaN/inf, and the first."""
    bad = ~np.isfinite(x)
    if not bad.any():
        return
    x, bad = x.reshape(len(x), -1), bad.reshape(len(x), -1)
    r, c = (int(i) for i in np.argwhere(bad)[0])
    raise ValueError(f"{what}: {int(bad.any(1).sum())} of {len(x)} samples contain NaN or inf; "
                     f"the first is {x[r, c]} at row {r}, column {c}{hint}")


def model_samples(model, n: int, seed: int = 0, batch: int = 1000) -> np.ndarray:
    """(n, D) samples in [0, 1] for images / data space for toy data, drawn in batches.

    ``ValueError`` if any value is NaN or inf (checked before images are clipped to [0, 1]).
    """
    from dgm._rng import derive_seed

    out = [model.sample(min(batch, n - s), seed=derive_seed(seed, "samples", s)).cpu().numpy()
           for s in range(0, n, batch)]
    x = np.concatenate(out).reshape(n, -1)
    _refuse_non_finite(x, f"samples of model {getattr(model, 'name', type(model).__name__)!r}",
                       "; the model has diverged (see its training curve)")
    if len(model.input_shape) == 3:
        x = to_unit(x, getattr(model, "data_range", "unit"))
    return x


_BAD_FEATURES = ("; the classifier's weights are not finite: rebuild it (`dgm classifier "
                 "--out FILE`)")


class RealReference:
    """Classifier features of real images, computed once per (classifier, images)."""

    def __init__(self, clf: FeatureClassifier, train: np.ndarray, test: np.ndarray | None = None,
                 n: int = 10_000):
        self.clf = clf
        self.train_feats, _ = clf.embed(train[:n])
        _refuse_non_finite(self.train_feats, "classifier features of the real images",
                           _BAD_FEATURES)
        self.stats = feature_stats(self.train_feats)
        self.test = test[:n] if test is not None else None


def image_metrics(clf: FeatureClassifier, samples: np.ndarray, ref: RealReference,
                  n_pr: int = 5000) -> dict[str, Any]:
    """FD in classifier space, class histogram and k-NN precision/recall (k = 3).

    ``samples`` are (N, D) images in [0, 1]; NaN or inf is a ``ValueError``.
    """
    samples = np.asarray(samples.detach().cpu() if hasattr(samples, "detach") else samples,
                         dtype=np.float32)
    _refuse_non_finite(samples, "image_metrics samples")
    feats, pred = clf.embed(samples)
    _refuse_non_finite(feats, "classifier features of the samples", _BAD_FEATURES)
    out = {"fid": frechet_distance(*ref.stats, *feature_stats(feats)),
           **class_histogram(pred, clf.config["n_classes"])}
    m = min(n_pr, len(feats), len(ref.train_feats))
    out.update(precision_recall(ref.train_feats[:m], feats[:m]))
    return out


def _data_values(x: np.ndarray, kind: str, model) -> np.ndarray:
    """Real data on the scale of :func:`model_samples`: images in [0, 1], others as they are."""
    x = np.asarray(x, dtype=np.float32).reshape(len(x), -1)
    return to_unit(x, kind) if len(model.input_shape) == 3 else x


def raw_metrics(samples: np.ndarray, real: np.ndarray, n: int = 5000) -> dict[str, Any]:
    """Frechet distance (``fd_raw``) and k-NN precision/recall of (N, D) samples against real
    (M, D) data, both on the raw values: for data with no trained feature network.

    >>> rng = np.random.default_rng(0)
    >>> real = rng.normal(size=(400, 2))
    >>> good, bad = raw_metrics(rng.normal(size=(400, 2)), real), raw_metrics(real + 3, real)
    >>> round(good["fd_raw"], 2), round(bad["fd_raw"], 2)  # a shift of (3, 3): 3^2 + 3^2
    (0.02, 18.0)
    >>> good["precision"] > 0.9, bad["precision"] < 0.3
    (True, True)
    """
    samples = np.asarray(samples, dtype=np.float64).reshape(len(samples), -1)
    real = np.asarray(real, dtype=np.float64).reshape(len(real), -1)
    out: dict[str, Any] = {"fd_raw": frechet_distance(*feature_stats(real),
                                                      *feature_stats(samples))}
    m = min(n, len(samples), len(real))
    out.update(precision_recall(real[:m], samples[:m]))
    return out


def image_floor(clf: FeatureClassifier, ref: RealReference) -> dict[str, Any]:
    """The metrics of real test images against the training images: the best reachable."""
    if ref.test is None:
        return {}
    return image_metrics(clf, ref.test, ref)


def _file_hash(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


def sample_metrics_for_run(model, splits, n_samples: int = 10_000, seed: int = 0,
                           data_dir: str | os.PathLike | None = None,
                           classifier: FeatureClassifier | None = None) -> dict[str, Any]:
    """Sample-quality metrics of a loaded model (``dgm.load``) trained on ``splits``.

    Toy data: modes / high-quality share / reverse KL (``floor_*``: true points). MNIST
    images: ``fid``, ``min_class_share``, ``kl_to_uniform``, ``precision``, ``recall``
    (``floor_*``: real test images), with the classifier's test accuracy and file hash.
    """
    if not hasattr(model, "sample"):
        raise ValueError(f"model {model.name!r} cannot generate samples")
    if n_samples > MAX_SAMPLES:  # before hours of sampling, or running out of memory
        raise ValueError(f"--samples must be at most {MAX_SAMPLES:,} (sample quality is "
                         f"usually measured on 2,500 to 50,000), got {n_samples:,}")
    t0 = time.perf_counter()
    name = splits.train.name
    out: dict[str, Any] = {"model": model.name, "data": name, "n_samples": int(n_samples),
                           "seed": seed}
    x = model_samples(model, n_samples, seed)
    if tuple(model.input_shape) == (2,) and name in ("ring8", "grid25"):
        from dgm.eval.toy_modes import toy_floor

        out.update(toy_metrics(name, x))
        floor = toy_floor(name, n_samples, seed)
        out.update({f"floor_{k}": v for k, v in floor.items() if k != "counts"})
    elif tuple(model.input_shape) == (1, 28, 28):
        from dgm.data import load_dataset
        from dgm.eval.classifier import find_classifier, load_mnist_classifier

        info: dict[str, Any] = {}
        if classifier is None:
            classifier, info = load_mnist_classifier(data_dir)
            out["classifier_sha256"] = _file_hash(find_classifier(data_dir))
        out["classifier_test_accuracy"] = info.get("test_accuracy")
        gray = load_dataset("mnist:gray", data_dir=data_dir)
        ref = RealReference(classifier, gray.train.x, gray.test.x, n=n_samples)
        out.update(image_metrics(classifier, x, ref))
        out.update({f"floor_{k}": v for k, v in image_floor(classifier, ref).items()
                    if k != "class_shares"})
    else:  # any other data (digits, moons, ...): the same distances on the data's own values
        out["space"] = "raw data values (no feature network for this data)"
        train = _data_values(splits.train.x, splits.train.kind, model)  # (N, D)
        out.update(raw_metrics(x, train))
        if splits.test is not None:
            test = _data_values(splits.test.x, splits.test.kind, model)
            out.update({f"floor_{k}": v for k, v in raw_metrics(test[:n_samples], train).items()})
    out["seconds"] = time.perf_counter() - t0
    return out
