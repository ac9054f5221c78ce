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


def _conforms(document: dict[str, Any], schema: dict[str, Any], value: Any) -> None:
    """``value`` is valid against ``schema``, its ``#/components`` references read from the
    document."""
    from jsonschema import Draft202012Validator

    Draft202012Validator({**document, **schema}).validate(value)


def _documented(document: dict[str, Any]) -> set[tuple[str, str]]:
    return {(path, method.upper()) for path, operations in document["paths"].items()
            for method in operations}


def test_the_document_describes_every_route_and_every_answer(served, small_spend) -> None:
    """Every route the server answers is in the document and nothing else is; every answer
    of every route conforms to its documented schema; the constraints the server enforces
    (seed >= 0, unique customer ids in a batch) are the documented ones."""
    client, document = served
    names = [m["name"] for m in client.get("/v1/models").get_json()["models"]]
    answered = set()
    for rule in client.application.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        paths = [rule.rule.replace("<model:name>", name) for name in names] \
            if "<model:name>" in rule.rule else [rule.rule]
        answered |= {(path, method) for path in paths
                     for method in rule.methods - {"HEAD", "OPTIONS"}}
    assert _documented(document) == answered
    for path, method in sorted(answered):
        operation = document["paths"][path][method.lower()]
        assert operation["summary"] and all(r["description"]
                                            for r in operation["responses"].values())
        if method == "GET":
            answer = client.get(path)
            assert answer.status_code == 200
            _conforms(document, operation["responses"]["200"]["content"]["application/json"]
                      ["schema"], answer.get_json())
    for name in names:
        operation = document["paths"][f"/v1/models/{name}:predict"]["post"]
        (seed,) = operation["parameters"]
        assert seed["name"] == "seed" and seed["schema"]["minimum"] == 0
        answer = client.post(f"/v1/models/{name}:predict?seed=-1", json={"instances": [{}]})
        assert answer.status_code == 400 and answer.get_json()["field"] == "seed"
        for code, content in operation["responses"].items():
            if code != "200":
                assert content["content"]["application/json"]["schema"] == {
                    "$ref": "#/components/schemas/Error"}
    # The spend route refuses a repeated customer id in a batch, and says so.
    assert "unique within a request" in _instance_schema(document, "run")["properties"][
        "customer_id"]["description"]
    # An answer of each kind conforms to its documented schema.
    import pandas as pd

    from bayescope.data.campaign_spend import TARGET

    spend_row = pd.read_csv(small_spend[0]).drop(columns=TARGET).head(1).to_dict(
        orient="records")[0]
    for path, body, code in (
            ("/v1/models/run:predict", {"instances": [spend_row]}, 200),
            ("/v1/models/run:predict", {"instances": [spend_row, spend_row]}, 422),
            ("/v1/models/nobody:predict", {"instances": [spend_row]}, 404),
            ("/v1/models/clv:predict", {"instances": [
                {"frequency": 2, "recency": 10.0, "T": 40.0, "monetary_value": 30.0}]},
             200)):
        answer = client.post(path, json=body)
        assert answer.status_code == code, answer.get_json()
        operation = document["paths"][path if code != 404 else "/v1/models/run:predict"][
            "post"]
        _conforms(document, operation["responses"][str(code)]["content"]["application/json"]
                  ["schema"], answer.get_json())
        if code == 422:
            assert answer.get_json()["field"] == "customer_id"
