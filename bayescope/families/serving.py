"""Helpers every family's served model uses: the JSON type check of instances (before the
family's own validation, so the API and the CLI refuse the same things), records, the model
card of ``GET /v1/models``."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from bayescope.errors import BayescopeInputError
from bayescope.version import __version__

MAX_STRING = 256


class StoredMetadata(Protocol):
    """A stored run's attributes and gate verdict (an ``Artifact`` or a BTYD ``LoadedRun``)."""

    attrs: dict[str, Any]

    @property
    def converged(self) -> bool:
        """The stored convergence verdict."""
        ...


def artifact_info(name: str, kind: str, artifact: StoredMetadata) -> dict[str, Any]:
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


def json_number(value: Any) -> Any:
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


def reject_query(options: Mapping[str, str] | None, allowed: Sequence[str] = ()) -> None:
    """One error (422, naming it) for a query parameter the model does not take."""
    unknown = [k for k in (options or {}) if k not in allowed]
    if unknown:
        takes = ", ".join([*allowed, "seed"])
        raise BayescopeInputError(f"unknown query parameter {unknown[0]!r} (this model takes "
                                  f"{takes})", field=unknown[0])


def instance_columns(instances: Sequence[Mapping[str, Any]], schema: Mapping[str, Any]
                     ) -> dict[str, list[Any]]:
    """The instances, checked by :func:`check_types`, as one list per schema property (the
    shape the families' column validation takes)."""
    check_types(instances, schema)
    return {name: [instance[name] for instance in instances] for name in schema["properties"]}
