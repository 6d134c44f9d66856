"""RFC 9457 problem details for every error, validation errors included; no stack trace ever.

Also the OpenAPI side: ``problem_responses(...)`` declares the problem+json answers a route can
give, so that the schema tells the truth (schemathesis checks that it does).
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from sqlalchemy.exc import DataError, IntegrityError
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.core.middleware import allowed_methods
from api.core.outage import DATABASE_ERRORS, unavailable

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
_TITLES = {
    304: "Not Modified",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    413: "Content Too Large",
    415: "Unsupported Media Type",
    422: "Unprocessable Content",
    429: "Too Many Requests",
    500: "Internal Server Error",
    501: "Not Implemented",
    503: "Service Unavailable",
}
_DESCRIPTIONS = {
    400: "The body could not be parsed",
    401: "Missing, expired or invalid bearer token",
    403: "The caller's role does not allow this",
    404: "Not found",
    409: "Conflicts with the current state",
    422: "Invalid parameters or body",
    429: "Too many attempts; retry after the `Retry-After` seconds",
    503: "A backing service is unavailable",
}


class Problem(BaseModel):
    """RFC 9457 problem details."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {
                    "type": "about:blank",
                    "title": "Not Found",
                    "status": 404,
                    "detail": "stock 999999 is not tracked",
                    "instance": "/api/v1/stocks/999999",
                }
            ]
        },
    )

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    instance: str | None = None


class FieldError(BaseModel):
    loc: list[str]
    msg: str
    type: str


class ValidationProblem(Problem):
    errors: list[FieldError]


def _schema(model: type[BaseModel]) -> dict[str, Any]:
    # Inlined (no $ref) so that it does not depend on FastAPI registering the model in components.
    return model.model_json_schema(ref_template="#/components/schemas/{model}")


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for problem+json answers with these statuses."""
    out: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        model = ValidationProblem if status == 422 else Problem
        schema = _schema(model)
        schema.pop("$defs", None)
        if model is ValidationProblem:
            schema["properties"]["errors"] = {"type": "array", "items": _schema(FieldError)}
        entry: dict[str, Any] = {
            "description": _DESCRIPTIONS.get(status, _TITLES.get(status, "Error")),
            "content": {PROBLEM_JSON: {"schema": schema}},
        }
        if status == 429:
            entry["headers"] = {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait"}}
        if status == 401:
            entry["headers"] = {"WWW-Authenticate": {"schema": {"type": "string"}}}
        out[status] = entry
    return out


def problem(status: int, detail: str, *, instance: str | None = None, **extra: Any) -> JSONResponse:
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": _TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
    }
    if instance:
        body["instance"] = instance
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON)


def install(app: FastAPI) -> None:
    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        # A 422 raised by a handler (a rule the schema cannot express) has the same shape as one of
        # request validation, so a client parses one kind of 422.
        extra: dict[str, Any] = {"errors": []} if exc.status_code == 422 else {}
        response = problem(exc.status_code, str(exc.detail), instance=request.url.path, **extra)
        for name, value in (exc.headers or {}).items():
            response.headers[name] = value
        if exc.status_code == 405:
            response.headers["Allow"] = ", ".join(allowed_methods(request.app, request.scope))
        return response

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"loc": [str(p) for p in err.get("loc", ())], "msg": str(err.get("msg", "")), "type": err.get("type", "")}
            for err in exc.errors()
        ]
        return problem(422, "The request has invalid parameters.", instance=request.url.path, errors=errors)

    async def database_unavailable(request: Request, exc: Exception) -> JSONResponse:
        # 503 with Retry-After; logged once per outage, with the driver's reason (SQLite reports SQL errors as
        # OperationalError too, so they are visible), not a traceback per request (api/core/outage.py).
        return unavailable(getattr(request.app.state, "api", None), exc, request.url.path)

    for error in DATABASE_ERRORS:
        app.add_exception_handler(error, database_unavailable)

    @app.exception_handler(IntegrityError)
    async def conflict(request: Request, exc: IntegrityError) -> JSONResponse:
        log.info("integrity conflict on %s %s", request.method, request.url.path)
        return problem(409, "The change conflicts with existing data.", instance=request.url.path)

    @app.exception_handler(DataError)
    async def data_error(request: Request, exc: DataError) -> JSONResponse:
        # Handlers validate inputs first; this is the safety net for a value the database refuses.
        log.warning("database refused a value on %s %s", request.method, request.url.path)
        return problem(422, "A value is out of the accepted range.", instance=request.url.path, errors=[])

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem(500, "An unexpected error occurred.", instance=request.url.path)
