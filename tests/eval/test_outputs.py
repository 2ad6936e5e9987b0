"""``dgm classifier --out`` is checked before any training and written atomically; ``dgm eval
--samples`` has an upper bound."""

from __future__ import annotations

import errno

import pytest

import dgm._files
import dgm.data
from dgm._errors import error_text
from dgm.eval.classifier import FeatureClassifier, save_classifier, train_classifier
from dgm.eval.samples import MAX_SAMPLES, sample_metrics_for_run


def _read_only_mkstemp(dir, prefix, suffix):  # called as mkstemp is, with its keywords
    raise OSError(errno.EROFS, "Read-only file system", f"{dir}/{prefix}x1y2z3w4{suffix}")


def _no_training(*args, **kwargs):
    raise AssertionError("MNIST was loaded for training: the output was not checked first")


@pytest.mark.parametrize(("out", "read_only", "message"), [
    ("rofs/clf.safetensors", True, "Read-only file system: {tmp}/rofs/clf.safetensors"),
    ("adir", False, "Is a directory: {tmp}/adir"),
    (None, True, "no writable cache folder for the classifier ({tmp}/xdg/dgm or "
                 "{tmp}/data/cache); give --out PATH"),
], ids=["read-only", "a-folder", "no-cache-folder"])
def test_an_unwritable_output_is_refused_before_training(out, read_only, message, tmp_path,
                                                         monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    (tmp_path / "adir").mkdir()
    monkeypatch.setattr(dgm.data, "load_dataset", _no_training)
    if read_only:
        monkeypatch.setattr(dgm._files.tempfile, "mkstemp", _read_only_mkstemp)
    with pytest.raises(OSError) as err:
        train_classifier(tmp_path / "data", None if out is None else tmp_path / out, epochs=1)
    assert error_text(err.value) == message.format(tmp=tmp_path)


def test_the_dgm_classifier_command_reports_an_unwritable_out_in_one_line(tmp_path, capsys,
                                                                          monkeypatch):
    from dgm.cli import main

    monkeypatch.setattr(dgm.data, "load_dataset", _no_training)
    monkeypatch.setattr(dgm._files.tempfile, "mkstemp", _read_only_mkstemp)
    out = tmp_path / "clf.safetensors"
    assert main(["classifier", "--epochs", "1", "--out", str(out)]) == 2
    assert capsys.readouterr().err == f"dgm classifier: error: Read-only file system: {out}\n"


def _replace_refused(tmp: str, path: str) -> None:
    raise PermissionError(errno.EACCES, "Permission denied", tmp, None, path)


@pytest.mark.parametrize("where", ["mkstemp", "replace"])
def test_a_failed_save_names_the_path_and_leaves_no_partial_file(where, tmp_path, monkeypatch):
    clf = FeatureClassifier(side=8, c1=2, c2=2, hidden=4).reset_parameters(0)
    path = tmp_path / "c.safetensors"
    if where == "mkstemp":
        monkeypatch.setattr(dgm._files.tempfile, "mkstemp", _read_only_mkstemp)
    else:
        monkeypatch.setattr(dgm._files.os, "replace", _replace_refused)
    with pytest.raises(OSError) as err:
        save_classifier(clf, path, {"test_accuracy": 1.0})
    assert err.value.filename == str(path)
    assert list(tmp_path.iterdir()) == []


def test_more_samples_than_the_bound_are_refused_before_sampling():
    class Model:
        name = "gan"
        input_shape = (2,)

        def sample(self, n, seed=None):
            raise AssertionError("sampling started")

    with pytest.raises(ValueError, match=f"^--samples must be at most {MAX_SAMPLES:,} .*, got "
                                         "100,000,000$"):
        sample_metrics_for_run(Model(), None, n_samples=100_000_000)
