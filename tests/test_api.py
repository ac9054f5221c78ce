"""The prediction API: routes, the same numbers as the CLI, and 4xx JSON for every bad request
(Flask test client), then the same against a real waitress server on 127.0.0.1."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pandas as pd
import pytest

from bayescope.api import create_app
from bayescope.cli import main
from bayescope.data.campaign_spend import TARGET


@pytest.fixture(scope="module")
def client(small_spend):
    _, run = small_spend
    return create_app([run], max_instances=50, max_body_bytes=200_000).test_client()


@pytest.fixture(scope="module")
def instances(small_spend):
    data, _ = small_spend
    return pd.read_csv(data).drop(columns=TARGET).head(20).to_dict(orient="records")


def test_routes_describe_the_model(client):
    assert client.get("/healthz").json == {"status": "ok", "models": 1}
    (info,) = client.get("/v1/models").json["models"]
    assert info["name"] == "run" and info["kind"] == "spend"
    assert set(info) >= {"model", "trained_at", "converged", "bayescope_version"}
    described = client.get("/v1/models/run").json
    assert set(described["input_schema"]["required"]) >= {"customer_id", "treatment_group"}
    assert described["input_schema"]["properties"]["email_open_rate"]["maximum"] == 1
    spec = client.get("/openapi.json").json
    assert spec["openapi"].startswith("3.") and "/v1/models/run:predict" in spec["paths"]


def test_predictions_equal_the_cli_for_the_same_rows_and_seed(client, instances, small_spend,
                                                              tmp_path):
    _, run = small_spend
    response = client.post("/v1/models/run:predict?seed=5", json={"instances": instances})
    assert response.status_code == 200
    body = response.json
    assert body["model"]["name"] == "run"
    predictions = pd.DataFrame(body["predictions"])
    path = tmp_path / "rows.csv"
    pd.DataFrame(instances).to_csv(path, index=False)
    out = tmp_path / "cli.csv"
    assert main(["-q", "predict", str(run), "--data", str(path), "--out", str(out),
                 "--seed", "5"]) == 0
    cli = pd.read_csv(out)
    for api_col, cli_col in (("mean", "spend_mean"), ("median", "spend_median"),
                             ("low", "spend_low"), ("high", "spend_high"),
                             ("p_positive", "p_positive"), ("uplift_mean", "uplift_mean"),
                             ("uplift_low", "uplift_low"), ("uplift_high", "uplift_high")):
        pd.testing.assert_series_equal(predictions[api_col], cli[cli_col], check_names=False,
                                       rtol=1e-9)
    # The PostPilot-style shortcut: a bare instance, same numbers as the first row.
    single = client.post("/predict?seed=5", json=instances[0]).json["predictions"][0]
    assert single["mean"] == pytest.approx(body["predictions"][0]["mean"])
    assert single["high"] == pytest.approx(body["predictions"][0]["high"])


@pytest.mark.parametrize("case", ["malformed", "no_instances", "empty", "not_object",
                                  "missing", "mistyped", "bool_as_number", "out_of_range",
                                  "bad_campaign", "bad_date", "too_many", "bad_seed",
                                  "negative_seed", "huge_integer", "huge_spend", "long_string",
                                  "relative_date", "year_1000", "duplicate_id"])
def test_bad_requests_get_4xx_json_naming_the_field(client, instances, case):
    good = dict(instances[0])
    body: object = {"instances": [good]}
    expected = (422, None, 0)
    if case == "malformed":
        response = client.post("/v1/models/run:predict", data="{oops",
                               content_type="application/json")
        assert response.status_code == 400 and response.json["field"] == "body"
        return
    if case == "no_instances":
        body, expected = {"rows": [good]}, (400, "instances", None)
    elif case == "empty":
        body, expected = {"instances": []}, (400, "instances", None)
    elif case == "not_object":
        body, expected = {"instances": [good, 3]}, (422, "instances", 1)
    elif case == "missing":
        body, expected = {"instances": [good, {k: v for k, v in good.items()
                                               if k != "price_sensitivity"}]}, (
            422, "price_sensitivity", 1)
    elif case == "mistyped":
        body, expected = {"instances": [{**good, "web_activity_score": "high"}]}, (
            422, "web_activity_score", 0)
    elif case == "bool_as_number":
        body, expected = {"instances": [{**good, "treatment_group": True}]}, (
            422, "treatment_group", 0)
    elif case == "out_of_range":
        body, expected = {"instances": [good, {**instances[1], "email_open_rate": 1.7}]}, (
            422, "email_open_rate", 1)
    elif case == "bad_campaign":
        body, expected = {"instances": [{**good, "campaign_id": "SPRING"}]}, (
            422, "campaign_id", 0)
    elif case == "bad_date":
        body, expected = {"instances": [{**good, "campaign_send_date": "soon"}]}, (
            422, "campaign_send_date", 0)
    elif case == "too_many":
        body, expected = {"instances": [good] * 51}, (413, "instances", None)
    elif case == "huge_integer":
        body, expected = {"instances": [{**good, "customer_tenure_days": 10**400}]}, (
            422, "customer_tenure_days", 0)
    elif case == "huge_spend":
        body, expected = {"instances": [{**good, "historical_lifetime_spend": 1e308}]}, (
            422, "historical_lifetime_spend", 0)
    elif case == "long_string":
        body, expected = {"instances": [{**good, "customer_id": "x" * 50_000}]}, (
            422, "customer_id", 0)
    elif case == "relative_date":
        body, expected = {"instances": [{**good, "campaign_send_date": "now"}]}, (
            422, "campaign_send_date", 0)
    elif case == "year_1000":
        body, expected = {"instances": [{**good, "campaign_send_date": "1000-01-01"}]}, (
            422, "campaign_send_date", 0)
    elif case == "duplicate_id":
        body, expected = {"instances": [good, {**instances[1],
                                               "customer_id": good["customer_id"]}]}, (
            422, "customer_id", 0)
    url = "/v1/models/run:predict" + {"bad_seed": "?seed=x", "negative_seed": "?seed=-1"}.get(
        case, "")
    if case in ("bad_seed", "negative_seed"):
        expected = (400, "seed", None)
    response = client.post(url, json=body)
    status, field, index = expected
    assert response.status_code == status, response.json
    assert response.json["field"] == field and response.json["index"] == index
    assert "Traceback" not in response.get_data(as_text=True)


def test_nested_json_mixed_offsets_and_missing_numbers(client, instances):
    from bayescope.families.serving import json_number as _json_number

    nested = client.post("/v1/models/run:predict", data="[" * 100_000,
                         content_type="application/json")
    assert nested.status_code == 400 and nested.json["field"] == "body"
    mixed = [{**instances[0], "campaign_send_date": "2025-10-01T09:00:00+01:00"},
             {**instances[1], "campaign_send_date": "2025-10-01T09:00:00+05:00"},
             {**instances[2], "campaign_send_date": "2025-10-01"}]
    assert client.post("/v1/models/run:predict", json={"instances": mixed}).status_code == 200
    assert _json_number(float("nan")) is None and _json_number(2.5) == 2.5


def test_unknown_model_route_method_and_oversized_body(client, instances):
    assert client.post("/v1/models/nope:predict", json={"instances": instances}).status_code \
        == 404
    assert client.get("/nowhere").status_code == 404
    assert client.get("/v1/models/run:predict").status_code == 405
    assert client.get("/predict").status_code == 405
    big = client.post("/v1/models/run:predict", data="x" * 300_000,
                      content_type="application/json")
    assert big.status_code == 413 and big.json["field"] == "body"


def test_serve_refuses_a_draw_count_below_one(small_spend, capsys):
    _, run = small_spend
    for option in ("--max-draws", "--max-instances"):
        with pytest.raises(SystemExit) as exit_info:
            main(["serve", str(run), option, "0"])
        assert exit_info.value.code == 2
        assert f"argument {option}: 0 must be at least 1" in capsys.readouterr().err


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_real_server_process_answers_like_the_test_client(client, instances, small_spend):
    _, run = small_spend
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "bayescope.cli", "-q", "serve", str(run),
                               "--port", str(port)], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{base}/healthz", timeout=2) as r:
                    assert json.load(r)["status"] == "ok"
                break
            except (urllib.error.URLError, ConnectionError):
                assert server.poll() is None, "server exited"
                assert time.monotonic() < deadline, "server did not start"
                time.sleep(0.3)
        request = urllib.request.Request(
            f"{base}/v1/models/run:predict", data=json.dumps({"instances": instances}).encode(),
            headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as r:
            served = json.load(r)["predictions"]
        local = client.post("/v1/models/run:predict", json={"instances": instances}).json
        assert served == local["predictions"]
        bad = urllib.request.Request(f"{base}/v1/models/run:predict", data=b"[1, 2",
                                     headers={"Content-Type": "application/json"})
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(bad, timeout=10)
        assert info.value.code == 400 and json.load(info.value)["field"] == "body"
        _idle_clients_starve_no_one_and_big_bodies_are_refused_unread(port)
    finally:
        server.terminate()
        server.wait(timeout=10)


def _idle_clients_starve_no_one_and_big_bodies_are_refused_unread(port: int) -> None:
    """Issue 18: about 100 idle connections locked waitress' defaults, and a body was
    buffered up to 1 GiB before the 16 MiB limit applied."""
    idle = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(150)]
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as r:
            assert json.load(r)["status"] == "ok"
    finally:
        for connection in idle:
            connection.close()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as big:
        big.sendall(b"POST /v1/models/run:predict HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                    b"Content-Type: application/json\r\nContent-Length: 1073741824\r\n\r\n")
        answer = big.recv(4096)  # at once: not one byte of the announced GiB was sent
    assert answer.split(b"\r\n", 1)[0].split(b" ")[1] == b"413", answer[:200]


@pytest.fixture(scope="module")
def tickets_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tickets_api")
    tables, run = folder / "tables", folder / "run"
    assert main(["-q", "generate", "artists", "--artists", "5", "--dmas", "6", "--weeks", "70",
                 "--seed", "4", "--out", str(tables)]) == 0
    assert main(["-q", "fit", "tickets", "--tables", str(tables), "--origin", "2021-03-08",
                 "--artists", "5", "--draws", "250", "--tune", "200", "--chains", "2",
                 "--out", str(run)]) == 0
    assert main(["-q", "predict", str(run), "--seed", "3", "--out",
                 str(folder / "forecast.csv")]) == 0
    return run, pd.read_csv(folder / "forecast.csv", dtype={"dma_id": str})


def test_ticket_forecasts_are_served_like_the_cli(tickets_run):
    run, forecast = tickets_run
    client = create_app([run]).test_client()
    (info,) = client.get("/v1/models").json["models"]
    assert info["kind"] == "tickets"
    assert info["forecast_weeks"] == sorted(forecast["week_start"].unique())
    assert info["draws_used"] == 500  # 2 chains x 250, all of them
    rows = forecast.nlargest(12, "tickets_mean")  # busy rows: a mix-up would show
    instances = rows[["artist_id", "dma_id", "week_start"]].to_dict(orient="records")
    answer = client.post("/v1/models/run:predict?seed=5", json={"instances": instances})
    assert answer.status_code == 200
    predictions = answer.json["predictions"]
    assert [p["dma_id"] for p in predictions] == rows["dma_id"].tolist()
    again = client.post("/v1/models/run:predict?seed=5", json={"instances": instances})
    assert again.json["predictions"] == predictions
    for served, (_, cli) in zip(predictions, rows.iterrows(), strict=True):
        assert served["low"] <= served["median"] <= served["high"]
        assert served["order_value_low"] <= served["order_value_high"]
        # The means are the same draws' expectations (no simulation noise), so they agree
        # whatever the seeds; the quantiles come from independent simulations.
        assert served["mean"] == pytest.approx(cli["tickets_mean"], rel=1e-6)
        assert served["order_value_mean"] == pytest.approx(cli["order_value_mean"], rel=1e-6)
        assert abs(served["high"] - cli["tickets_high"]) <= 1


def test_ticket_draws_thinned_at_load_stay_reproducible(tickets_run):
    run, forecast = tickets_run
    client = create_app([run], max_draws=100).test_client()
    assert client.get("/v1/models").json["models"][0]["draws_used"] == 100
    instances = forecast[["artist_id", "dma_id", "week_start"]].tail(3)
    body = {"instances": instances.to_dict(orient="records")}
    first = client.post("/v1/models/run:predict?seed=2", json=body).json["predictions"]
    assert client.post("/v1/models/run:predict?seed=2", json=body).json["predictions"] == first
    reloaded = create_app([run], max_draws=100).test_client()
    assert reloaded.post("/v1/models/run:predict?seed=2", json=body).json["predictions"] == first


@pytest.mark.parametrize(("change", "field"), [
    ({"artist_id": "NOPE"}, "artist_id"), ({"dma_id": "999"}, "dma_id"),
    ({"week_start": "2030-01-07"}, "week_start"), ({"week_start": 7}, "week_start")])
def test_bad_ticket_instances_get_422_naming_the_field(tickets_run, change, field):
    run, forecast = tickets_run
    client = create_app([run]).test_client()
    good = forecast[["artist_id", "dma_id", "week_start"]].head(2).to_dict(orient="records")
    answer = client.post("/v1/models/run:predict",
                         json={"instances": [good[0], {**good[1], **change}]})
    assert answer.status_code == 422
    assert answer.json["field"] == field and answer.json["index"] == 1


@pytest.mark.parametrize(("change", "field"), [
    ({"price_sensitivity": -1000.0}, "price_sensitivity"),
    ({"price_sensitivity": -20.0}, "price_sensitivity"),  # a 30-day spend of 6.6e12 before
    ({"historical_lifetime_spend": 1e9}, "historical_lifetime_spend"),
])
def test_inputs_far_outside_the_training_data_are_422_never_null(client, instances, change,
                                                                 field):
    answer = client.post("/v1/models/run:predict",
                         json={"instances": [instances[0], {**instances[1], **change}]})
    assert answer.status_code == 422, answer.json
    assert answer.json["field"] == field and answer.json["index"] == 1
    assert "outside what this model can score" in answer.json["error"]


def test_a_lone_surrogate_is_422_and_a_foreign_host_403(client, instances, small_spend):
    body = ('{"instances": [' + json.dumps(instances[0])[:-1]
            + ', "customer_id": "\\ud800"}]}')
    answer = client.post("/v1/models/run:predict", data=body,
                         content_type="application/json")
    assert answer.status_code == 422 and answer.json["field"] == "customer_id"
    foreign = client.get("/v1/models", headers={"Host": "evil.example"})
    assert foreign.status_code == 403 and foreign.json["field"] == "host"
    assert client.get("/healthz", headers={"Host": "127.0.0.1:8000"}).status_code == 200
    _, run = small_spend
    allowed = create_app([run], allowed_hosts=["models.internal", "2001:db8::5"]).test_client()
    assert allowed.get("/healthz", headers={"Host": "models.internal:80"}).status_code == 200
    assert allowed.get("/healthz", headers={"Host": "[2001:db8::5]:8000"}).status_code == 200
    assert allowed.get("/healthz", headers={"Host": "[::1]:8000"}).status_code == 200


def test_nan_literals_are_422_and_a_405_says_what_is_allowed(client, instances):
    body = json.dumps({"instances": [instances[0]]}).replace(
        f'"price_sensitivity": {instances[0]["price_sensitivity"]}', '"price_sensitivity": NaN')
    assert "NaN" in body
    answer = client.post("/v1/models/run:predict", data=body, content_type="application/json")
    assert answer.status_code == 422 and answer.json["field"] == "price_sensitivity"
    wrong = client.get("/v1/models/run:predict")
    assert wrong.status_code == 405 and "POST" in wrong.headers["Allow"]
    assert "GET" not in wrong.headers["Allow"] and wrong.json["field"] == "method"
    # OPTIONS advertises what each route takes: POST alone where predictions are made.
    for path, allowed in (("/v1/models/run:predict", {"POST", "OPTIONS"}),
                          ("/predict", {"POST", "OPTIONS"}),
                          ("/v1/models/run", {"GET", "HEAD", "OPTIONS"})):
        options = client.open(path, method="OPTIONS")
        assert options.status_code == 200
        assert set(options.headers["Allow"].replace(" ", "").split(",")) == allowed, path


def test_a_request_whose_client_hung_up_is_not_computed(client, instances, monkeypatch):
    """Under waitress (``channel_request_lookahead``) the app asks whether the client is
    still there before computing; one that hung up while its request waited gets no work."""
    from bayescope.cli import SERVER_LIMITS

    assert SERVER_LIMITS["channel_request_lookahead"] > 0
    from bayescope.families.spend import ServedSpendModel

    calls = []
    predict = ServedSpendModel.predict

    def counted(self, *args, **kwargs):
        calls.append(1)
        return predict(self, *args, **kwargs)

    monkeypatch.setattr(ServedSpendModel, "predict", counted)
    gone = client.post("/v1/models/run:predict", json={"instances": instances[:2]},
                       environ_base={"waitress.client_disconnected": lambda: True})
    assert gone.status_code == 499 and not calls
    here = client.post("/v1/models/run:predict", json={"instances": instances[:2]},
                       environ_base={"waitress.client_disconnected": lambda: False})
    assert here.status_code == 200 and len(here.json["predictions"]) == 2 and calls == [1]
