"""Sample-quality metrics: toy modes, Frechet distance, class histogram, k-NN precision/recall."""

from __future__ import annotations

import numpy as np
import pytest

from dgm.data import grid25_modes, load_dataset, ring8_modes, sample_toy
from dgm.eval import toy_metrics
from dgm.eval.classifier import FeatureClassifier, fit, load_classifier_file, save_classifier
from dgm.eval.fid import class_histogram, feature_stats, frechet_distance
from dgm.eval.precision_recall import precision_recall
from dgm.eval.samples import RealReference, image_floor, image_metrics, to_unit


# -- toy modes ------------------------------------------------------------------------------
@pytest.mark.parametrize("name,k", [("ring8", 8), ("grid25", 25)])
def test_true_samples_capture_every_mode_at_the_3_sigma_rate(name, k):
    m = toy_metrics(name, sample_toy(name, 2500, seed=1))
    assert m["modes"] == k
    assert abs(m["high_quality"] - (1 - np.exp(-4.5))) < 0.01  # P(r <= 3 sigma), 2-D Gaussian
    assert m["reverse_kl"] < 0.02


def test_collapsed_and_off_mode_samples():
    means, stds = grid25_modes()
    one = np.tile(means[3], (100, 1))
    m = toy_metrics("grid25", one)
    assert (m["modes"], m["high_quality"]) == (1, 1.0)
    assert m["reverse_kl"] == pytest.approx(np.log(25))
    half = np.repeat(means[:12], 10, axis=0)
    assert toy_metrics("grid25", half)["reverse_kl"] == pytest.approx(np.log(25 / 12))
    off = means[:5] + 4 * stds[0]  # 4 sigma along x from its mode: not high-quality
    m = toy_metrics("grid25", off)
    assert m["high_quality"] == 0 and m["modes"] == 0 and np.isnan(m["reverse_kl"])
    ring, rs = ring8_modes()
    edge = ring[:1] + [[2.9 * rs[0], 0]]
    assert toy_metrics("ring8", edge)["high_quality"] == 1.0


# -- Frechet distance and histogram ---------------------------------------------------------
@pytest.mark.parametrize("shape", [(10, 4), (20,), (0, 2)])
def test_samples_of_the_wrong_shape_are_refused_not_reshaped(shape):
    """(n, 4) was read as 2n points; no samples gave NaN with a warning."""
    with pytest.raises(ValueError, match=r"samples of shape \(n >= 1, 2\)"):
        toy_metrics("ring8", np.zeros(shape))


def test_frechet_distance_matches_the_closed_form_for_commuting_covariances():
    rng = np.random.default_rng(0)
    q, _ = np.linalg.qr(rng.normal(size=(4, 4)))
    a, b = rng.uniform(0.5, 2, 4), rng.uniform(0.5, 2, 4)
    s1, s2 = q @ np.diag(a) @ q.T, q @ np.diag(b) @ q.T
    mu1, mu2 = rng.normal(size=4), rng.normal(size=4)
    expect = ((mu1 - mu2) ** 2).sum() + ((np.sqrt(a) - np.sqrt(b)) ** 2).sum()
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expect, rel=1e-9)
    assert frechet_distance(mu1, s1, mu1, s1) == pytest.approx(0, abs=1e-9)
    # singular covariances (fewer samples than dimensions) stay finite
    f = rng.normal(size=(5, 20))
    assert np.isfinite(frechet_distance(*feature_stats(f), *feature_stats(f + 1)))


def test_class_histogram():
    h = class_histogram(np.array([0] * 50 + [1] * 30 + [2] * 20), n_classes=4)
    assert h["class_shares"] == [0.5, 0.3, 0.2, 0.0]
    assert h["min_class_share"] == 0 and h["classes_present"] == 3
    assert h["kl_to_uniform"] == pytest.approx(sum(p * np.log(4 * p) for p in (0.5, 0.3, 0.2)))


# -- precision / recall ---------------------------------------------------------------------
def _naive_pr(r, f, k):
    def radii(a):
        d = np.linalg.norm(a[:, None] - a[None], axis=-1)
        return np.sort(d, 1)[:, k]

    def cov(q, s, rad):
        d = np.linalg.norm(q[:, None] - s[None], axis=-1)
        return (d <= rad[None]).any(1).mean()

    return cov(f, r, radii(r)), cov(r, f, radii(f))


def test_precision_recall_matches_a_naive_implementation():
    rng = np.random.default_rng(3)
    r, f = rng.normal(size=(120, 3)), rng.normal(size=(90, 3)) * 1.5 + 0.5
    got = precision_recall(r, f, k=3)
    p, rc = _naive_pr(r, f, 3)
    assert got["precision"] == pytest.approx(p) and got["recall"] == pytest.approx(rc)


# -- a tiny classifier, trained in seconds on 8x8 digits --------------------------------------
@pytest.fixture(scope="module")
def digits_clf():
    d = load_dataset("digits:gray")
    clf = FeatureClassifier(side=8, c1=8, c2=16, hidden=32).reset_parameters(0)
    fit(clf, d.train.x, d.train.y, epochs=15, batch=64, lr=3e-3, seed=0)
    return clf, d


def test_tiny_classifier_learns_digits_and_round_trips(digits_clf, tmp_path):
    clf, d = digits_clf
    acc = clf.accuracy(d.test.x, d.test.y)
    assert acc > 0.85
    path = save_classifier(clf, tmp_path / "c.safetensors", {"test_accuracy": acc})
    again, info = load_classifier_file(path)
    assert info["test_accuracy"] == acc
    assert np.array_equal(again.embed(d.test.x[:20])[0], clf.embed(d.test.x[:20])[0])


def test_image_metrics_rank_real_above_noise_and_collapse(digits_clf):
    clf, d = digits_clf
    ref = RealReference(clf, d.train.x, d.test.x)
    floor = image_floor(clf, ref)
    rng = np.random.default_rng(0)
    noise = image_metrics(clf, rng.uniform(0, 1, d.test.x.shape).astype(np.float32), ref)
    zeros = d.train.x[d.train.y == 0]
    collapsed = image_metrics(clf, np.repeat(zeros[:5], 50, axis=0), ref)
    assert floor["fid"] < 0.2 * noise["fid"]
    assert floor["fid"] < collapsed["fid"]
    assert floor["classes_present"] == 10 and floor["min_class_share"] > 0.05
    assert collapsed["classes_present"] <= 2 and collapsed["recall"] < floor["recall"]
    assert noise["precision"] < floor["precision"]


def test_to_unit_maps_pm1_images():
    x = np.array([-1.5, -1.0, 0.0, 1.0])
    assert to_unit(x, "pm1").tolist() == [0.0, 0.0, 0.5, 1.0]
    assert to_unit(x, "unit").tolist() == [0.0, 0.0, 0.0, 1.0]


def test_sample_metrics_for_an_mnist_run_with_a_tiny_classifier(shared_data):
    """The 28x28 path end to end, with a classifier trained in seconds on 3,000 images."""
    from dgm.eval.samples import sample_metrics_for_run
    from dgm.models.dcgan import DCGAN, DCGANConfig

    gray = load_dataset("mnist:gray", data_dir=shared_data)
    clf = FeatureClassifier(side=28, c1=4, c2=8, hidden=16).reset_parameters(0)
    fit(clf, gray.train.x[:3000], gray.train.y[:3000], epochs=1, batch=100, lr=3e-3)
    model = DCGAN(DCGANConfig(latent=8, width=4), (1, 28, 28)).reset_parameters(0).eval()
    splits = load_dataset("mnist:pm1", data_dir=shared_data)
    m = sample_metrics_for_run(model, splits, n_samples=300, seed=0, data_dir=shared_data,
                               classifier=clf)
    for k in ("fid", "min_class_share", "kl_to_uniform", "precision", "recall", "floor_fid"):
        assert np.isfinite(m[k]), k
    assert m["floor_fid"] < m["fid"]
