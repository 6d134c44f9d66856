"""What a new user meets first in the API: `data_mode` on every answer, and a named 404 for an unknown model."""

from __future__ import annotations

from typing import Any

import pytest

from stock_insights.predictors.config import load_registry
from stock_insights_tests.api.helpers import Api, make_user

# Routes whose 2xx JSON answers may go without data_mode, with the reason. None today: even tokens say it.
WITHOUT_DATA_MODE: dict[tuple[str, str], str] = {}


@pytest.fixture(scope="module")
def openapi() -> dict:
    from api.main import create_app

    return create_app(migrate=False).openapi()


def _resolve(schema: dict[str, Any], components: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in schema:
        return _resolve(components[schema["$ref"].split("/")[-1]], components)
    return schema


def _properties(schema: dict[str, Any], components: dict[str, Any]) -> dict[str, Any]:
    schema = _resolve(schema, components)
    props = dict(schema.get("properties", {}))
    for part in schema.get("allOf", []):
        props |= _properties(part, components)
    return props


def test_every_2xx_json_answer_of_every_route_has_data_mode(openapi: dict) -> None:
    components = openapi["components"]["schemas"]
    missing, checked = [], 0
    for path, operations in openapi["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                if not status.startswith("2"):
                    continue
                for media_type, content in response.get("content", {}).items():
                    if "json" not in media_type or (method.upper(), path) in WITHOUT_DATA_MODE:
                        continue
                    checked += 1
                    prop = _properties(content["schema"], components).get("data_mode")
                    if prop is None:
                        missing.append(f"{method.upper()} {path} {status}")
                    else:
                        assert _resolve(prop, components).get("enum") == ["live", "simulated"], (path, prop)
    assert not missing, f"2xx answers without data_mode: {missing}"
    assert checked >= 30  # every JSON answer of the API was looked at


def test_answers_say_their_data_mode(seeded: Api) -> None:
    api = seeded
    user = api.headers_for(make_user(api.url, "u@example.com"), "user")
    analyst = api.headers_for(make_user(api.url, "a@example.com", "analyst"), "analyst")
    admin = api.headers_for(make_user(api.url, "admin@example.com", "admin"), "admin")
    answers = {
        "stock detail": api.client.get("/api/v1/stocks/005930", headers=user),
        "users/me": api.client.get("/api/v1/users/me", headers=user),
        "watchlist": api.client.get("/api/v1/users/me/watchlist", headers=user),
        "watchlist add": api.client.put("/api/v1/users/me/watchlist/005930", headers=user),
        "notifications": api.client.get("/api/v1/notifications", headers=user),
        "experiments": api.client.get("/api/v1/experiments", headers=analyst),
        "users": api.client.get("/api/v1/users", headers=admin),
        "stock removed": api.client.delete("/api/v1/stocks/035420", headers=admin),
    }
    created = api.client.post(
        "/api/v1/experiments", json={"name": "e", "arms": [{"name": "a", "model": "momentum", "weight": 1}]},
        headers=admin,
    )
    answers["experiment started"] = created
    answers["experiment stopped"] = api.client.post(f"/api/v1/experiments/{created.json()['id']}/stop", headers=admin)
    for name, answer in answers.items():
        assert answer.status_code in (200, 201), (name, answer.text)
        assert answer.json()["data_mode"] == "simulated", (name, answer.json())
    detail = answers["stock detail"].json()
    assert detail["code"] == "005930" and detail["last_close"] is not None


def test_an_unknown_model_is_a_404_that_lists_the_known_models(seeded: Api) -> None:
    api = seeded
    headers = api.headers_for(make_user(api.url, "u@example.com"), "user")
    answer = api.client.get("/api/v1/predictions", params={"model": "nonexistent"}, headers=headers)
    assert answer.status_code == 404
    assert answer.headers["content-type"].startswith("application/problem+json")
    body = answer.json()
    registry = {entry.name for entry in load_registry().models}
    # The registry's models (run or not) and those with stored predictions (the seed's "llm").
    assert set(body["known_models"]) == registry | {"momentum", "llm"}
    assert body["status"] == 404 and "nonexistent" in body["detail"] and "momentum" in body["detail"]
    assert body["instance"] == "/api/v1/predictions"
    # A model with stored predictions answers them; a registry model without any yet answers an empty list.
    assert api.client.get("/api/v1/predictions", params={"model": "llm"}, headers=headers).json()["items"]
    quiet = sorted(registry - {"momentum"})[0]
    empty = api.client.get("/api/v1/predictions", params={"model": quiet}, headers=headers)
    assert empty.status_code == 200 and empty.json()["items"] == []
