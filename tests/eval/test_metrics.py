"""Sample-quality metrics: toy modes, Frechet distance, class histogram, k-NN precision/recall."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dgm.data import grid25_modes, load_dataset, ring8_modes, sample_toy
from dgm.eval import toy_metrics
from dgm.eval.classifier import (
    FILE_NAME,
    ClassifierFileError,
    FeatureClassifier,
    fit,
    load_classifier_file,
    load_mnist_classifier,
    save_classifier,
)
from dgm.eval.fid import class_histogram, feature_stats, frechet_distance
from dgm.eval.precision_recall import precision_recall
from dgm.eval.samples import RealReference, image_floor, image_metrics, model_samples, to_unit
from dgm.eval.toy_modes import mode_metrics


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


def test_frechet_distance_matches_sqrtm_for_non_commuting_covariances():
    """tr (S1 S2)^{1/2} is not tr S1^{1/2} S2^{1/2} unless S1 and S2 commute (that mistake
    is off by 2% to 6% here); random SPD pairs against scipy's general matrix square root."""
    from scipy.linalg import sqrtm

    rng = np.random.default_rng(1)
    for d in (2, 5, 8):
        a, b = rng.normal(size=(d, d)), rng.normal(size=(d, d)) * 1.5
        s1, s2 = a @ a.T + 0.1 * np.eye(d), b @ b.T + 0.1 * np.eye(d)
        assert not np.allclose(s1 @ s2, s2 @ s1)
        mu1, mu2 = rng.normal(size=d), rng.normal(size=d)
        expect = (((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2)
                  - 2 * np.trace(sqrtm(s1 @ s2)).real)
        assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expect, rel=1e-6), d
        assert frechet_distance(mu2, s2, mu1, s1) == pytest.approx(expect, rel=1e-6), d


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
    assert image_floor(clf, RealReference(clf, d.train.x[:100])) == {}  # no test images


def test_to_unit_maps_pm1_images():
    x = np.array([-1.5, -1.0, 0.0, 1.0])
    assert to_unit(x, "pm1").tolist() == [0.0, 0.0, 0.5, 1.0]
    assert to_unit(x, "unit").tolist() == [0.0, 0.0, 0.0, 1.0]


def test_sample_metrics_for_an_mnist_run_with_a_tiny_classifier(shared_data, tmp_path,
                                                                monkeypatch):
    """The 28x28 path end to end, with a classifier trained in seconds on 3,000 images and
    found where ``dgm classifier`` caches it (<data dir>/cache), its hash in the record."""
    import hashlib

    from dgm.eval.samples import sample_metrics_for_run
    from dgm.models.dcgan import DCGAN, DCGANConfig

    gray = load_dataset("mnist:gray", data_dir=shared_data)
    model = DCGAN(DCGANConfig(latent=8, width=4), (1, 28, 28)).reset_parameters(0).eval()
    splits = load_dataset("mnist:pm1", data_dir=shared_data)
    data_dir = tmp_path / "data"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))  # not the user's classifier
    (data_dir / "cache").mkdir(parents=True)
    (data_dir / "mnist").symlink_to((shared_data / "mnist").resolve())
    with pytest.raises(FileNotFoundError, match=f"no MNIST feature classifier at "
                                                f"{data_dir / 'cache' / FILE_NAME} .*"
                                                "train it once .* dgm classifier"):
        sample_metrics_for_run(model, splits, n_samples=300, data_dir=data_dir)
    clf = FeatureClassifier(side=28, c1=4, c2=8, hidden=16).reset_parameters(0)
    fit(clf, gray.train.x[:3000], gray.train.y[:3000], epochs=1, batch=100, lr=3e-3)
    path = save_classifier(clf, data_dir / "cache" / FILE_NAME, {"test_accuracy": 0.5})
    m = sample_metrics_for_run(model, splits, n_samples=300, seed=0, data_dir=data_dir)
    for k in ("fid", "min_class_share", "kl_to_uniform", "precision", "recall", "floor_fid"):
        assert np.isfinite(m[k]), k
    assert m["floor_fid"] < m["fid"]
    assert m["classifier_test_accuracy"] == 0.5
    assert m["classifier_sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()[:16]


# -- bad input: refused with a message that says what and where -----------------------------
_R = np.random.default_rng(0)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: precision_recall(_R.normal(size=(10, 2)), _R.normal(size=(10, 2)), k=0),
         r"k must be at least 1 and less than the number of real \(10\) and fake \(10\) "
         r"feature vectors, got k=0"),
        (lambda: precision_recall(_R.normal(size=(3, 2)), _R.normal(size=(5, 2)), k=3),
         r"less than the number of real \(3\) and fake \(5\) feature vectors, got k=3"),
        (lambda: precision_recall(_R.normal(size=(10, 2)), _R.normal(size=(10, 3))),
         r"real features have 2 dimensions but fake features have 3"),
        (lambda: precision_recall(_R.normal(size=10), _R.normal(size=(10, 1))),
         r"precision_recall needs \(N, d\) feature arrays, got real \(10,\) and fake \(10, 1\)"),
        (lambda: class_histogram(np.array([0, 1, 12]), 10),
         r"class_histogram: predicted class 12 at index 2 is outside 0..9"),
        (lambda: class_histogram(np.array([3, -1]), 10),
         r"class_histogram: predicted class -1 at index 1 is outside 0..9"),
        (lambda: class_histogram(np.array([], dtype=np.int64), 10),
         r"class_histogram: no predictions"),
        (lambda: mode_metrics(np.zeros((4, 2)), np.zeros((3, 2)), np.ones(2)),
         r"mode_metrics: stds has shape \(2,\) but there are 3 modes; expected \(3,\)"),
    ],
    ids=["pr-k0", "pr-k-too-large", "pr-dims", "pr-1d", "hist-high", "hist-negative",
         "hist-empty", "modes-stds"],
)
def test_metric_helpers_refuse_bad_parameters(call, match):
    """k=0 gave precision 0, k >= N a torch error, a class 12 a 13-bin histogram with K=10,
    no predictions KL 0 ("balanced"), too few stds an IndexError later or nothing."""
    with pytest.raises(ValueError, match=match):
        call()


@pytest.mark.parametrize("damage", ["junk", "truncated", "wrong-tensors"])
def test_a_damaged_classifier_file_is_a_value_error_naming_it_and_the_fix(tmp_path, damage):
    """safetensors' own error named no file and was no ValueError: `dgm eval` gave a
    traceback. The rebuild advice writes to this very path, which the lookup tries first."""
    path = tmp_path / "cache" / FILE_NAME
    path.parent.mkdir()
    if damage == "junk":
        path.write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}")
    else:
        clf = FeatureClassifier(side=8, c1=2, c2=2, hidden=4).reset_parameters(0)
        save_classifier(clf, path, {"test_accuracy": 1.0})
        if damage == "truncated":
            path.write_bytes(path.read_bytes()[:-40])
        else:  # the header says side 8, the tensors are of another network
            from safetensors.torch import load_file, save_file

            meta = {"dgm-classifier-v1": '{"config": {"side": 8, "c1": 3, "c2": 2, "hidden": 4}}'}
            save_file(load_file(str(path)), str(path), metadata=meta)
    for load in (lambda: load_classifier_file(path), lambda: load_mnist_classifier(tmp_path)):
        with pytest.raises(ClassifierFileError) as e:
            load()
        assert isinstance(e.value, ValueError)
        msg = str(e.value)
        assert msg.startswith(f"{path}: not a readable dgm feature classifier (")
        assert f"delete it, or rebuild it there with `dgm classifier --out {path}`" in msg


def test_image_metrics_refuse_non_finite_samples(digits_clf):
    """NaN went through np.clip to the classifier and failed in scipy, naming nothing."""
    clf, d = digits_clf
    ref = RealReference(clf, d.train.x, d.test.x)
    x = d.test.x.copy()
    x[5, 3] = x[9, 0] = np.nan
    with pytest.raises(ValueError, match=r"image_metrics samples: 2 of 250 samples contain NaN "
                                         r"or inf; the first is nan at row 5, column 3"):
        image_metrics(clf, x, ref)


class _Diverged:
    """A model whose last sample has one non-finite value."""

    name = "diverged"
    data_range = "unit"

    def __init__(self, bad, shape):
        self.bad, self.input_shape, self.calls = bad, shape, 0

    def sample(self, n, seed=None):
        import torch

        self.calls += 1
        x = torch.full((n, int(np.prod(self.input_shape))), 0.5)
        if self.calls == 2:  # the second batch
            x[1, 1] = self.bad
        return x


@pytest.mark.parametrize("shape", [(1, 8, 8), (2,)])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_model_samples_refuse_non_finite_values_naming_the_model(bad, shape):
    """inf used to be clipped into a valid pixel value, NaN to fail later without a name."""
    with pytest.raises(ValueError, match=rf"samples of model 'diverged': 1 of 20 samples contain "
                                         rf"NaN or inf; the first is {bad} at row 9, column 1; "
                                         r"the model has diverged"):
        model_samples(_Diverged(bad, shape), 20, seed=0, batch=8)

def test_building_the_feature_classifier_leaves_torch_s_global_generator_alone():
    before = torch.random.get_rng_state()
    FeatureClassifier(side=8, c1=2, c2=2, hidden=4)
    assert torch.equal(torch.random.get_rng_state(), before)
