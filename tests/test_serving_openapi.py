"""Schemathesis against the served OpenAPI document: no 5xx, every answer as documented.

Each operation gets its own bounded Hypothesis run (valid and invalid data),
driven by hand rather than through schemathesis' pytest plugin, whose lazy
fixture loader does not work with the pytest in use.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable

from estimator.registry import Registry, VersionInfo
from tests.serving_support import TOKEN, running

pytestmark = pytest.mark.slow
EXAMPLES = 30
# Invalid requests must be refused with a 4xx; 413 is ours for more houses than --max-batch.
CONFIG = schemathesis.Config.from_dict({"checks": {"negative_data_rejection": {
    "expected-statuses": [400, 401, 403, 404, 406, 413, 422]}}})


@pytest.fixture(scope="module")
def california_server(session_registry: Registry,
                      california_gbm: VersionInfo) -> Iterator[httpx.Client]:
    """California: categories, integers and missing values in training; admin routes on."""
    with running(session_registry.root, california_gbm.ref, max_batch=20,
                 admin_token=TOKEN) as client:
        yield client


@pytest.mark.parametrize("mode", list(schemathesis.GenerationMode), ids=str)
def test_the_api_keeps_its_documented_promises(california_server: httpx.Client,
                                               mode: schemathesis.GenerationMode) -> None:
    schema = schemathesis.openapi.from_url(f"{california_server.base_url}/openapi.json",
                                           config=CONFIG)
    failures: dict[str, str] = {}
    checked = []
    for result in schema.get_all_operations():
        operation = result.ok()
        checked.append(operation.label)

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(max_examples=EXAMPLES, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        def keeps_promises(case: Any) -> None:
            case.call_and_validate()

        try:
            keeps_promises()
        except Unsatisfiable:  # no invalid request exists for an operation without inputs
            assert mode is schemathesis.GenerationMode.NEGATIVE
        except Exception as err:  # collect every operation's failure, then report them all
            failures[operation.label] = f"{type(err).__name__}: {err}"
    assert "POST /v1/services/predict" in checked and "POST /v2/predict" in checked
    assert failures == {}, "\n\n".join(f"{k}: {v}" for k, v in failures.items())
