"""Hardening: crafted cursors, lax dates and digits, unbounded bodies, a short Allow, and a schema that says
less than the handlers enforce (issue "Hardening", defects 5 and 8). Every probe of the issue is here."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone

import httpx
import pytest

from stock_insights.storage.types import UTCDateTime
from stock_insights_tests.api.helpers import BAR_DAYS, Api, make_user
from stock_insights_tests.conftest import ServerThread

PROBLEM = "application/problem+json"
# The issue's cursor: ["0001-01-01T00:00:00+14:00", 5], a time that overflows when converted to UTC.
OVERFLOW_CURSOR = "WyIwMDAxLTAxLTAxVDAwOjAwOjAwKzE0OjAwIiwgNV0"


def _cursor(*parts: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(parts)).encode()).decode().rstrip("=")


def _problem(answer: httpx.Response, status: int) -> dict:
    assert answer.status_code == status, (answer.status_code, answer.text)
    assert answer.headers["content-type"] == PROBLEM
    return answer.json()


@pytest.fixture
def user(seeded: Api) -> dict[str, str]:
    return seeded.headers_for(make_user(seeded.url, "probe@example.com"), "user")


@pytest.mark.parametrize("path", ["/api/v1/news", "/api/v1/notifications"])
def test_the_issues_overflowing_cursor_is_a_422(seeded: Api, user: dict[str, str], path: str) -> None:
    body = _problem(seeded.client.get(path, params={"cursor": OVERFLOW_CURSOR}, headers=user), 422)
    assert "cursor" in body["detail"]


BAD_CURSORS = {
    "/api/v1/news": [
        _cursor("9999-12-31T23:59:59-14:00", 5),  # overflows the other way
        _cursor("0001-01-01T00:00:00+00:00", 5),  # representable, but not a time the API serves
        _cursor("2026-10-20T09:00:00", 5),  # naive
        _cursor("٢٠٢٦-10-20T09:00:00+00:00", 5),  # Arabic-Indic digits: fromisoformat would take them
        _cursor(1_700_000_000, 5),  # a number for a time
        _cursor("2026-10-20T09:00:00+00:00", -1),
        _cursor("2026-10-20T09:00:00+00:00", True),
        _cursor("2026-10-20T09:00:00+00:00"),
        _cursor({"a": 1}),
        "WyJ4Il0",
        "W" + "A" * 150,
    ],
    "/api/v1/notifications": [_cursor("9999-12-31T23:59:59-14:00", 5), _cursor("0001-01-01T00:00:00+14:00", 2**63)],
    "/api/v1/disclosures": [
        _cursor("0001-01-01", "x"),
        _cursor("2026-13-01", "x"),
        _cursor("2026-10-20T00:00:00", "x"),
    ],
    "/api/v1/predictions": [_cursor("2026-10-10", "005930", "llm", "0001-01-01T00:00:00+14:00", 1)],
    "/api/v1/stocks": [_cursor(5)],
    "/api/v1/users": [_cursor("1")],
}


@pytest.mark.parametrize("path", sorted(BAD_CURSORS))
def test_every_cursor_is_validated(seeded: Api, path: str) -> None:
    admin = seeded.headers_for(make_user(seeded.url, "cursors@example.com", "admin"), "admin")
    for cursor in BAD_CURSORS[path]:
        answer = seeded.client.get(path, params={"cursor": cursor}, headers=admin)
        _problem(answer, 422)


def test_the_storage_type_refuses_an_overflowing_time_instead_of_crashing() -> None:
    column = UTCDateTime()

    class Dialect:
        name = "postgresql"

    with pytest.raises(ValueError, match="out of the representable range"):
        column.process_bind_param(datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=14))), Dialect())
    assert column.process_bind_param(datetime(2026, 1, 1, 9, tzinfo=timezone(timedelta(hours=9))), Dialect()) == (
        datetime(2026, 1, 1, tzinfo=UTC)
    )


LAX_INPUTS = [
    ("/api/v1/news", {"since": "0"}),
    ("/api/v1/news", {"since": "-4231"}),
    ("/api/v1/news", {"since": "1700000000.5"}),
    ("/api/v1/search", {"q": "삼성", "before": "-4231"}),
    ("/api/v1/search", {"q": "삼성", "before": "0"}),
    ("/api/v1/disclosures", {"since": "0"}),
    ("/api/v1/disclosures", {"since": "2026-10-12T00:00:00"}),
    ("/api/v1/predictions", {"date": "2026-10-12T00:00:00"}),
    ("/api/v1/predictions", {"date": "20261012"}),
    ("/api/v1/stocks/005930/prices", {"start": "0", "end": "2026-10-31"}),
    ("/api/v1/evaluations/leaderboard", {"date": "2026-10-12T00:00:00"}),
    ("/api/v1/news", {"code": "٠٠٥٩٣٠"}),
    ("/api/v1/search", {"q": "삼성", "code": "٠٠٥٩٣٠"}),
    ("/api/v1/predictions", {"code": "٠٠٥٩٣٠"}),
    ("/api/v1/disclosures", {"code": "٠٠٥٩٣٠"}),
    ("/api/v1/stocks/005930/financials", {"period": "٢٠٢٦٠٦"}),
]


@pytest.mark.parametrize(("path", "params"), LAX_INPUTS)
def test_numbers_datetimes_and_other_digits_are_not_dates_or_codes(
    seeded: Api, user: dict[str, str], path: str, params: dict[str, str]
) -> None:
    _problem(seeded.client.get(path, params=params, headers=user), 422)


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/reports/daily/2026-12-04T00:00:00",
        "/api/v1/reports/daily/٢٠٢٦-١٢-٠٤",
        "/api/v1/stocks/٠٠٥٩٣٠",
        "/api/v1/stocks/٠٠٥٩٣٠/prices",
    ],
)
def test_path_dates_and_codes_are_strict(seeded: Api, user: dict[str, str], path: str) -> None:
    _problem(seeded.client.get(path, headers=user), 422)


def test_the_written_forms_the_schema_states_still_work(seeded: Api, user: dict[str, str]) -> None:
    client = seeded.client
    for path, params in [
        ("/api/v1/news", {"since": "2026-10-20T05:00:00+00:00"}),
        ("/api/v1/news", {"since": "2026-10-20T05:00:00Z"}),
        ("/api/v1/news", {"since": "2026-10-20"}),
        ("/api/v1/search", {"q": "삼성", "before": "2026-10-20T00:00:00Z"}),
        ("/api/v1/disclosures", {"since": "2026-10-12"}),
        ("/api/v1/stocks/005930/prices", {"start": "2026-10-01", "end": "2026-10-31"}),
    ]:
        answer = client.get(path, params=params, headers=user)
        assert answer.status_code == 200, (path, params, answer.text)
    report = client.get(f"/api/v1/reports/daily/{BAR_DAYS[-1].isoformat()}", headers=user)
    assert report.status_code == 200, report.text


def test_cross_field_rules_are_validation_errors_the_schema_describes(seeded: Api) -> None:
    client = seeded.client
    admin = seeded.headers_for(make_user(seeded.url, "rules@example.com", "admin"), "admin")
    for params in [
        {"start": "2026-10-31", "end": "2026-10-01"},
        {"start": "2000-01-01", "end": "2026-10-01"},
        {"interval": "1m", "start": "2026-10-01"},
        {"interval": "1d", "date": "2026-10-01"},
    ]:
        body = _problem(client.get("/api/v1/stocks/005930/prices", params=params, headers=admin), 422)
        assert body["errors"], params  # a validation error with its reason, not a bare handler 422
    arms = [{"name": "a", "model": "momentum", "weight": 1}, {"name": "a", "model": "llm", "weight": 1}]
    body = _problem(client.post("/api/v1/experiments", json={"name": "dup", "arms": arms}, headers=admin), 422)
    assert any("unique" in e["msg"] for e in body["errors"])

    openapi = client.get("/openapi.json").json()
    prices = {p["name"]: p for p in openapi["paths"]["/api/v1/stocks/{code}/prices"]["get"]["parameters"]}
    assert "not after end" in prices["start"]["description"] and "1d only" in prices["end"]["description"]
    assert "1m only" in prices["date"]["description"]
    experiment = openapi["components"]["schemas"]["ExperimentIn"]["properties"]["arms"]
    assert "unique" in experiment["description"]


def _parameters(openapi: dict) -> Iterator[tuple[str, dict]]:
    for path, operations in openapi["paths"].items():
        for method, operation in operations.items():
            for parameter in operation.get("parameters", []):
                schema = parameter["schema"]
                for option in schema.get("anyOf", [schema]):
                    if option.get("type") != "null":
                        yield f"{method.upper()} {path} {parameter['name']}", option


def test_the_openapi_document_states_the_rules(seeded: Api) -> None:
    openapi = seeded.client.get("/openapi.json").json()
    params = dict(_parameters(openapi))
    date_params = [
        "GET /api/v1/reports/daily/{date} date",
        "GET /api/v1/disclosures since",
        "GET /api/v1/predictions date",
        "GET /api/v1/stocks/{code}/prices start",
        "GET /api/v1/evaluations/leaderboard date",
    ]
    for label in date_params:
        schema = params[label]
        assert schema["format"] == "date" and schema["type"] == "string", label
        assert re.fullmatch(schema["pattern"], "2026-12-04") and not re.fullmatch(schema["pattern"], "0"), label
        assert not re.fullmatch(schema["pattern"], "2026-12-04T00:00:00"), label
        assert not re.fullmatch(schema["pattern"], "0001-01-01"), label  # the range is in the pattern
    for label in ["GET /api/v1/news since", "GET /api/v1/search before"]:
        schema = params[label]
        assert schema["format"] == "date-time", label
        assert re.fullmatch(schema["pattern"], "2026-12-04T09:00:00+09:00") and not re.fullmatch(schema["pattern"], "0")
    for label in ["GET /api/v1/news cursor", "GET /api/v1/notifications cursor", "GET /api/v1/users cursor"]:
        assert params[label]["pattern"].startswith("^W") and params[label]["maxLength"] == 200, label
    # Patterns use ASCII classes only: \d (and \w) match every script's digits in the server's regex engine.
    patterns = [(label, s["pattern"]) for label, s in params.items() if "pattern" in s]
    assert len(patterns) >= 15
    assert [label for label, pattern in patterns if "\\d" in pattern or "\\w" in pattern] == []
    body_patterns = re.findall(r'"pattern":\s*"([^"]*)"', json.dumps(openapi["components"]["schemas"]))
    assert body_patterns and not [p for p in body_patterns if "\\\\d" in p or "\\\\w" in p]


def test_bodies_are_capped_with_a_413_problem(api: Api) -> None:
    client = api.client
    big = {"email": "big@example.com", "password": "correct-horse-battery", "pad": "y" * 10_000_000}
    body = _problem(client.post("/api/v1/auth/register", json=big), 413)
    assert "65536" in body["detail"]
    form = {"username": "big@example.com", "password": "x" * 100_000}
    _problem(client.post("/api/v1/auth/token", data=form), 413)
    # Without a Content-Length (chunked): counted as it arrives.

    def chunks() -> Iterator[bytes]:
        yield b'{"email": "chunked@example.com", "password": "correct-horse-battery", "pad": "'
        for _ in range(100):
            yield b"y" * 1024
        yield b'"}'

    answer = client.post("/api/v1/auth/register", content=chunks(), headers={"Content-Type": "application/json"})
    _problem(answer, 413)
    # A body under the cap goes through.
    ok = client.post("/api/v1/auth/register", json={"email": "small@example.com", "password": "correct-horse-battery"})
    assert ok.status_code == 201, ok.text


def test_a_huge_body_over_real_http_is_refused_without_reading_it(
    monkeypatch: pytest.MonkeyPatch, database_url: str
) -> None:
    from api.main import create_app
    from stock_insights_tests.api.helpers import set_api_env

    set_api_env(monkeypatch, database_url)
    monkeypatch.setenv("API_MAX_BODY_BYTES", "4096")
    from stock_insights.settings import reset_settings_cache

    reset_settings_cache()
    with ServerThread(create_app()) as server, httpx.Client(base_url=server.url) as client:
        answer = client.post("/api/v1/auth/register", json={"email": "x@example.com", "password": "p" * 5000})
        body = _problem(answer, 413)
        assert "4096" in body["detail"]
        fine = client.post("/api/v1/auth/register", json={"email": "x@example.com", "password": "p" * 100})
        assert fine.status_code == 201, fine.text


def test_a_405_lists_every_method_of_the_path(seeded: Api, user: dict[str, str]) -> None:
    client = seeded.client
    cases = {
        "/api/v1/stocks": "GET, POST",
        "/api/v1/users/me/watchlist/005930": "PUT, DELETE",
        "/api/v1/news": "GET",
        "/api/v1/experiments": "GET, POST",
    }
    for path, methods in cases.items():
        answer = client.options(path, headers=user)
        _problem(answer, 405)
        assert sorted(answer.headers["allow"].split(", ")) == sorted(methods.split(", ")), (path, answer.headers)
    answer = client.patch("/api/v1/stocks", headers=user)
    assert sorted(answer.headers["allow"].split(", ")) == ["GET", "POST"]
