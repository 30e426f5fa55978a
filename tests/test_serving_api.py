"""End to end: the HTTP API of a real uvicorn server serving real trained models."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest

from estimator import config
from estimator.batch import predict_file
from estimator.predictor import Predictor
from estimator.registry import Registry, VersionInfo
from estimator.training import train
from tests.conftest import CALIFORNIA, EXAMPLES
from tests.serving_support import running

pytestmark = pytest.mark.slow
MAX_BATCH = 50
MAX_BODY = 64 * 1024
V1 = "/v1/services/predict"


@pytest.fixture(scope="module")
def boston(session_registry: Registry, boston_mlp: VersionInfo) -> Iterator[httpx.Client]:
    with running(session_registry.root, boston_mlp.ref, max_batch=MAX_BATCH,
                 max_body_bytes=MAX_BODY) as client:
        yield client


@pytest.fixture(scope="module")
def california(session_registry: Registry,
               california_gbm: VersionInfo) -> Iterator[httpx.Client]:
    with running(session_registry.root, california_gbm.ref) as client:
        yield client


@pytest.fixture(scope="module")
def article_request() -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = json.loads((EXAMPLES / "seed_predict_request.json")
                                            .read_text())
    return rows


def house(predictor_path: Path, **changes: Any) -> dict[str, Any]:
    row = Predictor.load(predictor_path).schema.example_row()
    return {**row, **changes}


# -- the article's API and v2 ------------------------------------------------------------------


def test_health_and_ready_name_the_served_version(boston: httpx.Client,
                                                  boston_mlp: VersionInfo) -> None:
    served = {"name": boston_mlp.name, "version": boston_mlp.version}
    health = boston.get("/health")
    assert health.status_code == 200
    assert health.json() == {"status": "ok", "model": served, "message": None}
    ready = boston.get("/ready")
    assert ready.status_code == 200
    assert ready.json()["model"] == served


def test_the_article_request_gets_the_article_answer(
        boston: httpx.Client, boston_mlp: VersionInfo,
        article_request: list[dict[str, Any]]) -> None:
    answer = boston.post(V1, json=article_request)
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/json"
    assert answer.headers["x-model-version"] == boston_mlp.version
    body = answer.json()
    assert list(body) == ["inputData", "predictions"]
    assert body["inputData"] == article_request
    [prediction] = body["predictions"]
    assert list(prediction) == ["Prediction price 0"]
    expected = Predictor.load(boston_mlp.path).predict_rows(article_request)[0]
    assert prediction["Prediction price 0"] == pytest.approx(expected, rel=1e-9)


def test_v2_names_the_version_and_gives_each_estimate_an_id(
        boston: httpx.Client, boston_mlp: VersionInfo) -> None:
    rows = [house(boston_mlp.path, RM=rm) for rm in (4.5, 6.0, 7.5)]
    answer = boston.post("/v2/predict", json={"instances": rows, "explain": False})
    assert answer.status_code == 200
    assert answer.headers["x-model-name"] == boston_mlp.name
    body = answer.json()
    assert body["model"] == {"name": boston_mlp.name, "version": boston_mlp.version}
    assert [p["warnings"] for p in body["predictions"]] == [[], [], []]
    ids = [p["id"] for p in body["predictions"]]
    assert len(set(ids)) == 3 and all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids)
    expected = Predictor.load(boston_mlp.path).predict_rows(rows)
    assert [p["price"] for p in body["predictions"]] == pytest.approx(expected.tolist())
    v1 = boston.post(V1, json=rows).json()["predictions"]
    assert [p[f"Prediction price {i}"] for i, p in enumerate(v1)] == pytest.approx(
        expected.tolist())


def test_integer_features_take_whole_floats(boston: httpx.Client,
                                            boston_mlp: VersionInfo) -> None:
    answer = boston.post(V1, json=[house(boston_mlp.path, RAD=5.0, TAX=296, CHAS=1.0)])
    assert answer.status_code == 200


def test_far_values_are_priced_and_flagged(boston: httpx.Client,
                                           boston_mlp: VersionInfo) -> None:
    rows = [house(boston_mlp.path), house(boston_mlp.path, CRIM=500.0, RM=30.0)]
    body = boston.post("/v2/predict", json={"instances": rows}).json()
    assert all(math.isfinite(p["price"]) for p in body["predictions"])
    assert body["predictions"][0]["warnings"] == []
    far = body["predictions"][1]["warnings"]
    assert [w["field"] for w in far] == ["CRIM", "RM"]
    assert "far outside the range seen in training" in far[0]["message"]


def test_unseen_categories_go_to_the_unknown_slot_with_a_warning(
        california: httpx.Client, california_gbm: VersionInfo) -> None:
    known = house(california_gbm.path)
    rows = [known, {**known, "ocean_proximity": "ON THE MOON"}]
    body = california.post("/v2/predict", json={"instances": rows}).json()
    assert body["predictions"][0]["warnings"] == []
    [warning] = body["predictions"][1]["warnings"]
    assert warning["field"] == "ocean_proximity"
    assert "'ON THE MOON' was never seen in training" in warning["message"]
    expected = Predictor.load(california_gbm.path).predict_rows(rows)
    assert [p["price"] for p in body["predictions"]] == pytest.approx(expected.tolist(),
                                                                      rel=1e-6)
    assert california.post(V1, json=rows).status_code == 200


def test_models_route_describes_the_served_version(boston: httpx.Client,
                                                   boston_mlp: VersionInfo) -> None:
    body = boston.get("/v1/models").json()
    assert (body["name"], body["version"], body["family"]) == (
        boston_mlp.name, boston_mlp.version, "mlp")
    assert body["metrics"]["test"]["rmse"] == boston_mlp.meta["metrics"]["test"]["rmse"]
    assert [f["name"] for f in body["schema"]["features"]][:3] == ["CRIM", "ZN", "INDUS"]
    assert body["aliases"]["latest"] == boston_mlp.version
    assert any(e["to"] == boston_mlp.version for e in body["history"])


def test_metrics_count_requests_rows_and_the_version(boston: httpx.Client,
                                                     boston_mlp: VersionInfo) -> None:
    boston.post(V1, json=[house(boston_mlp.path)] * 3)
    boston.post(V1, json=[])
    text = boston.get("/metrics").text
    assert re.search(r'estimator_http_requests_total\{method="POST",route="/v1/services/'
                     r'predict",status="200"\} [1-9]', text)
    assert re.search(r'estimator_http_requests_total\{method="POST",route="/v1/services/'
                     r'predict",status="422"\} [1-9]', text)
    assert 'estimator_http_request_duration_seconds_bucket{le="0.01",method="POST"' in text
    rows = re.search(r'estimator_rows_predicted_total\{route="/v1/services/predict"\} (\S+)',
                     text)
    assert rows is not None and float(rows.group(1)) >= 3
    assert (f'estimator_model_info{{name="{boston_mlp.name}",version="{boston_mlp.version}"}} '
            "1.0") in text


def test_docs_list_every_feature_with_a_working_example(
        california: httpx.Client, california_gbm: VersionInfo) -> None:
    assert "swagger-ui" in california.get("/docs").text
    assert "redoc" in california.get("/redoc").text
    spec = california.get("/openapi.json").json()
    house_schema = spec["components"]["schemas"]["HouseIn"]
    schema = Predictor.load(california_gbm.path).schema
    assert list(house_schema["properties"]) == schema.names
    ocean = house_schema["properties"]["ocean_proximity"]
    assert ocean["examples"] == list(schema.feature("ocean_proximity").categories)
    assert "'INLAND'" in ocean["description"]
    income = house_schema["properties"]["median_income"]
    assert "Seen in training: 0.4999 to 15.0001" in income["description"]
    assert house_schema["properties"]["households"]["type"] == "integer"
    assert house_schema["required"] == [n for n in schema.names if n != "total_bedrooms"]
    assert "May be null or left out" in house_schema["properties"]["total_bedrooms"][
        "description"]
    body = spec["paths"][V1]["post"]["requestBody"]["content"]["application/json"]
    [example] = body["example"]
    training = pd.read_csv(CALIFORNIA)
    same = training[list(example)].eq(pd.Series(example)).all(axis=1)
    assert same.any(), "the example is not a row of the training data"
    answer = california.post(V1, json=body["example"])
    assert answer.status_code == 200
    example_v2 = spec["paths"]["/v2/predict"]["post"]["requestBody"]["content"][
        "application/json"]["example"]
    assert california.post("/v2/predict", json=example_v2).status_code == 200


def test_feature_names_with_spaces_and_slashes_work(tmp_path: Path) -> None:
    csv = tmp_path / "odd.csv"
    lines = ["living area,rooms/floor,has garden,price"]
    lines += [f"{50 + i},{1 + i % 4},{i % 2},{100 + 3 * i + (i % 4) * 7}" for i in range(60)]
    csv.write_text("\n".join(lines) + "\n")
    cfg = config.validate({"name": "odd", "data": {"path": str(csv), "target": "price"},
                           "model": {"family": "linear"}})
    registry = Registry(tmp_path / "models")
    train(cfg, registry=registry)
    with running(registry.root, "odd") as client:
        row = {"living area": 70.0, "rooms/floor": 2, "has garden": 1}
        answer = client.post(V1, json=[row])
        assert answer.status_code == 200, answer.text
        assert answer.json()["inputData"] == [row]
        refused = client.post(V1, json=[{**row, "rooms/floor": 2.5}])
        assert refused.json()["field"] == "rooms/floor"
        spec = client.get("/openapi.json").json()
        assert set(spec["components"]["schemas"]["HouseIn"]["properties"]) == set(row)


# -- bad input never gets a 500 ------------------------------------------------------------------

GOOD = {"CRIM": 0.09, "ZN": 0.0, "INDUS": 4.05, "CHAS": 0, "NOX": 0.51, "RM": 6.4, "AGE": 84.1,
        "DIS": 2.65, "RAD": 5, "TAX": 296, "PTRATIO": 16.6, "B": 395.5, "LSTAT": 9.04}


def without(key: str) -> dict[str, Any]:
    return {k: v for k, v in GOOD.items() if k != key}


def text(rows: Any) -> str:
    return json.dumps(rows)


BAD_V1 = [
    # (body, status, error, row, field, words in the message)
    (text([GOOD, without("RM")]), 422, "invalid_input", 1, "RM", "field required"),
    (text([{**GOOD, "garage": 1}]), 422, "invalid_input", 0, "garage",
     "is not a feature of this model"),
    (text([GOOD, GOOD, {**GOOD, "AGE": "old"}]), 422, "invalid_input", 2, "AGE",
     'must be a number, got "old"'),
    (text([{**GOOD, "RM": "6.4"}]), 422, "invalid_input", 0, "RM", 'must be a number, got "6.4"'),
    (text([{**GOOD, "RM": [6]}]), 422, "invalid_input", 0, "RM", "must be a number"),
    (text([{**GOOD, "LSTAT": None}]), 422, "invalid_input", 0, "LSTAT",
     "a value is required, got null"),
    (text([GOOD]).replace("9.04", "NaN"), 422, "invalid_input", 0, "LSTAT",
     "must be a finite number, got NaN"),
    (text([GOOD]).replace("9.04", "Infinity"), 422, "invalid_input", 0, "LSTAT",
     "must be a finite number, got Infinity"),
    (text([GOOD]).replace("9.04", "-Infinity"), 422, "invalid_input", 0, "LSTAT",
     "must be a finite number, got -Infinity"),
    (text([GOOD]).replace("9.04", "1e999"), 422, "invalid_input", 0, "LSTAT",
     "must be a finite number"),
    (text([{**GOOD, "RAD": 3.5}]), 422, "invalid_input", 0, "RAD",
     "must be a whole number, got 3.5"),
    (text([GOOD, {**GOOD, "RAD": 2.0000000001}]), 422, "invalid_input", 1, "RAD",
     "must be a whole number, got 2.0000000001"),
    (text([{**GOOD, "CHAS": 2}]), 422, "invalid_input", 0, "CHAS", "must be 0 or 1, got 2"),
    (text([{**GOOD, "CHAS": 1e-20}]), 422, "invalid_input", 0, "CHAS",
     "must be 0 or 1, got 1e-20"),
    (text([{**GOOD, "CHAS": True}]), 422, "invalid_input", 0, "CHAS",
     "must be 0 or 1, got true"),
    (text([]), 422, "invalid_input", None, None, "the request holds no houses"),
    (text(GOOD), 422, "invalid_input", None, None, "must be a JSON list of houses"),
    (text([GOOD, 7]), 422, "invalid_input", 1, None,
     "each house must be a JSON object keyed by feature name"),
    ("[{\"CRIM\": 0.09,", 400, "invalid_json", None, None, "the body is not valid JSON"),
    ("houses please", 400, "invalid_json", None, None, "the body is not valid JSON"),
    ("", 400, "invalid_json", None, None, "the body is not valid JSON"),
    (text([GOOD] * (MAX_BATCH + 1)), 413, "too_large", None, None,
     f"more than {MAX_BATCH} houses"),
]


@pytest.mark.parametrize(("body", "status", "error", "row", "field", "words"), BAD_V1,
                         ids=[f"{i}-{case[2]}-{case[4]}" for i, case in enumerate(BAD_V1)])
def test_bad_input_is_refused_naming_row_and_field(boston: httpx.Client, body: str,
                                                   status: int, error: str, row: int | None,
                                                   field: str | None, words: str) -> None:
    answer = boston.post(V1, content=body, headers={"Content-Type": "application/json"})
    assert answer.status_code == status
    payload = answer.json()
    assert set(payload) == {"error", "row", "field", "message"}
    assert (payload["error"], payload["row"], payload["field"]) == (error, row, field)
    assert words in payload["message"]
    if row is not None:
        assert payload["message"].startswith(f"row {row}")


BAD_V2 = [
    ({"explain": False}, "instances", "field required"),
    ({"instances": [GOOD], "debug": True}, "debug", "is not allowed"),
    ({"instances": [GOOD], "explain": "yes"}, "explain", "must be true or false"),
    ({"instances": {"a": GOOD}}, "instances", "must be a JSON list of houses"),
]


@pytest.mark.parametrize(("body", "field", "words"), BAD_V2)
def test_bad_v2_bodies_are_refused_naming_the_key(boston: httpx.Client, body: Any, field: str,
                                                  words: str) -> None:
    answer = boston.post("/v2/predict", json=body)
    assert answer.status_code == 422
    assert (answer.json()["field"], answer.json()["row"]) == (field, None)
    assert words in answer.json()["message"]


def test_v2_rows_are_named_inside_instances(boston: httpx.Client) -> None:
    answer = boston.post("/v2/predict", json={"instances": [GOOD, {**GOOD, "NOX": "high"}]})
    assert answer.status_code == 422
    assert (answer.json()["row"], answer.json()["field"]) == (1, "NOX")
    absent = boston.post("/v2/predict", json={"instances": [GOOD, GOOD, without("NOX")]})
    assert (absent.status_code, absent.json()["message"]) == (
        422, "row 2, field 'NOX': field required")


def test_a_body_over_the_size_limit_is_refused_before_parsing(boston: httpx.Client) -> None:
    big = b"[" + b" " * MAX_BODY + b"]"
    answer = boston.post(V1, content=big)
    assert answer.status_code == 413
    assert answer.json()["error"] == "too_large"
    assert f"more than the limit of {MAX_BODY}" in answer.json()["message"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit holds while streaming
        yield b"["
        for _ in range(MAX_BODY // 1024 + 1):
            yield b" " * 1024
        yield b"]"

    streamed = boston.post(V1, content=chunks())
    assert streamed.status_code == 413
    assert f"larger than the limit of {MAX_BODY} bytes" in streamed.json()["message"]


def test_a_key_given_twice_counts_once_and_the_echo_shows_the_value_priced(
        boston: httpx.Client) -> None:
    # JSON parsers keep the last value of a repeated key; so does the echo, so that the
    # answer never shows a house other than the one priced.
    twice = text([GOOD, GOOD]).replace('"RM": 6.4', '"RM": 6.4, "RM": 9.9', 2)
    twice = twice.replace('"RM": 6.4, "RM": 9.9', '"RM": 6.4', 1)  # only the second house
    answer = boston.post(V1, content=twice, headers={"Content-Type": "application/json"})
    assert answer.status_code == 200, answer.text
    assert [house["RM"] for house in answer.json()["inputData"]] == [6.4, 9.9]
    last = boston.post(V1, json=[GOOD, {**GOOD, "RM": 9.9}]).json()["predictions"]
    assert answer.json()["predictions"] == last
    v2 = boston.post("/v2/predict", content='{"instances": ' + twice + "}").json()
    assert [p["price"] for p in v2["predictions"]] == [p[f"Prediction price {i}"]
                                                        for i, p in enumerate(last)]


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded",
                                          "multipart/form-data; boundary=x",
                                          "application/json; charset=latin-1"])
def test_a_body_not_declared_as_json_is_refused(boston: httpx.Client,
                                                content_type: str) -> None:
    for path, body in ((V1, text([GOOD])), ("/v2/predict", text({"instances": [GOOD]}))):
        answer = boston.post(path, content=body, headers={"Content-Type": content_type})
        assert answer.status_code == 415
        assert answer.json()["error"] == "unsupported_media_type"
        assert answer.json()["message"] == (
            f"the body is declared as '{content_type}'; send JSON in UTF-8 with "
            "'Content-Type: application/json'")


@pytest.mark.parametrize("content_type", [None, "application/json; charset=UTF-8",
                                          "application/vnd.api+json"])
def test_json_declared_or_not_is_read(boston: httpx.Client, content_type: str | None) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    assert boston.post(V1, content=text([GOOD]), headers=headers).status_code == 200


def test_unknown_routes_and_methods_answer_in_the_same_shape(boston: httpx.Client) -> None:
    missing = boston.get("/v1/nothing-here")
    assert missing.status_code == 404
    assert missing.json() == {"error": "not_found", "row": None, "field": None,
                              "message": "Not Found"}
    wrong = boston.get(V1)
    assert wrong.status_code == 405
    assert wrong.json()["error"] == "method_not_allowed"
    assert boston.post("/v1/admin/reload").status_code == 404  # off without a token


def test_routes_match_behind_a_proxy_prefix_and_redirect_a_trailing_slash(
        boston: httpx.Client, session_registry: Registry, boston_mlp: VersionInfo,
        article_request: list[dict[str, Any]]) -> None:
    slashed = boston.post(V1 + "/", json=article_request)
    assert (slashed.status_code, slashed.headers["location"]) == (307, str(boston.base_url) + V1)
    with running(session_registry.root, boston_mlp.ref, root_path="/estimator") as client:
        assert client.post(V1, json=article_request).status_code == 200
        assert client.get("/health").json()["status"] == "ok"


# -- houses with gaps, and docs that work on a closed network ------------------------------------


def test_a_house_with_gaps_gets_the_same_price_everywhere(
        california: httpx.Client, california_gbm: VersionInfo, tmp_path: Path) -> None:
    """Over HTTP, in a batch file and from the library: one price for the same gappy house."""
    predictor = Predictor.load(california_gbm.path)
    row = predictor.schema.example_row()
    gap = {k: v for k, v in row.items() if k != "total_bedrooms"}
    answer = california.post("/v2/predict", json={"instances": [gap, {**row,
                                                                     "total_bedrooms": None}]})
    assert answer.status_code == 200, answer.text
    served = answer.json()["predictions"]
    assert served[0]["price"] == served[1]["price"]
    assert [w["field"] for w in served[0]["warnings"]] == ["total_bedrooms"]
    assert "missing; imputed as in training" in served[0]["warnings"][0]["message"]
    v1 = california.post(V1, json=[gap]).json()["predictions"][0]["Prediction price 0"]
    houses = tmp_path / "houses.csv"
    pd.DataFrame([{**row, "total_bedrooms": None}]).to_csv(houses, index=False)
    predict_file(predictor, houses, tmp_path / "out.csv")
    batch = pd.read_csv(tmp_path / "out.csv")["predicted_median_house_value"].iloc[0]
    library = predictor.predict_rows([gap])[0]
    assert served[0]["price"] == v1 == pytest.approx(batch, rel=1e-12) == library


def test_a_feature_without_gaps_in_training_stays_required(
        california: httpx.Client, california_gbm: VersionInfo) -> None:
    row = Predictor.load(california_gbm.path).schema.example_row()
    answer = california.post("/v2/predict", json={"instances": [row, {**row,
                                                                    "median_income": None}]})
    assert answer.status_code == 422
    assert (answer.json()["row"], answer.json()["field"]) == (1, "median_income")
    assert answer.json()["message"] == ("row 1, field 'median_income': a value is required, "
                                        "got null")


def test_the_docs_load_nothing_from_outside(california: httpx.Client) -> None:
    for page in ("/docs", "/redoc"):
        html = california.get(page).text
        assert not re.findall(r"https?://", html), page
        for asset in re.findall(r'(?:src|href)="([^"]+)"', html):
            fetched = california.get(asset)
            assert fetched.status_code == 200, asset
            assert len(fetched.content) > 1000 or asset.endswith(".png"), asset
