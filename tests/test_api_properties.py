"""Property-based tests of the API from its own OpenAPI document (hypothesis): instances drawn
from each served model's published schema get a 200 with only finite numbers or a 422, and
instances of arbitrary JSON never get a 5xx. Bounded (a few dozen examples per property) to
stay inside the CI budget. The schema strategy is written here for the keywords the
documents use (type, enum, minimum, maximum, minLength, format date):
hypothesis-jsonschema 0.23 fails on the current hypothesis."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bayescope.api import create_app
from bayescope.cli import main

BOUNDED = settings(max_examples=40, deadline=None, derandomize=True,
                   suppress_health_check=[HealthCheck.too_slow,
                                          HealthCheck.function_scoped_fixture])
JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
                    | st.text(max_size=20),
                    lambda inner: st.lists(inner, max_size=3)
                    | st.dictionaries(st.text(max_size=8), inner, max_size=3),
                    max_leaves=8)


@pytest.fixture(scope="module")
def served(small_spend, small_log_csv, tmp_path_factory):
    _, spend_run = small_spend
    btyd_run = tmp_path_factory.mktemp("props") / "clv"
    assert main(["-q", "fit", "btyd", "--transactions", small_log_csv, "--method", "map",
                 "--calibration-end", "2024-12-31", "--out", str(btyd_run)]) == 0
    client = create_app([spend_run, btyd_run]).test_client()
    document = client.get("/openapi.json").get_json()
    return client, document


def _finite(predictions: list[dict[str, Any]]) -> bool:
    """Every number finite, and no null but the documented ones (an uplift that the training
    data cannot identify; the id of a summary instance sent without one)."""
    for prediction in predictions:
        for key, value in prediction.items():
            if value is None and not (key.startswith("uplift") or key.endswith("_id")):
                return False
            if isinstance(value, float) and not math.isfinite(value):
                return False
    return True


def from_schema(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Instances of an object schema with the keywords of the served models' schemas."""
    return st.fixed_dictionaries({name: _field(spec) for name, spec
                                  in schema["properties"].items()
                                  if name in schema.get("required", [])})


def _field(spec: dict[str, Any]) -> st.SearchStrategy[Any]:
    if "enum" in spec:
        return st.sampled_from(spec["enum"])
    types = spec["type"] if isinstance(spec["type"], list) else [spec["type"]]
    base = types[0]
    low, high = spec.get("minimum"), spec.get("maximum")
    if base == "string":
        if spec.get("format") == "date":
            values: st.SearchStrategy[Any] = st.dates().map(lambda d: d.isoformat())
        else:
            values = st.text(min_size=spec.get("minLength", 0), max_size=30)
    elif base == "integer":
        values = st.integers(int(low) if low is not None else -10**6,
                             int(high) if high is not None else 10**6)
    else:
        values = st.floats(low if low is not None else -1e12,
                           high if high is not None else 1e12, allow_nan=False,
                           allow_infinity=False)
    return st.none() | values if "null" in types else values


def _instance_schema(document: dict[str, Any], name: str) -> dict[str, Any]:
    return document["components"]["schemas"][f"{name}_instance"]


@pytest.mark.parametrize("name", ["run", "clv"])
def test_schema_valid_instances_get_200_with_finite_numbers_or_422(served, name) -> None:
    client, document = served
    assert f"/v1/models/{name}:predict" in document["paths"]
    schema = _instance_schema(document, name)
    if name == "clv":  # one of the two shapes: a summary (customer ids are all unknown)
        schema = schema["oneOf"][1]

    @BOUNDED
    @given(from_schema(schema))
    def check(instance: dict[str, Any]) -> None:
        answer = client.post(f"/v1/models/{name}:predict", json={"instances": [instance]})
        assert answer.status_code in (200, 422), (answer.status_code, answer.get_json())
        payload = answer.get_json()
        if answer.status_code == 200:
            assert _finite(payload["predictions"]), payload
        else:
            assert set(payload) == {"error", "field", "index"}

    check()


@pytest.mark.parametrize("name", ["run", "clv"])
def test_arbitrary_json_instances_never_get_a_5xx(served, name) -> None:
    client, _ = served

    @BOUNDED
    @given(st.dictionaries(st.sampled_from(["customer_id", "frequency", "recency", "T",
                                            "monetary_value", "price_sensitivity",
                                            "campaign_id", "treatment_group"]), JSON,
                           max_size=6) | JSON)
    def check(instance: Any) -> None:
        answer = client.post(f"/v1/models/{name}:predict", json={"instances": [instance]})
        assert answer.status_code < 500, (instance, answer.get_json())
        if answer.status_code == 200:
            assert _finite(answer.get_json()["predictions"])

    check()
