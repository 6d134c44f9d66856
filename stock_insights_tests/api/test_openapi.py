"""The OpenAPI schema is a truthful contract: examples everywhere, valid examples, problem+json errors."""

from __future__ import annotations

import inspect

import pytest
from pydantic import BaseModel

import api.schemas as schemas


@pytest.fixture(scope="module")
def openapi() -> dict:
    from api.main import create_app

    return create_app(migrate=False).openapi()


def test_every_answer_has_a_model_with_an_example_and_errors_are_problems(openapi: dict) -> None:
    components = openapi["components"]["schemas"]
    for path, operations in openapi["paths"].items():
        for method, operation in operations.items():
            label = f"{method.upper()} {path}"
            for status, response in operation["responses"].items():
                content = response.get("content", {})
                if status.startswith("2") and content:
                    ref = content["application/json"]["schema"]["$ref"].split("/")[-1]
                    component = components[ref]
                    assert "example" in component or "examples" in component, f"{label}: {ref} has no example"
                # Readiness answers 503 with its report (which dependency is down), not a problem.
                if status.startswith(("4", "5")) and path != "/health/ready":
                    assert list(content) == ["application/problem+json"], f"{label} {status}"
            if path.startswith("/api/v1/") and not path.startswith("/api/v1/auth/"):
                assert operation.get("security") == [{"OAuth2PasswordBearer": []}], label
                assert {"401", "403"} <= set(operation["responses"]), label
    assert "HTTPValidationError" not in components  # 422s are problem+json, not FastAPI's default


def test_examples_are_valid_instances_of_their_models() -> None:
    checked = 0
    for _, model in inspect.getmembers(schemas, inspect.isclass):
        if not issubclass(model, BaseModel) or model.__module__ != schemas.__name__:
            continue
        extra = model.model_config.get("json_schema_extra") or {}
        examples = extra.get("examples", []) + ([extra["example"]] if "example" in extra else [])
        for example in examples:
            model.model_validate(example)
            checked += 1
    assert checked >= 25
