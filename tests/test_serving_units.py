"""The serving pieces on their own: settings, model source, generated types, transform, codec."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from estimator.errors import ConfigError, ModelNotFoundError, ValidationError
from estimator.predictor import Predictor
from estimator.registry import Registry, VersionInfo
from estimator.schema import Feature, Kind, Schema, Target
from estimator.serving.codec import MAX_WARNINGS, Codec
from estimator.serving.handlers import RequestTooLargeError
from estimator.serving.parsing import BodyParser
from estimator.serving.schemas import ApiTypes
from estimator.serving.settings import Settings
from estimator.serving.shortcut import OneHouse, bounds, plain
from estimator.serving.source import source_from

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
def boston_codec(boston_mlp: VersionInfo) -> Codec:
    return Codec(Predictor.load(boston_mlp.path), max_batch=100)


@pytest.fixture(scope="module")
def california_codec(california_gbm: VersionInfo) -> Codec:
    return Codec(Predictor.load(california_gbm.path), max_batch=100)


@pytest.fixture(scope="module", params=["compiled", "python"])
def shortcut(request: pytest.FixtureRequest, boston_codec: Codec) -> OneHouse:
    """The codec's shortcut, with its compiled checks and with their Python twin."""
    compiled = request.param == "compiled"
    if compiled and plain is None:
        pytest.skip("installed without a C compiler: only the Python checks exist")
    return OneHouse(boston_codec.schema, boston_codec._low.tolist(), boston_codec._high.tolist(),
                    compiled=compiled)


def test_the_codec_prices_like_the_predictor(california_codec: Codec) -> None:
    predictor = california_codec.predictor
    rows = [predictor.schema.example_row() | {"median_income": x} for x in (1.5, 3.0, 8.0)]
    body, n = california_codec.answer_v1(json.dumps(rows).encode())
    prices = [p[f"Prediction price {i}"] for i, p in enumerate(json.loads(body)["predictions"])]
    assert n == 3
    assert prices == pytest.approx(predictor.predict_rows(rows).tolist(), rel=1e-6)


def test_one_house_takes_the_shortcut_and_prices_like_a_batch(boston_codec: Codec) -> None:
    predictor = boston_codec.predictor
    example = predictor.schema.example_row()
    rows = [example | {"CRIM": x} for x in (0.01, 5.0, 80.0, 900.0)]  # the last one is far
    bodies = [json.dumps({"instances": [row]}).encode() for row in rows]
    assert [boston_codec.one_house.values(b, v2=True) is not None for b in bodies] == \
        [True, True, True, False]
    alone = [json.loads(boston_codec.answer_v2(body)[0]) for body in bodies]
    batch = predictor.predict_rows(rows).tolist()
    assert [a["predictions"][0]["price"] for a in alone] == pytest.approx(batch, rel=1e-9)
    assert [bool(a["warnings"]) for a in alone] == [False, False, False, True]
    v1 = json.loads(boston_codec.answer_v1(json.dumps(rows[:1]).encode())[0])
    assert v1 == {"inputData": rows[:1], "predictions": [{"Prediction price 0": alone[0][
        "predictions"][0]["price"]}]}
    direct = predictor.predict_one(tuple(example[n] for n in predictor.schema.names))
    assert direct == pytest.approx(predictor.predict_rows([example])[0], rel=1e-9)


def test_the_shortcut_declines_all_but_one_plain_house(boston_codec: Codec, shortcut: OneHouse,
                                                       california_codec: Codec) -> None:
    names = boston_codec.schema.names
    example = boston_codec.schema.example_row()
    assert shortcut.values(json.dumps([example]).encode(), v2=False) == \
        tuple(example[n] for n in names)
    assert shortcut.values(json.dumps({"instances": [example]}).encode(), v2=True) is not None
    wrong_key = {("crim" if k == "CRIM" else k): v for k, v in example.items()}
    declined_v1 = [[example, example], [example | {"CRIM": True}], [example | {"CHAS": 2}],
                   [example | {"RAD": 2.5}], [example | {"CRIM": 1e6}], [example | {"pool": 1}],
                   [{k: v for k, v in example.items() if k != "CRIM"}], [wrong_key],
                   [example | {"CRIM": "0.1"}], [example | {"CRIM": None}], example, []]
    for body in declined_v1:
        assert shortcut.values(json.dumps(body).encode(), v2=False) is None, body
    for odd in (math.nan, math.inf):  # JSON's NaN and Infinity extensions, which orjson refuses
        assert shortcut.values(json.dumps([example | {"CRIM": odd}]).encode(), False) is None
    assert shortcut.values(json.dumps([example])[:-1].encode(), v2=False) is None  # cut short
    assert shortcut.values(json.dumps([example]).encode(), v2=True) is None
    explained = {"instances": [example], "explain": False}
    assert shortcut.values(json.dumps(explained).encode(), v2=True) is None
    assert not california_codec.one_house.enabled  # a categorical column: the judged path


def test_the_compiled_checks_refuse_what_no_float_can_hold() -> None:
    if plain is None:
        pytest.skip("installed without a C compiler: only the Python checks exist")
    limits = bounds((0.0, 1.0), (2.0, 3.0), (False, True))
    assert plain((1.5, 2), limits) and plain((0, 3.0), limits)
    refused = [(1.5, 2.5), (True, 2), (1.5, 10**400), (math.nan, 2), (1.5,), [1.5, 2]]
    assert not any(plain(values, limits) for values in refused)
    with pytest.raises(TypeError, match=r"must be (a )?real number, not str"):
        bounds((0.0, "1"), (2.0, 3.0), (False, True))


ODD_VALUES = [True, False, None, "1.5", [1.0], {"v": 1}, 2.5, 0.5, -1, 2, 1e300, -1e300,
              1.0000000001, 10**30]


def plain_value(feature: Feature) -> st.SearchStrategy[Any]:
    """A value the shortcut must take: the right type, within the range seen in training."""
    if feature.kind == "binary":
        return st.sampled_from([0, 1, 0.0, 1.0])
    lo, hi = feature.min or 0.0, feature.max or 0.0
    if feature.kind == "integer":
        whole = st.integers(math.ceil(lo), math.floor(hi))
        return whole | whole.map(float)
    return st.floats(lo, hi)


@settings(max_examples=300, deadline=None, suppress_health_check=[
    HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_the_shortcut_takes_plain_houses_and_only_what_the_judge_accepts(
        boston_codec: Codec, shortcut: OneHouse, data: st.DataObject) -> None:
    features, names = boston_codec.schema.features, boston_codec.schema.names
    is_plain = data.draw(st.booleans())
    values = {f.name: plain_value(f) if is_plain else
              plain_value(f) | value_of(f) | st.sampled_from(ODD_VALUES) for f in features}
    house = data.draw(st.fixed_dictionaries(values))
    v2 = data.draw(st.booleans())
    body = json.dumps({"instances": [house]} if v2 else [house]).encode()
    taken = shortcut.values(body, v2)
    if is_plain:
        assert taken is not None
    if taken is not None:  # the judge must accept it too, with the same values and no warning
        judged = boston_codec.parser.parse(body, v2)
        assert taken == tuple(judged.rows[0][n] for n in names) == tuple(house[n] for n in names)
        assert boston_codec.price(judged).warnings == []


def test_colons_inside_strings_do_not_hide_or_invent_unknown_keys(
        california_codec: Codec) -> None:
    row = california_codec.schema.example_row() | {"ocean_proximity": "NEAR: BAY"}
    body, n = california_codec.answer_v2(json.dumps({"instances": [row]}).encode())
    assert n == 1 and "'NEAR: BAY' was never seen" in json.loads(body)["warnings"][0]["message"]
    spaced = json.dumps([row]).replace('": ', '" : ')  # fewer colons than keys is fine too
    assert california_codec.answer_v1(spaced.encode())[1] == 1
    sneaky = json.dumps([row | {"pool": 1}]).replace('"NEAR: BAY"', '"NEAR BAY"')
    with pytest.raises(ValidationError, match=r"^row 0, field 'pool': is not a feature"):
        california_codec.answer_v1(sneaky.encode())


def test_warnings_are_capped_with_a_count(boston_codec: Codec) -> None:
    far = boston_codec.schema.example_row() | {"CRIM": 1e4, "B": -1e4}
    body, _ = boston_codec.answer_v2(json.dumps({"instances": [far] * 70}).encode())
    warnings = json.loads(body)["warnings"]
    assert len(warnings) == MAX_WARNINGS + 1
    assert warnings[-1] == {"row": None, "field": None,
                            "message": f"{140 - MAX_WARNINGS} more warnings were left out"}


def test_an_unpriceable_house_is_refused_naming_the_extreme_field(boston_codec: Codec) -> None:
    rows = [boston_codec.schema.example_row(), boston_codec.schema.example_row() | {"NOX": 1e308}]
    with pytest.raises(ValidationError, match=r"^row 1, field 'NOX': the model cannot price"):
        boston_codec.answer_v1(json.dumps(rows).encode())


def test_more_houses_than_the_batch_limit_is_too_large(boston_codec: Codec) -> None:
    rows = [boston_codec.schema.example_row()] * 101
    with pytest.raises(RequestTooLargeError, match="more than 100 houses"):
        boston_codec.answer_v1(json.dumps(rows).encode())


# -- properties: rows from the stored schema pass, one bad field is named ------------------------


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
              "integer": [2.5, "3", None, False],
              "binary": [2, 0.5, -1, "1", True],
              "categorical": [3, None, 1.5, ["INLAND"]]}


@pytest.mark.parametrize("codec_name", ["boston_codec", "california_codec"])
@settings(max_examples=40, deadline=None, suppress_health_check=[
    HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_schema_rows_pass_and_one_bad_field_is_named(codec_name: str, data: st.DataObject,
                                                     request: pytest.FixtureRequest) -> None:
    codec: Codec = request.getfixturevalue(codec_name)
    rows = data.draw(rows_of(codec.schema))
    body, n = codec.answer_v2(json.dumps({"instances": rows}).encode())
    assert n == len(rows) and len(json.loads(body)["predictions"]) == len(rows)
    row = data.draw(st.integers(0, len(rows) - 1))
    feature = data.draw(st.sampled_from(codec.schema.features))
    bad = data.draw(st.sampled_from(BAD_VALUES[feature.kind]))
    rows[row] = rows[row] | {feature.name: bad}
    with pytest.raises(ValidationError, match=rf"^row {row}, field '{feature.name}': ") as err:
        codec.answer_v1(json.dumps(rows).encode())
    assert (err.value.row, err.value.field) == (row, feature.name)


@pytest.mark.parametrize("whole", [["rooms"], ["rooms", "garden"]])
def test_whole_number_features_refuse_near_misses_however_many_there_are(
        whole: list[str]) -> None:
    kinds: dict[str, Kind] = {"area": "numeric", "rooms": "integer", "garden": "binary"}
    schema = Schema(features=tuple(Feature(name=n, kind=k, min=0.0, max=9.0)
                                   for n, k in kinds.items() if k == "numeric" or n in whole),
                    target=Target(name="price"))
    parser = BodyParser(schema, ApiTypes.build(schema, 10), 10)
    house = {"area": 50.5, "rooms": 3.0, "garden": 1}
    good = [{k: v for k, v in house.items() if k in schema.names}] * 2
    assert len(parser.parse(json.dumps(good).encode(), v2=False).rows) == 2
    for name in whole:
        bad = [good[0], good[0] | {name: 1.0000000001}]
        with pytest.raises(ValidationError) as refused:
            parser.parse(json.dumps(bad).encode(), v2=False)
        assert (refused.value.row, refused.value.field) == (1, name)
