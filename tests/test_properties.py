"""Properties over generated rows, and model behaviour a user would expect."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from estimator.errors import ValidationError
from estimator.predictor import Predictor
from estimator.registry import VersionInfo
from estimator.schema import Feature, Schema


def value_for(feature: Feature) -> st.SearchStrategy[Any]:
    if feature.kind == "categorical":
        return st.sampled_from(list(feature.categories))
    lo, hi = feature.min or 0.0, feature.max or 1.0
    if feature.kind == "binary":
        return st.sampled_from([0, 1])
    if feature.kind == "integer":
        return st.integers(int(lo), int(hi))
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False)


def rows_for(schema: Schema) -> st.SearchStrategy[list[dict[str, Any]]]:
    row = st.fixed_dictionaries({f.name: value_for(f) for f in schema.features})
    return st.lists(row, min_size=1, max_size=20)


@pytest.fixture(scope="module")
def predictors(boston_mlp: VersionInfo, boston_gbm: VersionInfo) -> list[Predictor]:
    return [Predictor.load(boston_mlp.path), Predictor.load(boston_gbm.path)]


FIXTURE_OK = settings(max_examples=40, deadline=None,
                      suppress_health_check=[HealthCheck.function_scoped_fixture])


@FIXTURE_OK
@given(data=st.data())
def test_rows_from_the_schema_are_accepted(predictors: list[Predictor],
                                           data: st.DataObject) -> None:
    for p in predictors:
        rows = data.draw(rows_for(p.schema))
        prices = p.predict_rows(rows)
        assert prices.shape == (len(rows),) and np.isfinite(prices).all()


BAD_VALUES = {"numeric": ["a lot", None, float("nan"), float("inf")],
              "integer": [2.5, "x", None], "binary": [2, -1, 0.5]}


@FIXTURE_OK
@given(data=st.data())
def test_one_bad_field_is_named_with_its_row(predictors: list[Predictor],
                                             data: st.DataObject) -> None:
    p = predictors[0]
    rows = data.draw(rows_for(p.schema))
    row = data.draw(st.integers(0, len(rows) - 1))
    feature = data.draw(st.sampled_from(p.schema.features))
    bad = data.draw(st.sampled_from(BAD_VALUES[feature.kind]))
    rows[row] = {**rows[row], feature.name: bad}
    with pytest.raises(ValidationError) as err:
        p.predict_rows(rows)
    assert (err.value.row, err.value.field) == (row, feature.name)
    assert f"row {row}, field '{feature.name}'" in str(err.value)


def test_batching_and_key_order_do_not_change_a_price(predictors: list[Predictor]) -> None:
    rng = random.Random(0)
    for p in predictors:
        rows = [{f.name: (f.quantiles[q] if f.kind == "numeric" else round(f.quantiles[q]))
                 for f in p.schema.features} for q in ("p05", "p25", "p50", "p75", "p95")]
        together = p.predict_rows(rows)
        alone = np.array([p.predict_rows([r])[0] for r in rows])
        shuffled = []
        for r in rows:
            keys = list(r)
            rng.shuffle(keys)
            shuffled.append({k: r[k] for k in keys})
        np.testing.assert_allclose(together, alone, atol=1e-9)
        np.testing.assert_allclose(together, p.predict_rows(shuffled), atol=1e-12)


def test_more_rooms_and_fewer_poor_neighbours_raise_the_price(
        predictors: list[Predictor]) -> None:
    for p in predictors:
        base = {f.name: f.example for f in p.schema.features}  # each feature's median
        rm, lstat = p.schema.feature("RM"), p.schema.feature("LSTAT")
        small, big = ({**base, "RM": rm.quantiles[q]} for q in ("p05", "p95"))
        poor, rich = ({**base, "LSTAT": lstat.quantiles[q]} for q in ("p95", "p05"))
        prices = p.predict_rows([small, big, poor, rich])
        assert prices[1] > prices[0], "a house with more rooms must cost more"
        assert prices[3] > prices[2], "a richer neighbourhood must cost more"
