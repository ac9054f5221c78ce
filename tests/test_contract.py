"""The model contract, run on every registered family (small data).

Each family goes through fit, save, load (same predictions), serve one instance through the
Flask app, and report; the estimator conventions (keyword-only settings stored unchanged,
``fit`` returns ``self``, ``NotFittedError`` naming the class, refused run kinds) are checked
on all of them. A family added to the registry without an entry here fails
``test_every_registered_family_is_covered``.
"""

from __future__ import annotations

import inspect
import json
import os
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import arviz as az
import numpy as np
import pandas as pd
import pytest

import bayescope as bs
from bayescope.api import create_app
from bayescope.data.campaign_spend import TARGET
from bayescope.data.generate_btyd import BTYDTruth, generate_btyd_transactions
from bayescope.data.generate_propensity import generate_propensity_table
from bayescope.data.generate_spend import generate_spend_table
from bayescope.data.generate_tickets import generate_ticket_tables
from bayescope.data.ticket_tables import write_ticket_tables
from bayescope.families import REGISTRY
from bayescope.inference.artifacts import content_fingerprint


@dataclass
class Case:
    """How to fit, predict and serve one family at a small size."""

    make: Callable[[], Any]
    fit: Callable[[Any, Path], Any]
    predict: Callable[[Any], pd.DataFrame]
    instance: Callable[[Any], dict[str, Any]]


def _btyd_fit(model: Any, folder: Path) -> Any:
    log = generate_btyd_transactions(300, BTYDTruth(), np.random.default_rng(3)).transactions
    return model.fit(log, calibration_end="2024-12-31")


def _spend_table(folder: Path) -> pd.DataFrame:
    return generate_spend_table(600, np.random.default_rng(5)).table


def _spend_fit(model: Any, folder: Path) -> Any:
    path = folder / "spend.csv"
    _spend_table(folder).to_csv(path, index=False)
    return model.fit(path)


def _spend_predict(model: Any) -> pd.DataFrame:
    return model.predict(model.run_.table.head(20), seed=3)


def _spend_instance(model: Any) -> dict[str, Any]:
    row = model.run_.table.iloc[0].to_dict()
    row["campaign_send_date"] = row["campaign_send_date"].strftime("%Y-%m-%d")
    row.pop(TARGET, None)
    return {k: (v.item() if isinstance(v, np.generic) else v) for k, v in row.items()}


def _propensity_table() -> pd.DataFrame:
    return generate_propensity_table(1_500, np.random.default_rng(6)).table


def _propensity_instance(model: Any) -> dict[str, Any]:
    row = _propensity_table().drop(columns="purchased_next_30d").iloc[0].to_dict()
    return {k: (None if isinstance(v, float) and np.isnan(v) else
                v.item() if isinstance(v, np.generic) else v) for k, v in row.items()}


def _tickets_fit(model: Any, folder: Path) -> Any:
    generated = generate_ticket_tables(6, np.random.default_rng(2), n_dmas=8, n_weeks=60)
    write_ticket_tables(generated.tables, folder / "tables", "csv")
    return model.fit(folder / "tables", origin="2020-10-19")


def _tickets_instance(model: Any) -> dict[str, Any]:
    row = model.predict().rows.iloc[0]
    return {"artist_id": str(row["artist_id"]), "dma_id": str(row["dma_id"]),
            "week_start": str(row["week_start"])}


def _streams_fit(model: Any, folder: Path) -> Any:
    generated = generate_ticket_tables(12, np.random.default_rng(3), n_dmas=5, n_weeks=60)
    write_ticket_tables(generated.tables, folder / "tables", "csv")
    return model.fit(folder / "tables", origin="2020-12-14")


CASES: dict[str, Case] = {
    "btyd": Case(lambda: bs.BTYD(draws=200, chains=2, seed=1), _btyd_fit,
                 lambda m: m.predict(horizon=90, seed=2),
                 lambda m: {"customer_id": str(m.run_.rfm.customer_id[0])}),
    "spend": Case(lambda: bs.Spend(draws=200, chains=2, seed=1), _spend_fit, _spend_predict,
                  _spend_instance),
    "propensity": Case(lambda: bs.Propensity(seed=1),
                       lambda m, folder: m.fit(_propensity_table()),
                       lambda m: m.predict(_propensity_table().head(50)),
                       _propensity_instance),
    "tickets": Case(lambda: bs.TicketDemand(artists=4, draws=100, tune=200, chains=2, seed=0),
                    _tickets_fit, lambda m: m.predict(seed=1).rows, _tickets_instance),
    "streams": Case(lambda: bs.StreamingGrowth(draws=100, tune=200, chains=2, seed=0,
                                               backtest_origins=0),
                    _streams_fit, lambda m: m.predict(seed=1),
                    lambda m: {"artist_id": str(m.predict().iloc[0]["artist_id"])}),
}


def test_every_registered_family_is_covered() -> None:
    assert set(REGISTRY) == set(CASES)
    assert {bs.BTYD, bs.Spend, bs.Propensity, bs.TicketDemand,
            bs.StreamingGrowth} == set(REGISTRY.values())


@pytest.fixture(scope="module", params=sorted(CASES))
def fitted(request, tmp_path_factory) -> tuple[str, Any, Path]:
    kind = request.param
    folder = tmp_path_factory.mktemp(f"contract_{kind}")
    case = CASES[kind]
    model = case.make()
    assert case.fit(model, folder) is model  # fit returns self
    return kind, model, folder


@pytest.mark.parametrize("kind", sorted(CASES))
def test_settings_are_keyword_only_and_stored_unchanged(kind: str) -> None:
    family = REGISTRY[kind]
    parameters = list(inspect.signature(family.__init__).parameters.values())[1:]
    assert parameters and all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in parameters)
    given = {p.name: p.default for p in parameters}
    assert family(**given).get_params() == given
    with pytest.raises(TypeError):
        family(1)
    with pytest.raises(bs.BayescopeInputError, match="no setting"):
        family().set_params(not_a_setting=1)


@pytest.mark.parametrize("kind", sorted(CASES))
def test_methods_that_need_a_fit_name_the_class(kind: str, tmp_path: Path) -> None:
    model = REGISTRY[kind]()
    assert not hasattr(model, "idata_")
    with pytest.raises(bs.NotFittedError, match=f"This {type(model).__name__} is not fitted"):
        model.save(tmp_path / "run")
    with pytest.raises(bs.NotFittedError):
        model.report()
    assert not (tmp_path / "run").exists()


def test_fit_save_load_predict_serve_report(fitted) -> None:
    kind, model, folder = fitted
    case = CASES[kind]
    assert isinstance(model.converged_, bool)
    assert set(model.summary_) and isinstance(model.summary_, dict)
    assert az.summary(model.idata_, kind="stats").shape[0] > 0
    run = model.save(folder / "run")
    assert (run / "posterior.nc").is_file() and (run / "summary.json").is_file()
    assert json.loads((run / "summary.json").read_text()) == model.summary_

    loaded = bs.load(run)
    assert type(loaded) is type(model)
    def settings(estimator: Any) -> dict[str, Any]:
        return {k: v for k, v in estimator.get_params().items() if k != "progress"}

    assert settings(loaded) == settings(model)
    pd.testing.assert_frame_equal(case.predict(loaded), case.predict(model))

    client = create_app([run]).test_client()
    listed = client.get("/v1/models").get_json()["models"]
    assert [m["kind"] for m in listed] == [kind]
    response = client.post(f"/v1/models/{run.name}:predict",
                           json={"instances": [case.instance(loaded)]})
    assert response.status_code == 200, response.get_json()
    prediction = response.get_json()["predictions"][0]
    assert all(np.isfinite(v) for k, v in prediction.items()
               if isinstance(v, float) and not k.startswith("uplift"))
    bad = client.post(f"/v1/models/{run.name}:predict?nonsense=1",
                      json={"instances": [case.instance(loaded)]})
    assert bad.status_code == 422 and bad.get_json()["field"] == "nonsense"

    page = loaded.report()
    assert page == run / "report" / "index.html" and page.is_file()
    assert (run / "report" / "metrics.json").is_file()


def test_load_refuses_other_kinds_and_altered_identity(fitted, tmp_path: Path) -> None:
    kind, model, _ = fitted
    run = tmp_path / "run"
    shutil.copytree(model.run_dir_, run)
    other = next(family for k, family in REGISTRY.items() if k != kind)
    with pytest.raises(bs.ArtifactError, match=f"is a {kind} run"):
        other.from_run(run)
    # The stored settings and the identity are checked against each other at load.
    import xarray as xr

    tree = xr.open_datatree(run / "posterior.nc", engine="h5netcdf").load()
    settings = json.loads(tree.attrs["settings"])
    settings["seed"] = int(settings.get("seed", 0)) + 1
    tree.attrs["settings"] = json.dumps(settings, sort_keys=True)
    (run / "posterior.nc").unlink()
    tree.to_netcdf(run / "posterior.nc", engine="h5netcdf")
    with pytest.raises(bs.ArtifactError, match="fingerprint"):
        bs.load(run)
    # Removing the content fingerprint hides nothing: a run without one is refused.
    del tree.attrs["content_fingerprint"]
    (run / "posterior.nc").unlink()
    tree.to_netcdf(run / "posterior.nc", engine="h5netcdf")
    with pytest.raises(bs.ArtifactError, match="no content fingerprint"):
        bs.load(run)
    # Behind it, the stored settings are still checked against the model identity.
    tree.attrs["content_fingerprint"] = content_fingerprint(tree["posterior"].to_dataset(),
                                                            dict(tree.attrs))
    (run / "posterior.nc").unlink()
    tree.to_netcdf(run / "posterior.nc", engine="h5netcdf")
    with pytest.raises(bs.ArtifactError, match="model identity"):
        bs.load(run)


def test_mlflow_model_predicts_what_the_api_serves(fitted, tmp_path: Path, capsys) -> None:
    mlflow = pytest.importorskip("mlflow.pyfunc")
    from bayescope.cli import main

    kind, model, _ = fitted
    instance = CASES[kind].instance(model)
    frame = pd.DataFrame([instance])
    params = {"seed": 4, **({"horizon": "90"} if kind == "btyd" else {})}
    expected = pd.DataFrame(model.served("x").predict(
        [instance], seed=4, options={k: v for k, v in params.items() if k != "seed"}))

    exported = bs.save_mlflow(model, tmp_path / "mlflow")
    pd.testing.assert_frame_equal(mlflow.load_model(str(exported)).predict(frame, params=params),
                                  expected)
    assert main(["export-mlflow", str(model.run_dir_), str(tmp_path / "cli")]) == 0
    served = mlflow.load_model(str(tmp_path / "cli"))
    pd.testing.assert_frame_equal(served.predict(frame, params=params), expected)
    assert main(["export-mlflow", str(model.run_dir_), str(tmp_path / "cli")]) == 2
    assert "exists" in capsys.readouterr().err
    with pytest.raises(bs.BayescopeInputError) as caught:
        served.predict(frame.drop(columns=frame.columns[0]), params=params)
    assert caught.value.field is not None


def test_predictions_have_the_declared_fields_and_types(fitted) -> None:
    from bayescope.families.base import FIELD_TYPES

    kind, model, _ = fitted
    served = model.served("x")
    declared = served.output_types()
    assert set(declared.values()) <= set(FIELD_TYPES)
    assert set(served.outputs()) <= set(declared)
    python_types = {"string": str, "integer": int, "number": (int, float)}
    instances = [CASES[kind].instance(model)]
    if kind == "btyd":  # a summary without an id: its customer_id is null
        summary = {"frequency": 2, "recency": 30.0, "T": 60.0, "monetary_value": 20.0}
        instances.append(summary)
        with pytest.raises(bs.BayescopeInputError, match="customer_id must be a string"):
            served.predict([{**summary, "customer_id": 7}])
    rows = served.predict(instances, seed=1)
    if kind == "btyd":
        assert rows[1]["customer_id"] is None
    for row in rows:
        assert list(row) == list(declared), kind
        for name, value in row.items():
            nullable = declared[name].startswith("nullable ")
            if value is None:
                assert nullable, (kind, name)
                continue
            expected = python_types[declared[name].removeprefix("nullable ")]
            assert isinstance(value, expected) and not isinstance(value, bool), (kind, name)


def _spark_session() -> Any:
    """A one-core local Spark session whose Python workers run this interpreter, or a skip
    where PySpark or Java is missing (the ``spark`` extra; CI has neither)."""
    if shutil.which("java") is None:
        pytest.skip("Spark needs Java")
    sql = pytest.importorskip("pyspark.sql")
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    return (sql.SparkSession.builder.master("local[1]").config("spark.ui.enabled", "false")
            .getOrCreate())


def test_mlflow_model_scores_on_spark(fitted, tmp_path: Path) -> None:
    """``mlflow.pyfunc.spark_udf`` answers with the prediction table as one struct column."""
    mlflow = pytest.importorskip("mlflow.pyfunc")
    spark = _spark_session()
    from pyspark.sql.functions import struct

    kind, model, _ = fitted
    frame = pd.DataFrame([CASES[kind].instance(model)])
    params = {"seed": 4, **({"horizon": "90"} if kind == "btyd" else {})}
    exported = bs.save_mlflow(model, tmp_path / "mlflow")
    expected = mlflow.load_model(str(exported)).predict(frame, params=params)
    udf = mlflow.spark_udf(spark, str(exported), env_manager="local", params=params)
    rows = spark.createDataFrame(frame)
    scored = (rows.withColumn("prediction", udf(struct(*frame.columns)))
              .select("prediction.*").toPandas())
    pd.testing.assert_frame_equal(scored, expected, check_dtype=False)
