"""Models as the API serves them: loaded once, described by a schema, predicting in NumPy.

A :class:`ServedModel` knows its name, kind, metadata, the input schema of one instance, and
turns a list of JSON instances into predictions, each with ``mean``, ``median``, ``low``,
``high`` (90%) and the model's extras. Input goes through the same validation as files
(:func:`bayescope.data.campaign_spend.validate_campaign_columns`), after a JSON type check, so
the API and the CLI refuse the same things; errors name the field and the instance index.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from bayescope import __version__
from bayescope.data.campaign_spend import CAMPAIGNS, FEATURE_RULES, validate_campaign_columns
from bayescope.data.propensity_table import CATEGORICAL, validate_propensity_columns
from bayescope.data.propensity_table import NUMERIC as PROPENSITY_NUMERIC
from bayescope.errors import BayescopeInputError
from bayescope.inference.artifacts import Artifact, load_artifact
from bayescope.inference.predictive import n_draws
from bayescope.propensity import (
    PropensityRun,
    PropensityScorer,
    load_propensity_run,
    score_run,
)
from bayescope.spend import SpendRun, load_spend_run, predict_spend_run
from bayescope.tickets import TicketsRun, load_tickets_run, thinned_posterior

log = logging.getLogger(__name__)


@dataclass
class ServedSpendModel:
    """The hurdle spend model behind ``/v1/models/<name>:predict`` and ``/predict``."""

    name: str
    run: SpendRun
    run_dir: Path
    max_draws: int = 1000

    @property
    def kind(self) -> str:
        """Model family."""
        return "spend"

    def info(self) -> dict[str, Any]:
        """Name, kind, versions, training time and gate verdict."""
        stored = n_draws(self.run.artifact.posterior)
        return {**artifact_info(self.name, self.kind, self.run.artifact),
                "draws_used": min(stored, self.max_draws)}

    def schema(self) -> dict[str, Any]:
        """JSON schema of one instance (also used in the OpenAPI description)."""
        properties: dict[str, Any] = {
            "customer_id": {"type": "string", "minLength": 1},
            "campaign_id": {"type": "string", "enum": list(CAMPAIGNS)},
            "campaign_send_date": {"type": "string", "format": "date"},
        }
        for column, rule in FEATURE_RULES.items():
            spec: dict[str, Any] = {"type": "integer" if rule.integer else "number",
                                    "description": f"must be {rule.describe()}"}
            if rule.low > float("-inf"):
                spec["minimum"] = rule.low
            if rule.high < float("inf"):
                spec["maximum"] = rule.high
            properties[column] = spec
        return {"type": "object", "required": list(properties), "properties": properties}

    def outputs(self) -> dict[str, str]:
        """What each prediction field means."""
        return {
            "mean": "posterior mean of the expected 30-day spend",
            "median": "median of the posterior-predictive spend",
            "low": "5% quantile of the posterior-predictive spend",
            "high": "95% quantile of the posterior-predictive spend",
            "p_positive": "posterior mean of P(spend > 0)",
            "uplift_mean": "expected spend if mailed minus if not (posterior mean)",
            "uplift_low": "5% quantile of the uplift", "uplift_high": "95% quantile",
        }

    def predict(self, instances: Sequence[Mapping[str, Any]], seed: int = 0
                ) -> list[dict[str, Any]]:
        """Predictions for validated instances, in order."""
        check_types(instances, self.schema())
        columns = {name: [instance[name] for instance in instances]
                   for name in self.schema()["properties"]}
        table = validate_campaign_columns(columns, require_target=False, row_offset=0)
        frame = predict_spend_run(self.run, table, seed=seed, max_draws=self.max_draws,
                                  warn=False)
        names = {"customer_id": "customer_id", "mean": "spend_mean",
                 "median": "spend_median", "low": "spend_low", "high": "spend_high",
                 "p_positive": "p_positive", "uplift_mean": "uplift_mean",
                 "uplift_low": "uplift_low", "uplift_high": "uplift_high"}
        return records({key: [_json_number(v) for v in frame[column].tolist()]
                        for key, column in names.items()})


MAX_STRING = 256


def artifact_info(name: str, kind: str, artifact: Artifact) -> dict[str, Any]:
    """What ``GET /v1/models`` says of a served run: name, kind, versions, training, gate."""
    attrs = artifact.attrs
    return {"name": name, "kind": kind, "model": str(attrs["model"]),
            "bayescope_version": str(attrs["bayescope_version"]), "served_by": __version__,
            "trained_at": str(attrs.get("created_at", "")), "converged": artifact.converged,
            "n_customers": int(attrs.get("n_customers", 0))}


def records(columns: Mapping[str, list[Any]]) -> list[dict[str, Any]]:
    """Column lists to one JSON object per row, in order."""
    return [dict(zip(columns, values, strict=True))
            for values in zip(*columns.values(), strict=True)]


def _json_number(value: Any) -> Any:
    """JSON has no NaN or Infinity: a missing value (e.g. an unidentified uplift) is null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def check_types(instances: Sequence[Mapping[str, Any]], schema: Mapping[str, Any]) -> None:
    """JSON-level checks: each instance an object with every required field of the right type."""
    properties = schema["properties"]
    for index, instance in enumerate(instances):
        if not isinstance(instance, Mapping):
            raise BayescopeInputError(f"instance {index} is not a JSON object",
                                      field="instances", rows=[index])
        for field_name, spec in properties.items():
            types = spec["type"] if isinstance(spec["type"], list) else [spec["type"]]
            if field_name not in instance or (instance[field_name] is None
                                              and "null" not in types):
                raise BayescopeInputError(f"instance {index} lacks field {field_name!r}",
                                          field=field_name, rows=[index])
            value = instance[field_name]
            kind = types[0]
            if value is None:
                continue
            if kind == "string":
                ok = isinstance(value, str)
                if ok and len(value) > MAX_STRING:
                    raise BayescopeInputError(
                        f"field {field_name!r} of instance {index} is longer than {MAX_STRING} "
                        "characters", field=field_name, rows=[index])
            elif kind == "integer":
                ok = (isinstance(value, int) and not isinstance(value, bool)) or (
                    isinstance(value, float) and value.is_integer())
            else:
                ok = isinstance(value, int | float) and not isinstance(value, bool)
            if not ok:
                raise BayescopeInputError(
                    f"field {field_name!r} of instance {index} must be a JSON "
                    f"{kind}, got {type(value).__name__} {repr(value)[:40]}",
                    field=field_name, rows=[index])


class ServedModel(Protocol):
    """What the app needs of a served model, whatever its family."""

    name: str

    @property
    def kind(self) -> str:
        """Model family."""
        ...

    def info(self) -> dict[str, Any]:
        """Name, kind, versions, training time, gate verdict."""
        ...

    def schema(self) -> dict[str, Any]:
        """JSON schema of one instance."""
        ...

    def outputs(self) -> dict[str, str]:
        """What each prediction field means."""
        ...

    def predict(self, instances: Sequence[Mapping[str, Any]], seed: int = 0
                ) -> list[dict[str, Any]]:
        """Predictions for the instances, in order."""
        ...


@dataclass
class ServedPropensityModel:
    """The purchase-propensity model (with its segments) behind the same routes."""

    name: str
    run: PropensityRun
    run_dir: Path
    scorer: PropensityScorer = field(init=False)

    def __post_init__(self) -> None:
        self.scorer = PropensityScorer.from_run(self.run)

    @property
    def kind(self) -> str:
        """Model family."""
        return "propensity"

    def info(self) -> dict[str, Any]:
        """Name, kind, versions, training time and gate verdict."""
        return artifact_info(self.name, self.kind, self.run.artifact)

    def schema(self) -> dict[str, Any]:
        """JSON schema of one instance: null allowed exactly where the brief allows it."""
        properties: dict[str, Any] = {"customer_id": {"type": "string", "minLength": 1}}
        for column in CATEGORICAL:
            properties[column] = {"type": ["string", "null"]}
        for column, rule in PROPENSITY_NUMERIC.items():
            kind = "integer" if rule.integer else "number"
            properties[column] = {"type": [kind, "null"] if rule.missing_allowed else kind,
                                  "minimum": rule.low, "maximum": rule.high,
                                  "description": f"must be {rule.describe()}"}
        return {"type": "object", "required": list(properties), "properties": properties}

    def outputs(self) -> dict[str, str]:
        """What each prediction field means."""
        return {"mean": "posterior mean of P(purchase in the next 30 days)",
                "median": "posterior median of that probability",
                "low": "5% posterior quantile", "high": "95% posterior quantile",
                "segment": "segment number", "segment_name": "segment in plain words"}

    def predict(self, instances: Sequence[Mapping[str, Any]], seed: int = 0
                ) -> list[dict[str, Any]]:
        """Probabilities and segments (``seed`` is unused: the summaries are exact)."""
        check_types(instances, self.schema())
        columns = {name: [instance[name] for instance in instances]
                   for name in self.schema()["properties"]}
        validated = validate_propensity_columns(columns, require_target=False, row_offset=0)
        frame, _ = score_run(self.scorer, validated)
        columns_out = {"customer_id": frame["customer_id"].tolist(),
                       "mean": frame["p_mean"].tolist(), "median": frame["p_median"].tolist(),
                       "low": frame["p_low"].tolist(), "high": frame["p_high"].tolist(),
                       "segment": frame["segment"].astype(int).tolist(),
                       "segment_name": frame["segment_name"].tolist()}
        return records(columns_out)


@dataclass
class ServedTicketsModel:
    """A ticket-demand run: forecasts of its artist x DMA x week rows (the weeks after its
    origin, fixed at fit time), simulated per request from the stored draws.

    The draws are thinned to ``max_draws`` once, at load (seed 0), not per request: the pair
    effects alone are about 50 MB per 1,000 draws, and copying them for every request cost
    more than the simulation. A request's seed drives the predictive simulation.
    """

    name: str
    run: TicketsRun
    run_dir: Path
    max_draws: int = 1000
    _rows: dict[tuple[str, str, str], int] = field(init=False, repr=False)
    _params: dict[str, np.ndarray] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.simulator = self.run.simulator()
        self._params = thinned_posterior(self.run, self.max_draws, np.random.default_rng(0))
        panel = self.simulator.panel
        weeks = panel.weeks[panel.week].strftime("%Y-%m-%d")
        self._rows = {(str(a), str(d), w): i for i, (a, d, w) in enumerate(zip(
            panel.artists[panel.artist], panel.dmas[panel.dma], weeks, strict=True))}
        self._weeks = sorted(set(weeks))
        self._known = {"artist_id": {str(a) for a in panel.artists},
                       "dma_id": {str(d) for d in panel.dmas}, "week_start": set(self._weeks)}

    @property
    def kind(self) -> str:
        """Model family."""
        return "tickets"

    def info(self) -> dict[str, Any]:
        """Name, kind, versions, training time, gate verdict and the weeks it forecasts."""
        return {**artifact_info(self.name, self.kind, self.run.artifact),
                "origin": str(self.run.artifact.attrs["origin"]),
                "forecast_weeks": self._weeks, "draws_used": n_draws(self._params)}

    def schema(self) -> dict[str, Any]:
        """JSON schema of one instance: an artist, a DMA and one of the forecast weeks."""
        properties: dict[str, Any] = {
            "artist_id": {"type": "string", "minLength": 1},
            "dma_id": {"type": "string", "minLength": 1},
            "week_start": {"type": "string", "format": "date", "enum": self._weeks}}
        return {"type": "object", "required": list(properties), "properties": properties}

    def outputs(self) -> dict[str, str]:
        """What each prediction field means."""
        return {"mean": "posterior-predictive mean of the week's tickets",
                "median": "its median", "low": "its 5% quantile", "high": "its 95% quantile",
                "order_value_mean": "posterior-predictive mean order value",
                "order_value_low": "5% quantile", "order_value_high": "95% quantile"}

    def predict(self, instances: Sequence[Mapping[str, Any]], seed: int = 0
                ) -> list[dict[str, Any]]:
        """Forecasts for the instances, in order (one simulation, ``seed`` as given)."""
        check_types(instances, self.schema())
        index = np.empty(len(instances), dtype=int)
        for k, instance in enumerate(instances):
            key = (instance["artist_id"], instance["dma_id"], instance["week_start"])
            for field_name, known in self._known.items():
                if instance[field_name] not in known:
                    listed = self._weeks if field_name == "week_start" else None
                    raise BayescopeInputError(
                        f"instance {k}: {field_name} {instance[field_name]!r} is not in this "
                        "run" + (f" (it forecasts {', '.join(listed)})" if listed else ""),
                        field=field_name, rows=[k])
            index[k] = self._rows[key]
        rng = np.random.default_rng(seed)
        draws = self.simulator.simulate(self._params, index, rng)
        tickets, value = draws["tickets"], draws["order_value"]
        low, median, high = np.quantile(tickets, [0.05, 0.5, 0.95], axis=0)
        value_low, value_high = np.quantile(value, [0.05, 0.95], axis=0)
        return records({
            "artist_id": [i["artist_id"] for i in instances],
            "dma_id": [i["dma_id"] for i in instances],
            "week_start": [i["week_start"] for i in instances],
            "mean": tickets.mean(axis=0).tolist(), "median": median.tolist(),
            "low": low.tolist(), "high": high.tolist(),
            "order_value_mean": value.mean(axis=0).tolist(),
            "order_value_low": value_low.tolist(), "order_value_high": value_high.tolist()})


def load_served(run_dirs: Sequence[str | Path], max_draws: int = 1000
                ) -> dict[str, ServedModel]:
    """Load every run once; the model's name is its run directory's name (made unique)."""
    if max_draws < 1:
        raise BayescopeInputError(f"max_draws must be at least 1, not {max_draws}",
                                  field="max_draws")
    served: dict[str, ServedModel] = {}
    for run_dir in run_dirs:
        path = Path(run_dir)
        name = path.resolve().name
        while name in served:
            name += "_2"
        model: ServedModel
        artifact = load_artifact(path)
        if artifact.kind == "propensity":
            model = ServedPropensityModel(name, load_propensity_run(path, artifact), path)
        elif artifact.kind == "tickets":
            model = ServedTicketsModel(name, load_tickets_run(path, artifact), path, max_draws)
        else:
            model = ServedSpendModel(name, load_spend_run(path, artifact), path, max_draws)
        served[name] = model
        if not model.info()["converged"]:
            log.warning("model %s FAILED its convergence gate: it is served, but its "
                        "predictions deserve suspicion", name)
    return served
