"""The serving-side predictor: NumPy only, no pickles, checked files, clear refusals."""

from __future__ import annotations

import json
import shutil
import zipfile
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest

from estimator.errors import ModelLoadError, ValidationError
from estimator.models.mlp import ACTIVATIONS, MAX_PACKED_WIDTH, MLPModel
from estimator.predictor import Predictor, load_predictor
from estimator.registry import VersionInfo
from tests.conftest import price_with_training_stack_blocked


@pytest.mark.parametrize("fixture", ["boston_mlp", "boston_gbm", "california_gbm"])
def test_predicts_with_torch_and_pandas_blocked(fixture: str,
                                                request: pytest.FixtureRequest) -> None:
    version: VersionInfo = request.getfixturevalue(fixture)
    price = price_with_training_stack_blocked(version.path)
    expected = Predictor.load(version.path)
    row = expected.schema.example_row()
    assert price == pytest.approx(float(expected.predict_rows([row])[0]), abs=1e-9)


@pytest.mark.parametrize("fixture", ["boston_mlp", "boston_gbm"])
def test_no_file_of_a_version_is_a_pickle(fixture: str, request: pytest.FixtureRequest) -> None:
    version: VersionInfo = request.getfixturevalue(fixture)
    for path in version.path.rglob("*"):
        if not path.is_file():
            continue
        data = path.read_bytes()
        assert not data.startswith(b"\x80"), f"{path.name} looks like a pickle"
        if path.suffix == ".json":
            json.loads(data)
        elif path.suffix == ".npz":
            with zipfile.ZipFile(path) as zf:
                assert all(n.endswith(".npy") for n in zf.namelist())
            with np.load(path, allow_pickle=False) as npz:
                assert all(npz[k].dtype != object for k in npz.files)
        else:
            assert path.suffix == ".png", path


def test_corrupt_or_missing_files_are_refused(boston_mlp: VersionInfo, tmp_path: Path) -> None:
    copy = tmp_path / boston_mlp.version
    shutil.copytree(boston_mlp.path, copy)
    weights = copy / "model" / "mlp.npz"
    weights.write_bytes(weights.read_bytes()[:-10] + b"0123456789")
    with pytest.raises(ModelLoadError, match=r"is corrupt: model/mlp.npz does not match"):
        Predictor.load(copy)
    weights.unlink()
    with pytest.raises(ModelLoadError, match=r"is incomplete: model/mlp.npz is missing"):
        Predictor.load(copy)
    with pytest.raises(ModelLoadError, match=r"not a model version: version.json is missing"):
        Predictor.load(tmp_path)


def test_rows_are_checked_against_the_schema(boston_mlp: VersionInfo) -> None:
    p = load_predictor(boston_mlp.path)
    good = p.schema.example_row()
    assert p.predict_rows([good]).shape == (1,)
    cases = [
        ({**good, "RAD": 3.5}, r"row 1, field 'RAD': must be a whole number, got 3.5"),
        ({**good, "CHAS": 2}, r"row 1, field 'CHAS': must be 0 or 1, got 2.0"),
        ({**good, "RM": None}, r"row 1, field 'RM': a value is required"),
        ({**good, "RM": "six"}, r"row 1, field 'RM': expected a number, got 'six'"),
        ({**good, "RM": float("inf")}, r"row 1, field 'RM': must be a finite number"),
        ({k: v for k, v in good.items() if k != "LSTAT"}, r"row 1, field 'LSTAT': field required"),
    ]
    for bad, match in cases:
        with pytest.raises(ValidationError, match=match):
            p.predict_rows([good, bad])
    assert p.predict_rows([{**good, "RAD": 3.0}]).shape == (1,)


def test_unseen_category_goes_to_the_unknown_slot(california_gbm: VersionInfo) -> None:
    p = load_predictor(california_gbm.path)
    row = p.schema.example_row()
    encoded = p.encode_rows([{**row, "ocean_proximity": "ON THE MOON"}])
    assert encoded.unknown == [(0, "ocean_proximity", "ON THE MOON")]
    assert np.isfinite(p.predict_matrix(encoded.matrix)).all()


def _layer_by_layer(model: MLPModel, x: np.ndarray) -> np.ndarray:
    """The network as its definition reads, one layer after the other."""
    h = x
    for w, b, act in zip(model.weights[:-1], model.biases[:-1], model.activations, strict=True):
        h = ACTIVATIONS[act](h @ w + b)
    return np.asarray((h @ model.weights[-1] + model.biases[-1])[:, 0] * model.y_scale
                      + model.y_mean)


@pytest.mark.parametrize("activations", [["relu", "relu", "relu"], ["tanh", "relu", "gelu"],
                                         ["elu", "sigmoid"], ["selu"], ["leaky_relu", "linear"],
                                         []])
def test_the_compiled_network_and_its_folded_input_compute_the_definition(
        activations: list[str]) -> None:
    rng = np.random.default_rng(len(activations))
    sizes = [13, *rng.integers(3, 40, size=len(activations)).tolist(), 1]
    model = MLPModel(weights=[rng.normal(size=(a, b)) for a, b in pairwise(sizes)],
                     biases=[rng.normal(size=b) for b in sizes[1:]], activations=activations,
                     y_mean=22.5, y_scale=9.2)
    x = rng.normal(size=(7, 13))
    np.testing.assert_allclose(model.predict(x), _layer_by_layer(model, x), rtol=1e-10)
    np.testing.assert_allclose(model.predict(x[:1]), _layer_by_layer(model, x[:1]), rtol=1e-10)
    np.testing.assert_allclose([model.predict_one(tuple(row)) for row in x.tolist()],
                               _layer_by_layer(model, x), rtol=1e-10)
    shift, scale = rng.normal(size=13), rng.uniform(0.01, 100.0, size=13)
    np.testing.assert_allclose(model.fold_input(shift, scale).predict(x),
                               _layer_by_layer(model, (x - shift) / scale), rtol=1e-9)


def _network(rng: np.random.Generator, sizes: list[int]) -> MLPModel:
    return MLPModel(weights=[rng.normal(size=(a, b)) for a, b in pairwise(sizes)],
                    biases=[rng.normal(size=b) for b in sizes[1:]],
                    activations=["relu"] * (len(sizes) - 2), y_mean=3.0, y_scale=2.0)


def test_one_house_goes_through_the_compiled_pass_where_a_compiler_is() -> None:
    if shutil.which("cc") is None:
        pytest.skip("no C compiler here: the package was installed without its compiled pass")
    from estimator import _speedups

    model = _network(np.random.default_rng(0), [13, 64, 64, 32, 1])
    assert model._compile().packed is not None
    x = tuple(np.random.default_rng(1).normal(size=13).tolist())
    assert _speedups.forward(model._compile().packed, x) == \
        pytest.approx(model.predict(np.array([x]))[0], rel=1e-12)


def test_a_network_too_wide_to_pack_prices_one_house_through_numpy() -> None:
    rng = np.random.default_rng(2)
    model = _network(rng, [13, MAX_PACKED_WIDTH + 1, 1])
    assert model._compile().packed is None
    x = rng.normal(size=(1, 13))
    assert model.predict_one(tuple(x[0].tolist())) == pytest.approx(
        _layer_by_layer(model, x)[0], rel=1e-10)


def test_the_compiled_pass_refuses_what_it_cannot_price() -> None:
    compiled = pytest.importorskip("estimator._speedups", reason="built without a C "
                                   "compiler")
    forward, pack = compiled.forward, compiled.pack
    rng = np.random.default_rng(3)
    w = [rng.normal(size=(3, 4)), rng.normal(size=(4, 1))]
    b = [rng.normal(size=4), rng.normal(size=1)]
    with pytest.raises(ValueError, match="do not chain to one output"):
        pack([w[0], rng.normal(size=(5, 1))], b, [0])
    with pytest.raises(ValueError, match="must be C-contiguous float64 with 4 values"):
        pack(w, [rng.normal(size=3), b[1]], [0])
    with pytest.raises(ValueError, match="unknown activation code 99"):
        pack(w, b, [99])
    net = pack(w, b, [0])
    with pytest.raises(TypeError, match="a tuple of 3 values"):
        forward(net, (1.0, 2.0))
    with pytest.raises(TypeError, match=r"must be (a )?real number, not str"):
        forward(net, (1.0, "2.0", 3.0))
    assert forward(net, (1, 2.0, True)) == pytest.approx(
        (np.maximum(np.array([1.0, 2.0, 1.0]) @ w[0] + b[0], 0) @ w[1] + b[1])[0], rel=1e-12)


def test_complete_rows_take_the_folded_path_and_agree_with_the_transform(
        boston_mlp: VersionInfo) -> None:
    predictor = Predictor.load(boston_mlp.path)
    assert predictor.preprocessor.affine() is not None  # Boston is numeric: the fold applies
    raw = np.array([list(predictor.schema.example_row().values())] * 3, dtype=np.float64)
    raw[1, 0] = np.nan  # a missing value goes through imputation instead
    by_transform = predictor.model.predict(predictor.preprocessor.transform(raw))
    np.testing.assert_allclose(predictor.predict_matrix(raw), by_transform, rtol=1e-9)
    np.testing.assert_allclose(predictor.predict_matrix(raw[[0, 2]], complete=True),
                               by_transform[[0, 2]], rtol=1e-9)
    assert predictor.predict_matrix(raw)[1] != predictor.predict_matrix(raw)[0]
