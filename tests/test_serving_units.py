"""The serving pieces on their own: settings, model source, generated types, answers."""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from estimator.data.sources import feature_columns
from estimator.errors import ConfigError, ModelNotFoundError, ValidationError
from estimator.features import Preprocessor
from estimator.models.linear import LinearModel
from estimator.predictor import Predictor
from estimator.registry import Registry, VersionInfo
from estimator.schema import Feature, Kind, Schema, Target
from estimator.serving.answers import Answers
from estimator.serving.handlers import RequestTooLargeError
from estimator.serving.settings import Settings
from estimator.serving.source import source_from
from estimator.validation import HouseRules

# -- settings and the model source ---------------------------------------------------------------


def test_settings_read_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ESTIMATOR_PORT", "5123")
    monkeypatch.setenv("ESTIMATOR_RELOAD_INTERVAL", "0.5")
    monkeypatch.setenv("ESTIMATOR_MAX_BATCH", "99")
    monkeypatch.setenv("MODEL_FOLDER", str(tmp_path))
    found = Settings()
    assert (found.port, found.reload_interval, found.max_batch) == (5123, 0.5, 99)
    assert found.model_folder == tmp_path
    assert (found.host, found.admin_token) == ("127.0.0.1", None)
    assert Settings(port=6000).port == 6000  # arguments beat the environment


def test_a_short_admin_token_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ESTIMATOR_ADMIN_TOKEN", "letmein")
    with pytest.raises(ValueError, match="ESTIMATOR_ADMIN_TOKEN must be at least 16"):
        Settings()
    monkeypatch.setenv("ESTIMATOR_ADMIN_TOKEN", "")
    assert Settings().admin_token is None  # empty means off


def test_model_folder_may_be_a_version_a_model_or_a_registry(
        session_registry: Registry, boston_mlp: VersionInfo, tmp_path: Path) -> None:
    version = source_from(Settings(model_folder=boston_mlp.path))
    assert (version.registry, version.locate()) == (None, boston_mlp.path)
    assert version.ref == boston_mlp.ref
    model = source_from(Settings(model_folder=session_registry.root / boston_mlp.name))
    assert model.ref == boston_mlp.name and model.registry is not None
    several = tmp_path / "several"
    several.mkdir()
    for name in ("alpha", "beta"):
        (several / name).symlink_to(boston_mlp.path.parent)
    with pytest.raises(ConfigError, match=r"holds several models \(alpha, beta\); choose "
                                          "one with --model or ESTIMATOR_MODEL"):
        source_from(Settings(model_folder=several))
    with pytest.raises(ConfigError, match="MODEL_FOLDER points at a version of 'boston-mlp', "
                                          "but the model asked for is 'other'"):
        source_from(Settings(model_folder=boston_mlp.path, model="other"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelNotFoundError, match="holds no model; train one first"):
        source_from(Settings(registry=tmp_path / "empty"))
    single = Registry(tmp_path / "one")
    single.root.mkdir()
    (single.root / boston_mlp.name).symlink_to(boston_mlp.path.parent)
    assert source_from(Settings(model_folder=single.root)).ref == boston_mlp.name


# -- generated types and the request path -------------------------------------------------------


@pytest.fixture(scope="module")
def boston_answers(boston_mlp: VersionInfo) -> Answers:
    return Answers(Predictor.load(boston_mlp.path), max_batch=100)


@pytest.fixture(scope="module")
def california_answers(california_gbm: VersionInfo) -> Answers:
    return Answers(Predictor.load(california_gbm.path), max_batch=100)


def test_answers_price_like_the_predictor(california_answers: Answers) -> None:
    predictor = california_answers.predictor
    rows = [predictor.schema.example_row() | {"median_income": x} for x in (1.5, 3.0, 8.0)]
    answer = california_answers.v1(json.dumps(rows).encode())
    body, n = answer.content, answer.count
    prices = [p[f"Prediction price {i}"] for i, p in enumerate(json.loads(body)["predictions"])]
    assert n == 3
    assert prices == pytest.approx(predictor.predict_rows(rows).tolist(), rel=1e-12)


def test_one_house_prices_like_a_batch(boston_answers: Answers) -> None:
    predictor = boston_answers.predictor
    rows = [predictor.schema.example_row() | {"CRIM": x} for x in (0.01, 5.0, 80.0, 900.0)]
    alone = [json.loads(boston_answers.v2(json.dumps({"instances": [row]}).encode()).content)
             for row in rows]
    batch = predictor.predict_rows(rows).tolist()
    assert [a["predictions"][0]["price"] for a in alone] == pytest.approx(batch, rel=1e-12)
    assert [bool(a["predictions"][0]["warnings"]) for a in alone] == [False, False, False, True]


def test_a_category_with_a_colon_is_only_text(california_answers: Answers) -> None:
    row = california_answers.predictor.schema.example_row() | {"ocean_proximity": "NEAR: BAY"}
    answer = california_answers.v2(json.dumps({"instances": [row]}).encode())
    body, n = answer.content, answer.count
    [warning] = json.loads(body)["predictions"][0]["warnings"]
    assert n == 1 and "'NEAR: BAY' was never seen" in warning["message"]
    sneaky = json.dumps([row | {"pool": 1}]).replace('"NEAR: BAY"', '"NEAR BAY"')
    with pytest.raises(ValidationError, match=r"^row 0, field 'pool': is not a feature"):
        california_answers.v1(sneaky.encode())


def test_an_unpriceable_house_is_refused_naming_the_extreme_field(
        boston_answers: Answers) -> None:
    example = boston_answers.predictor.schema.example_row()
    rows = [example, example | {"NOX": 1e308}]
    with pytest.raises(ValidationError, match=r"^row 1, field 'NOX': the model cannot price"):
        boston_answers.v1(json.dumps(rows).encode())


def test_more_houses_than_the_batch_limit_is_too_large(boston_answers: Answers) -> None:
    rows = [boston_answers.predictor.schema.example_row()] * 101
    with pytest.raises(RequestTooLargeError, match="more than 100 houses"):
        boston_answers.v1(json.dumps(rows).encode())


# -- properties: one judge for the API and for batch files ---------------------------------------

KINDS: dict[str, Kind] = {"area": "numeric", "rooms": "integer", "garden": "binary",
                          "district": "categorical"}


def small_schema(gaps: bool) -> Schema:
    """A schema with one feature of every kind, each with gaps in training when `gaps`."""
    def feature(name: str, kind: Kind) -> Feature:
        extra: dict[str, Any] = {"categories": {"north": 40, "south": 20}} \
            if kind == "categorical" else {"min": 0.0, "max": 9.0, "mean": 4.0, "std": 2.0,
                                           "quantiles": {"p25": 2.0, "p50": 4.0, "p75": 6.0}}
        return Feature(name=name, kind=kind, missing=3 if gaps else 0, **extra)

    return Schema(features=tuple(feature(n, k) for n, k in KINDS.items()),
                  target=Target(name="price"))


def value_of(feature: Feature) -> st.SearchStrategy[Any]:
    if feature.kind == "categorical":
        return st.sampled_from(list(feature.categories)) | st.text(max_size=12)
    if feature.kind == "binary":
        return st.sampled_from([0, 1, 0.0, 1.0])
    lo, hi = feature.min or 0.0, feature.max or 0.0
    if feature.kind == "integer":
        whole = st.integers(math.floor(lo) - 10, math.ceil(hi) + 10)
        return whole | whole.map(float)
    return st.floats(lo - 10 * (hi - lo + 1), hi + 10 * (hi - lo + 1), allow_nan=False)


def rows_of(schema: Schema) -> st.SearchStrategy[list[dict[str, Any]]]:
    return st.lists(st.fixed_dictionaries({f.name: value_of(f) for f in schema.features}),
                    min_size=1, max_size=8)


BAD_VALUES = {"numeric": ["ten", None, True, [1.0], {"v": 1}],
              "integer": [2.5, "3", None, False, 1.0000000001],
              "binary": [2, 0.5, -1, "1", True],
              "categorical": [3, None, 1.5, ["INLAND"]]}


@pytest.mark.parametrize("name", ["boston_answers", "california_answers"])
@settings(max_examples=40, deadline=None, suppress_health_check=[
    HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_schema_rows_pass_and_one_bad_field_is_named(name: str, data: st.DataObject,
                                                     request: pytest.FixtureRequest) -> None:
    answers: Answers = request.getfixturevalue(name)
    schema = answers.predictor.schema
    rows = data.draw(rows_of(schema))
    answer = answers.v2(json.dumps({"instances": rows}).encode())
    body, n = answer.content, answer.count
    assert n == len(rows) and len(json.loads(body)["predictions"]) == len(rows)
    row = data.draw(st.integers(0, len(rows) - 1))
    feature = data.draw(st.sampled_from(schema.features))
    bad = data.draw(st.sampled_from(BAD_VALUES[feature.kind]))
    if bad is None and feature.optional:
        bad = "null is allowed here"
    rows[row] = rows[row] | {feature.name: bad}
    with pytest.raises(ValidationError, match=rf"^row {row}, field '{feature.name}': ") as err:
        answers.v1(json.dumps(rows).encode())
    assert (err.value.row, err.value.field) == (row, feature.name)


CSV_VALUES = {"numeric": ["ten", "", "1e999"], "integer": ["2.5", "x", ""],
              "binary": ["2", "0.5", "yes", ""], "categorical": ["", "west"]}


@settings(max_examples=60, deadline=None)
@given(data=st.data(), gaps=st.booleans())
def test_a_file_and_a_request_get_the_same_verdict_and_price(data: st.DataObject,
                                                              gaps: bool) -> None:
    """The same houses as a CSV file (batch scoring) and as JSON (the API): the same rows
    refused for the same reason, the same prices and warnings for the others."""
    schema = small_schema(gaps)
    predictor = linear_predictor(schema)
    answers = Answers(predictor, max_batch=100)
    rows = data.draw(st.lists(st.fixed_dictionaries({
        f.name: st.one_of(value_of(f).filter(lambda v: v == "" or str(v) == str(v).strip()),
                          st.sampled_from(CSV_VALUES[f.kind]))
        for f in schema.features}), min_size=1, max_size=6))
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(KINDS)
    writer.writerows([_cell(row[n]) for n in KINDS] for row in rows)
    frame = pd.read_csv(io.StringIO(text.getvalue()))
    estimates, houses = predictor.predict_columns(feature_columns(frame, schema))
    prices = estimates.price
    for i in range(len(rows)):
        house = {n: _json_value(frame, i, n) for n in KINDS}
        house = {n: v for n, v in house.items() if v is not None or not gaps or n == "area"}
        try:
            body = answers.v2(json.dumps({"instances": [house]}).encode()).content
        except ValidationError as refused:
            assert i in houses.errors, (house, refused)
            assert houses.errors[i].field == refused.field
            assert houses.errors[i].reason == refused.reason
            continue
        assert i not in houses.errors, (house, houses.errors[i])
        [answer] = json.loads(body)["predictions"]
        assert answer["price"] == pytest.approx(prices[i], rel=1e-12)
        assert answer["warnings"] == houses.warnings()[i]


def _cell(value: Any) -> str:
    return "" if value is None else str(value)


def _json_value(frame: pd.DataFrame, i: int, name: str) -> Any:
    """What a client would send in JSON for the value the file holds."""
    value = frame[name].iloc[i]
    if pd.isna(value):
        return None
    if isinstance(value, str) and KINDS[name] != "categorical":
        try:
            return float(value)
        except ValueError:
            return value
    if KINDS[name] == "categorical":
        return str(value)
    return value.item() if hasattr(value, "item") else value


def linear_predictor(schema: Schema) -> Predictor:
    """A real fitted preprocessing and a linear model over it, for a hand-made schema."""
    rng = np.random.default_rng(0)
    raw = np.column_stack([rng.uniform(0, 9, 50), rng.integers(0, 9, 50), rng.integers(0, 2, 50),
                           rng.integers(0, 2, 50)]).astype(float)
    pre = Preprocessor().fit(schema, raw)
    model = LinearModel(coef=rng.normal(size=pre.n_outputs), intercept=100.0)
    return Predictor(schema=schema, preprocessor=pre, model=model, meta={})


@pytest.mark.parametrize("whole", [["rooms"], ["rooms", "garden"]])
def test_whole_number_features_refuse_near_misses_however_many_there_are(
        whole: list[str]) -> None:
    schema = Schema(features=tuple(Feature(name=n, kind=k, min=0.0, max=9.0)
                                   for n, k in KINDS.items() if k == "numeric" or n in whole),
                    target=Target(name="price"))
    rules = HouseRules(schema)
    house = {"area": 50.5, "rooms": 3.0, "garden": 1}
    good = [{k: v for k, v in house.items() if k in schema.names}] * 2
    assert rules.rows(good).matrix.shape == (2, len(schema.names))
    for name in whole:
        with pytest.raises(ValidationError) as refused:
            rules.rows([good[0], good[0] | {name: 1.0000000001}])
        assert (refused.value.row, refused.value.field) == (1, name)
