"""Flask app factory: health, model listing and schema, predictions, OpenAPI description.

Routes::

    GET  /healthz                      {"status": "ok", "models": N}
    GET  /v1/models                    {"models": [{name, kind, model, trained_at, ...}]}
    GET  /v1/models/<name>             info + input schema + output fields
    POST /v1/models/<name>:predict     {"instances": [...]} -> {"model": {...}, "predictions"}
    POST /predict                      the same for the (first) spend model; also takes a
                                       bare instance or a list, as the PostPilot script sends
    GET  /openapi.json                 OpenAPI 3.1 description

Every error is JSON ``{"error": ..., "field": ..., "index": ...}`` with a 4xx status: 400
malformed JSON or body, 403 a ``Host`` that is not loopback or allowed, 404 unknown model or
route, 405 wrong method, 413 body too large or
too many instances, 422 a missing, mistyped or out-of-range field. An unexpected failure is a
500 with the same shape and no stack trace (and is logged). Models are loaded once, at
start; a request never compiles anything.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException
from werkzeug.routing import BaseConverter

from bayescope.api.served import ServedModel, load_served
from bayescope.errors import BayescopeInputError
from bayescope.families.base import FIELD_TYPES

log = logging.getLogger(__name__)

MAX_INSTANCES = 10_000
MAX_BODY_BYTES = 16 * 1024 * 1024


class ApiError(Exception):
    """An error the client caused, with its HTTP status and the field and index at fault."""

    def __init__(self, status: int, message: str, field: str | None = None,
                 index: int | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.field, self.index = status, message, field, index


LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1", "[::1]")
CLIENT_CLOSED_REQUEST = 499
"""The status logged for a request whose client hung up before it was computed (nginx's)."""


def _refuse_unencodable(value: Any, index: int, field: str | None = None) -> None:
    """A 422 for a string JSON can carry but UTF-8 cannot (a lone surrogate, ``\ud800``), and
    for the ``NaN`` and ``Infinity`` literals Python's JSON reader accepts but JSON has not."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ApiError(422, f"instance {index}: field {field!r} is {value}, not a JSON number",
                       field, index)
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ApiError(422, f"instance {index}: field {field!r} holds a lone surrogate, "
                                "not text", field, index) from exc
    elif isinstance(value, dict):
        for key, item in value.items():
            _refuse_unencodable(key, index, str(key).encode("utf-8", "replace").decode())
            _refuse_unencodable(item, index, str(key).encode("utf-8", "replace").decode())
    elif isinstance(value, list):
        for item in value:
            _refuse_unencodable(item, index, field)


class ModelNameConverter(BaseConverter):
    """A served model's name in a route: no ``/`` and no ``:``, so that
    ``/v1/models/NAME:predict`` matches the predict route alone (a GET there is a 405 that
    allows POST, and OPTIONS lists POST only)."""

    regex = "[^/:]+"


def create_app(run_dirs: Sequence[str | Path], max_instances: int = MAX_INSTANCES,
               max_body_bytes: int = MAX_BODY_BYTES, max_draws: int = 1000,
               allowed_hosts: Sequence[str] = ()) -> Flask:
    """The app serving the runs in ``run_dirs`` (each loaded once, here).

    Requests whose ``Host`` is not a loopback name or one of ``allowed_hosts`` are a 403: a
    web page the user opens cannot reach the server by rebinding its own name to 127.0.0.1.
    """
    models = load_served(run_dirs, max_draws=max_draws)
    hosts = {h.strip("[]").lower() for h in (*LOOPBACK_HOSTS, *allowed_hosts)}
    app = Flask("bayescope")
    app.url_map.converters["model"] = ModelNameConverter
    app.config["MAX_CONTENT_LENGTH"] = max_body_bytes
    app.json.sort_keys = False  # type: ignore[attr-defined]

    def error(status: int, message: str, field: str | None = None,
              index: int | None = None) -> Any:
        return jsonify({"error": message, "field": field, "index": index}), status

    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError) -> Any:
        body, code = error(exc.status, exc.message, exc.field, exc.index)
        return body, code, ({"Allow": "POST"} if exc.status == 405 else {})

    @app.before_request
    def _check_host() -> None:
        name = request.host.rsplit(":", 1)[0] if not request.host.startswith("[") else \
            request.host[1:].split("]")[0]
        if name.lower() not in hosts:
            raise ApiError(403, f"Host {request.host[:60]!r} is not served here (loopback "
                                "names only; serve --allowed-host NAME adds one)", "host")

    @app.errorhandler(BayescopeInputError)
    def _input_error(exc: BayescopeInputError) -> Any:
        return error(422, str(exc), exc.field, exc.rows[0] if exc.rows else None)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Any:
        status = exc.code or 500
        message = {413: f"request body larger than {max_body_bytes} bytes"}.get(
            status, exc.description or exc.name)
        body, code = error(status, message, {413: "body", 405: "method"}.get(status))
        # A 405 names the methods the route takes (RFC 9110, 15.5.6).
        allow = {k: v for k, v in exc.get_headers() if k.lower() == "allow"}
        return body, code, allow

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Any:
        log.exception("unexpected error in %s %s", request.method, request.path)
        return error(500, "internal error: the request could not be completed")

    def model_or_404(name: str) -> ServedModel:
        if name not in models:
            raise ApiError(404, f"unknown model {name!r}; served: {sorted(models)}", "model")
        return models[name]

    def instances_from_body(allow_bare: bool) -> list[Any]:
        try:
            body = request.get_json(silent=True)
        except RecursionError as exc:
            raise ApiError(400, "the JSON body is nested too deeply", "body") from exc
        if body is None:
            raise ApiError(400, "the body must be JSON (Content-Type: application/json)",
                           "body")
        if isinstance(body, dict) and "instances" in body:
            instances = body["instances"]
        elif allow_bare and isinstance(body, list):
            instances = body
        elif allow_bare and isinstance(body, dict):
            instances = [body]
        else:
            raise ApiError(400, 'the body must be {"instances": [...]}', "instances")
        if not isinstance(instances, list) or not instances:
            raise ApiError(400, '"instances" must be a non-empty list', "instances")
        if len(instances) > max_instances:
            raise ApiError(413, f"{len(instances)} instances: at most {max_instances} per "
                                "request", "instances")
        for index, instance in enumerate(instances):
            _refuse_unencodable(instance, index)
        return instances

    def seed_from_query() -> int:
        raw = request.args.get("seed", "0")
        try:
            seed = int(raw)
        except ValueError as exc:
            raise ApiError(400, f"seed must be an integer, got {raw[:40]!r}", "seed") from exc
        if not 0 <= seed < 2**63:
            raise ApiError(400, f"seed must be a non-negative integer, got {seed}", "seed")
        return seed

    def predict(model: ServedModel, allow_bare: bool) -> Any:
        options = {k: v for k, v in request.args.items() if k != "seed"}
        instances = instances_from_body(allow_bare)
        # waitress (with channel_request_lookahead) says whether the client is still there: a
        # request that waited in the queue for a client that has hung up is not computed.
        hung_up = request.environ.get("waitress.client_disconnected")
        if hung_up is not None and hung_up():
            return Response(status=CLIENT_CLOSED_REQUEST)
        predictions = model.predict(instances, seed=seed_from_query(), options=options)
        return jsonify({"model": model.info(), "predictions": predictions})

    @app.get("/healthz")
    def healthz() -> Any:
        return jsonify({"status": "ok", "models": len(models)})

    @app.get("/v1/models")
    def list_models() -> Any:
        return jsonify({"models": [m.info() for m in models.values()]})

    @app.get("/v1/models/<model:name>")
    def describe(name: str) -> Any:
        model = model_or_404(name)
        return jsonify({**model.info(), "input_schema": model.schema(),
                        "outputs": model.outputs(), "max_instances": max_instances})

    @app.post("/v1/models/<model:name>:predict")
    def predict_named(name: str) -> Any:
        return predict(model_or_404(name), allow_bare=False)

    @app.post("/predict")
    def predict_default() -> Any:
        default = [m for m in models.values() if m.default_route]
        if not default:
            raise ApiError(404, "no spend model is served", "model")
        return predict(default[0], allow_bare=True)

    @app.get("/openapi.json")
    def openapi() -> Any:
        return jsonify(openapi_document(models, max_instances))

    return app


def openapi_document(models: dict[str, ServedModel], max_instances: int) -> dict[str, Any]:
    """OpenAPI 3.1 description of the routes and of each served model's instance schema."""
    error_schema = {"type": "object", "properties": {
        "error": {"type": "string"}, "field": {"type": ["string", "null"]},
        "index": {"type": ["integer", "null"]}}}
    errors = {str(code): {"description": text, "content": {"application/json": {
        "schema": {"$ref": "#/components/schemas/Error"}}}}
        for code, text in ((400, "malformed request"), (404, "unknown model"),
                           (413, "too large"), (422, "invalid instance"))}
    errors["403"] = {"description": "Host not served (loopback names and --allowed-host)",
                     "content": {"application/json": {
                         "schema": {"$ref": "#/components/schemas/Error"}}}}
    def json_answer(description: str, schema: dict[str, Any]) -> dict[str, Any]:
        return {"description": description, "content": {"application/json": {
            "schema": schema}}}

    # families.serving.artifact_info; a family adds fields of its own (time unit, draws
    # used, forecast weeks).
    card = {"type": "object", "required": [
        "name", "kind", "model", "bayescope_version", "served_by", "trained_at", "converged",
        "n_customers"], "properties": {
        "name": {"type": "string"}, "kind": {"type": "string"}, "model": {"type": "string"},
        "bayescope_version": {"type": "string"}, "served_by": {"type": "string"},
        "trained_at": {"type": "string"}, "converged": {"type": "boolean"},
        "n_customers": {"type": "integer", "minimum": 0}}}
    description = {"allOf": [{"$ref": "#/components/schemas/ModelCard"}, {
        "type": "object", "required": ["input_schema", "outputs", "max_instances"],
        "properties": {"input_schema": {"type": "object"},
                       "outputs": {"type": "object", "additionalProperties": {
                           "type": "string"}},
                       "max_instances": {"type": "integer", "minimum": 1}}}]}
    card_ref = {"$ref": "#/components/schemas/ModelCard"}
    paths: dict[str, Any] = {
        "/healthz": {"get": {"summary": "liveness", "responses": {"200": json_answer(
            "ok", {"type": "object", "properties": {"status": {"type": "string"},
                                                    "models": {"type": "integer"}}})}}},
        "/v1/models": {"get": {"summary": "served models", "responses": {"200": json_answer(
            "model list", {"type": "object", "properties": {
                "models": {"type": "array", "items": card_ref}}})}}},
        "/openapi.json": {"get": {"summary": "this document", "responses": {
            "200": json_answer("OpenAPI 3.1", {"type": "object"})}}},
    }
    schemas: dict[str, Any] = {"Error": error_schema, "ModelCard": card,
                               "ModelDescription": description}
    seed = {"name": "seed", "in": "query", "required": False,
            "schema": {"type": "integer", "minimum": 0, "maximum": 2**63 - 1}}
    for name, model in models.items():
        schemas[f"{name}_instance"] = model.schema()
        meanings = model.outputs()
        types = model.output_types()
        schemas[f"{name}_prediction"] = {"type": "object", "required": list(types),
                                         "properties": {
            key: {**FIELD_TYPES[kind], "description": meanings.get(key, "from the instance")}
            for key, kind in types.items()}}
        body = {"type": "object", "required": ["instances"], "properties": {"instances": {
            "type": "array", "maxItems": max_instances, "minItems": 1,
            "items": {"$ref": f"#/components/schemas/{name}_instance"}}}}
        answer = {"type": "object", "properties": {
            "model": card_ref, "predictions": {
                "type": "array", "items": {"$ref": f"#/components/schemas/{name}_prediction"}}}}
        operation = {
            "summary": f"predict with {name} ({model.kind})", "parameters": [seed],
            "requestBody": {"required": True,
                            "content": {"application/json": {"schema": body}}},
            "responses": {"200": {"description": "one prediction per instance, in order",
                                  "content": {"application/json": {"schema": answer}}},
                          **errors}}
        paths[f"/v1/models/{name}:predict"] = {"post": operation}
        paths[f"/v1/models/{name}"] = {"get": {
            "summary": f"{name}: model card, input schema, output fields",
            "responses": {"200": json_answer(
                "model card, input schema, output fields",
                {"$ref": "#/components/schemas/ModelDescription"}),
                "404": errors["404"]}}}
        if model.default_route and "/predict" not in paths:
            paths["/predict"] = {"post": {**operation, "summary": f"predict with {name} (the "
                                          "spend route; a bare instance or list also taken)"}}
    for operations in paths.values():  # every route checks Host first
        for operation in operations.values():
            operation["responses"].setdefault("403", errors["403"])
    return {"openapi": "3.1.0", "info": {"title": "bayescope API", "version": "1"},
            "paths": paths, "components": {"schemas": schemas}}
