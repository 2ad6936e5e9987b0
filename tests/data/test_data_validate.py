"""check_data messages name the data set, the problem and where it is."""

from __future__ import annotations

import numpy as np
import pytest

from dgm.data import DATASETS, check_data, dynamic_binarize, load_dataset


def test_brief_example_message():
    x = np.zeros((2, 784), np.float32)
    x[0, 152] = 80 / 255
    with pytest.raises(ValueError) as e:
        check_data(x, "binary", "mnist:gray")
    assert str(e.value) == (
        "mnist:gray: a Bernoulli model needs 0/1 data but found value 0.3137 at row 0, "
        "column 152; use the binarized variant 'mnist' or 'mnist:dynamic'"
    )


def test_nan_and_inf_counted_with_first_index():
    x = np.zeros((4, 5))
    x[1, 3] = np.nan
    x[2, 0] = np.inf
    x[3, 4] = np.nan
    with pytest.raises(ValueError, match=r"^ring8: found 3 non-finite .* nan at row 1, column 3"):
        check_data(x, "real", "ring8")


def test_dimensions():
    with pytest.raises(ValueError, match=r"flow: expected a batch .* shape \(784,\)"):
        check_data(np.zeros(784), "real", "flow")
    with pytest.raises(ValueError, match=r"conv: expected a 4-D array but got shape \(2, 784\)"):
        check_data(np.zeros((2, 784)), "unit", "conv", ndim=4)
    check_data(np.zeros((2, 1, 28, 28)), "binary", "conv", ndim=4)


def test_ranges():
    x = np.full((3, 4), 0.5, np.float32)
    x[2, 1] = 1.5
    with pytest.raises(ValueError, match=r"vae: .*'unit'.*\[0, 1\].* 1\.5 at row 2, column 1"):
        check_data(x, "unit", "vae")
    x[2, 1] = -1.25
    with pytest.raises(ValueError, match=r"gan: .*\[-1, 1\].* -1\.25 at row 2, column 1"):
        check_data(x, "pm1", "gan")
    check_data(np.clip(x, -1, 1), "pm1", "gan")
    with pytest.raises(ValueError, match="unknown data kind"):
        check_data(x, "bits", "gan")


def test_4d_position_and_default_hint():
    x = np.zeros((2, 1, 3, 3))
    x[1, 0, 2, 1] = 0.25
    with pytest.raises(ValueError, match=r"row 1, index \(0, 2, 1\); binarize it first"):
        check_data(x, "binary", "custom")


def test_integer_and_bool_input_ok():
    check_data(np.array([[0, 1]], np.int64), "binary", "ints")
    check_data(np.array([[True, False]]), "binary", "bools")


def test_torch_tensor_input():
    torch = pytest.importorskip("torch")
    check_data(torch.zeros(2, 3), "binary", "t")
    with pytest.raises(ValueError, match=r"t: .* value 0\.5 at row 1, column 2"):
        check_data(torch.tensor([[0.0, 1.0, 1.0], [0.0, 0.0, 0.5]]), "binary", "t")


@pytest.mark.parametrize("spec", [s for s in DATASETS if not s.startswith("mnist")])
def test_builtin_datasets_pass_their_own_check(spec):
    for _, ds in load_dataset(spec).items():
        x = dynamic_binarize(ds.x, 0) if ds.dynamic_binarize else ds.x
        check_data(x, ds.model_kind, ds.name, ndim=2)


def test_bfloat16_tensors_are_checked_and_non_numeric_data_is_named():
    import torch

    x = torch.tensor([[0.0, 0.5]], dtype=torch.bfloat16)  # NumPy has no bfloat16
    with pytest.raises(ValueError, match=r"vae: a Bernoulli model needs 0/1 data but found "
                                         r"value 0.5 at row 0, column 1"):
        check_data(x, "binary", "vae")
    check_data(torch.ones((2, 2), dtype=torch.bfloat16), "binary", "vae")
    with pytest.raises(ValueError, match=r"csv: expected numeric data but got dtype <U1"):
        check_data(np.array([["a", "b"]]), "real", "csv")
