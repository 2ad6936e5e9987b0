"""The feature classifier of the image metrics: a small CNN that dgm trains itself.

No download: :func:`train_classifier` fits it on MNIST (``mnist:gray``, the 50k training
split; >= 99% test accuracy in a few epochs on 2 CPU cores) and writes safetensors
(never pickle) with its config and test accuracy in the metadata. Its 128-d penultimate
activations are the feature space of the Frechet distance and of k-NN precision/recall;
its predictions give the class histogram. Tests train a tiny one on 8x8 digits in seconds.

Architecture, for square images of side s (28 for MNIST, 8 for digits), inputs in [0, 1]::

    (1, s, s) -Conv5(c1)+ReLU+MaxPool2-> (c1, s/2, s/2) -Conv5(c2)+ReLU+MaxPool2->
    (c2, s/4, s/4) -Linear+ReLU-> features (hidden) -Linear-> logits (10)

Command: ``dgm classifier [--data-dir D] [--epochs 4] [--out PATH]`` (or ``python -m
dgm.eval.classifier``).

>>> clf = FeatureClassifier(side=8, c1=4, c2=8, hidden=16).reset_parameters(0)
>>> clf.features(torch.zeros(3, 64)).shape, clf(torch.zeros(3, 64)).shape
(torch.Size([3, 16]), torch.Size([3, 10]))
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from dgm._files import atomic_write_bytes, check_writable
from dgm._rng import as_torch_generator

FILE_NAME = "mnist_classifier.safetensors"
MAGIC = "dgm-classifier-v1"
MIN_ACCURACY = 0.95  # below this the features are not fit to compare images by


class ClassifierFileError(ValueError):
    """A classifier file is damaged or not a dgm classifier; the message names it and says
    how to rebuild it (a ValueError, so the command line prints it without a traceback)."""


class FeatureClassifier(nn.Module):
    """A small CNN on (B, s*s) or (B, 1, s, s) images in [0, 1]; ``features`` is layer -2."""

    def __init__(self, side: int = 28, c1: int = 16, c2: int = 32, hidden: int = 128,
                 n_classes: int = 10):
        super().__init__()
        if side % 4:
            raise ValueError(f"side must be a multiple of 4, got {side}")
        self.config = {"side": side, "c1": c1, "c2": c2, "hidden": hidden, "n_classes": n_classes}
        self.side = side
        # torch's default initialization draws from the global generator: fork it, so that
        # building a classifier leaves it untouched (reset_parameters sets the weights)
        with torch.random.fork_rng(devices=[]):
            self.conv = nn.Sequential(
                nn.Conv2d(1, c1, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),  # (c1, s/2, s/2)
                nn.Conv2d(c1, c2, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),  # (c2, s/4, s/4)
                nn.Flatten(),
            )
            self.fc = nn.Sequential(nn.Linear(c2 * (side // 4) ** 2, hidden), nn.ReLU())
            self.out = nn.Linear(hidden, n_classes)

    @torch.no_grad()
    def reset_parameters(self, seed: Any) -> FeatureClassifier:
        from dgm.models.base import init_uniform

        gen = as_torch_generator(seed)
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Conv2d)):
                init_uniform(m, gen)
        return self

    def _image(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.as_tensor(x, dtype=torch.float32)
        return x.reshape(x.shape[0], 1, self.side, self.side)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, hidden) penultimate activations."""
        return self.fc(self.conv(self._image(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, n_classes) logits."""
        return self.out(self.features(x))

    @torch.no_grad()
    def embed(self, x: Any, batch: int = 1000) -> tuple[np.ndarray, np.ndarray]:
        """(features (N, hidden) float64, predicted class (N,)) of images in [0, 1]."""
        self.eval()
        x = np.array(x.detach().cpu() if hasattr(x, "detach") else x, dtype=np.float32)
        feats, preds = [], []
        for s in range(0, len(x), batch):
            f = self.features(torch.from_numpy(x[s : s + batch]))
            feats.append(f.double().numpy())
            preds.append(self.out(f).argmax(1).numpy())
        return np.concatenate(feats), np.concatenate(preds)

    @torch.no_grad()
    def accuracy(self, x: Any, y: Any) -> float:
        return float((self.embed(x)[1] == np.asarray(y)).mean())


def fit(clf: FeatureClassifier, x: np.ndarray, y: np.ndarray, epochs: int = 4,
        batch: int = 128, lr: float = 1e-3, seed: int = 0, max_seconds: float = 0.0,
        log=None) -> FeatureClassifier:
    """Adam on the cross-entropy at ``lr`` (0.3 * ``lr`` in the last epoch when there are two
    or more); the shuffling comes from ``seed``."""
    gen = as_torch_generator(seed)
    xt = torch.from_numpy(np.array(x, dtype=np.float32))  # a writable copy
    yt = torch.from_numpy(np.array(y, dtype=np.int64))
    opt = torch.optim.Adam(clf.parameters(), lr=lr)
    t0 = time.perf_counter()
    clf.train()
    for epoch in range(epochs):
        for g in opt.param_groups:  # 0.3x the step size in the last epoch (none if epochs=1)
            g["lr"] = lr * (0.3 if epoch >= max(1, epochs - 1) else 1.0)
        perm = torch.randperm(len(xt), generator=gen)
        for s in range(0, len(xt), batch):
            idx = perm[s : s + batch]
            loss = F.cross_entropy(clf(xt[idx]), yt[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        if log:
            log(f"epoch {epoch + 1}: last batch loss {loss.item():.4f}, "
                f"{time.perf_counter() - t0:.0f}s")
        if max_seconds and time.perf_counter() - t0 > max_seconds:
            break
    clf.eval()
    return clf


# -- weights on disk ------------------------------------------------------------------------
def save_classifier(clf: FeatureClassifier, path: str | Path, info: dict[str, Any]) -> Path:
    """Write ``clf`` and ``info`` to ``path`` (its folder created) atomically: a failed write
    is an OSError naming ``path`` and leaves no partial file (the weights are serialized in
    memory first, a few MB, so safetensors' own I/O errors never arise)."""
    from safetensors.torch import save

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().contiguous() for k, v in clf.state_dict().items()}
    data = save(tensors, metadata={MAGIC: json.dumps({"config": clf.config, **info})})
    atomic_write_bytes(path, data)
    return path


def load_classifier_file(path: str | Path) -> tuple[FeatureClassifier, dict[str, Any]]:
    """The classifier saved at ``path`` and its info; :class:`ClassifierFileError` if the file
    is damaged (truncated, not safetensors, tensors that do not fit its config)."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
        if MAGIC not in meta:
            raise ValueError(f"no '{MAGIC}' header")
        info = json.loads(meta[MAGIC])
        clf = FeatureClassifier(**info["config"])
        clf.load_state_dict(load_file(str(path)))
    except FileNotFoundError:
        raise
    except Exception as e:  # noqa: BLE001 - safetensors, json, torch: all mean a bad file
        raise ClassifierFileError(
            f"{path}: not a readable dgm feature classifier ({type(e).__name__}: {e}); delete "
            f"it, or rebuild it there with `dgm classifier --out {path}` (--data-dir DIR "
            "says where MNIST is)") from e
    return clf.eval(), info


def candidate_paths(data_dir: str | os.PathLike | None = None) -> list[Path]:
    """Where the MNIST classifier is cached: <data dir>/cache, then ~/.cache/dgm (XDG)."""
    from dgm.data import resolve_data_dir

    xdg = os.environ.get("XDG_CACHE_HOME", "")
    user = (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "dgm" / FILE_NAME
    return [resolve_data_dir(data_dir) / "cache" / FILE_NAME, user]


def find_classifier(data_dir: str | os.PathLike | None = None) -> Path | None:
    return next((p for p in candidate_paths(data_dir) if p.is_file()), None)


def load_mnist_classifier(data_dir: str | os.PathLike | None = None
                          ) -> tuple[FeatureClassifier, dict[str, Any]]:
    """The cached MNIST classifier, with a clear message saying how to train it if missing."""
    path = find_classifier(data_dir)
    if path is None:
        where = " or ".join(str(p) for p in candidate_paths(data_dir))
        raise FileNotFoundError(
            f"no MNIST feature classifier at {where}; train it once (a few minutes) with: "
            "dgm classifier")
    return load_classifier_file(path)


def train_classifier(data_dir: str | os.PathLike | None = None, out: str | Path | None = None,
                     epochs: int = 4, seed: int = 0, log=print) -> tuple[FeatureClassifier, dict]:
    """Train the MNIST feature classifier and cache it; returns (classifier, info)."""
    from dgm.data import load_dataset

    if epochs < 1:
        raise ValueError(f"the feature classifier needs at least 1 epoch, got {epochs}")
    out = _writable_out(data_dir, out)  # before minutes of training that could not be saved
    splits = load_dataset("mnist:gray", data_dir=data_dir)
    clf = FeatureClassifier(side=28).reset_parameters(seed)
    t0 = time.perf_counter()
    fit(clf, splits.train.x, splits.train.y, epochs=epochs, seed=seed, log=log)
    info = {"train_seconds": time.perf_counter() - t0, "epochs": epochs, "seed": seed,
            "valid_accuracy": clf.accuracy(splits.valid.x, splits.valid.y),
            "test_accuracy": clf.accuracy(splits.test.x, splits.test.y),
            "data": "mnist:gray (50k train)"}
    if info["valid_accuracy"] < MIN_ACCURACY:  # features of a poor classifier mislead FID
        raise ValueError(f"the feature classifier reached {info['valid_accuracy']:.3f} "
                         f"validation accuracy (< {MIN_ACCURACY}); not saved: train longer")
    info["path"] = str(save_classifier(clf, out, info))
    return clf, info


def _writable_out(data_dir: str | os.PathLike | None, out: str | Path | None) -> Path:
    """Where :func:`train_classifier` will save: ``out`` (its folder created), else the first
    cache folder it may write in; an OSError naming the place when it cannot be written."""
    if out is not None:
        out = Path(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        check_writable(out)
        return out
    # the per-user cache first: a shared data folder is better left read-only
    for p in reversed(candidate_paths(data_dir)):
        try:
            p.parent.mkdir(parents=True, exist_ok=True)
            check_writable(p)
            return p
        except OSError:
            continue
    where = " or ".join(str(p.parent) for p in reversed(candidate_paths(data_dir)))
    raise OSError(f"no writable cache folder for the classifier ({where}); give --out PATH")


def main(argv: list[str] | None = None) -> int:
    """``python -m dgm.eval.classifier [flags]``: the same command as ``dgm classifier``
    (its flags, checks and error messages, no tracebacks)."""
    from dgm.cli import main as dgm_main

    return dgm_main(["classifier", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
