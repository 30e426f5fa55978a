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
from estimator.models.mlp import ACTIVATIONS, MLPModel
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
        ({**good, "CHAS": 2}, r"row 1, field 'CHAS': must be 0 or 1, got 2"),
        ({**good, "CHAS": True}, r"row 1, field 'CHAS': must be 0 or 1, got true"),
        ({**good, "RM": None}, r"row 1, field 'RM': a value is required, got null"),
        ({**good, "RM": "six"}, r"row 1, field 'RM': must be a number, got \"six\""),
        ({**good, "pool": 1}, r"row 1, field 'pool': is not a feature of this model"),
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
    houses = p.rules.rows([{**row, "ocean_proximity": "ON THE MOON"}])
    assert [(n.row, n.field, n.kind) for n in houses.notes] == [(0, "ocean_proximity", "unseen")]
    assert houses.matrix[0, p.schema.names.index("ocean_proximity")] == -1
    assert np.isfinite(p.predict_matrix(houses.matrix)).all()


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
def test_the_network_computes_its_definition(activations: list[str]) -> None:
    rng = np.random.default_rng(len(activations))
    sizes = [13, *rng.integers(3, 40, size=len(activations)).tolist(), 1]
    model = MLPModel(weights=[rng.normal(size=(a, b)) for a, b in pairwise(sizes)],
                     biases=[rng.normal(size=b) for b in sizes[1:]], activations=activations,
                     y_mean=22.5, y_scale=9.2)
    x = rng.normal(size=(7, 13))
    np.testing.assert_allclose(model.predict(x), _layer_by_layer(model, x), rtol=1e-10)
    np.testing.assert_allclose(model.predict(x[:1]), _layer_by_layer(model, x[:1]), rtol=1e-10)


def test_a_house_with_gaps_is_imputed_as_in_training(california_gbm: VersionInfo) -> None:
    predictor = Predictor.load(california_gbm.path)
    row = predictor.schema.example_row()
    gap = {k: v for k, v in row.items() if k != "total_bedrooms"}
    houses = predictor.rules.rows([row, gap, {**row, "total_bedrooms": None}])
    column = predictor.schema.names.index("total_bedrooms")
    assert np.isnan(houses.matrix[1:, column]).all()
    [note] = houses.warnings()[1]
    fill = predictor.preprocessor.fill_[column]
    assert note == {"field": "total_bedrooms",
                    "message": f"missing; imputed as in training, with {fill:.6g}"}
    quiet = predictor.rules.pack([row, gap, {**row, "ocean_proximity": "ON THE MOON"}],
                                 warnings=False)  # what v1 and drift ask for: no warnings
    np.testing.assert_array_equal(quiet.matrix[:2], houses.matrix[:2])
    assert [note.kind for note in quiet.notes] == ["unseen"]
    imputed = houses.matrix.copy()
    imputed[1:, column] = fill
    np.testing.assert_allclose(predictor.predict_matrix(houses.matrix)[1:],
                               predictor.predict_matrix(imputed)[1:], rtol=1e-12)
    with pytest.raises(ValidationError, match="row 0, field 'median_income': field required"):
        predictor.predict_rows([{k: v for k, v in row.items() if k != "median_income"}])
