"""MCP test fixtures: the API (with /mcp) under uvicorn on a free port over a seeded database of each backend,
accounts of each role, and the SDK's own clients (Streamable HTTP and stdio)."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import httpx2
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.types import CallToolResult

from stock_insights.settings import reset_settings_cache
from stock_insights_tests.api.helpers import PASSWORD, make_user, seed, set_api_env
from stock_insights_tests.conftest import ServerThread

ROOT = Path(__file__).resolve().parents[2]
JWT_SECRET = "mcp-tests-signing-key-0123456789abcdef0123456789"


@dataclass
class Site:
    url: str  # the API, e.g. http://127.0.0.1:PORT
    database_url: str
    rest: httpx.Client

    def login(self, email: str) -> str:
        answer = self.rest.post("/api/v1/auth/token", data={"username": email, "password": PASSWORD})
        assert answer.status_code == 200, answer.text
        return answer.json()["access_token"]

    def create_key(self, token: str, name: str = "assistant") -> dict[str, Any]:
        answer = self.rest.post(
            "/api/v1/users/me/api-keys", json={"name": name}, headers={"Authorization": f"Bearer {token}"}
        )
        assert answer.status_code == 201, answer.text
        return answer.json()

    def revoke_key(self, token: str, key_id: int) -> httpx.Response:
        return self.rest.delete(f"/api/v1/users/me/api-keys/{key_id}", headers={"Authorization": f"Bearer {token}"})


@pytest.fixture
def site(monkeypatch: pytest.MonkeyPatch, database_url: str) -> Iterator[Site]:
    from api.main import create_app

    set_api_env(monkeypatch, database_url)
    monkeypatch.setenv("API_JWT_SECRET", JWT_SECRET)
    reset_settings_cache()
    with ServerThread(create_app()) as server:  # the lifespan migrates the database
        seed(database_url)
        for email, role in (("analyst@example.com", "analyst"), ("user@example.com", "user")):
            make_user(database_url, email, role)
        with httpx.Client(base_url=server.url, timeout=30) as rest:
            yield Site(url=server.url, database_url=database_url, rest=rest)
    reset_settings_cache()


@asynccontextmanager
async def http_client(site: Site, credential: str | None) -> AsyncIterator[Client]:
    """The SDK's client over Streamable HTTP at /mcp, sending ``credential`` as the bearer."""
    headers = {"Authorization": f"Bearer {credential}"} if credential else {}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=30) as http,
        Client(streamable_http_client(f"{site.url}/mcp", http_client=http), cache=None) as client,
    ):
        yield client


@asynccontextmanager
async def stdio_client(database_url: str, key: str) -> AsyncIterator[Client]:
    """The SDK's client over stdio: ``python -m api.mcp`` as a subprocess acting with ``key``."""
    env = {
        "DATABASE_URL": database_url,
        "MCP_API_KEY": key,
        "REDIS_URL": "",
        "DATA_MODE": "simulated",
        "MILVUS_URI": os.environ.get("MILVUS_URI", "http://127.0.0.1:9"),
        "API_JWT_SECRET": JWT_SECRET,
    }
    params = StdioServerParameters(command=sys.executable, args=["-m", "api.mcp"], env=env, cwd=ROOT)
    async with Client(params, cache=None) as client:
        yield client


def answer_of(result: CallToolResult) -> dict[str, Any]:
    """The JSON object of a successful tool answer (its text content, which equals its structured content)."""
    assert not result.is_error, result.content
    (content,) = result.content
    body = json.loads(content.text)  # type: ignore[union-attr]
    assert body == result.structured_content
    return body


def error_of(result: CallToolResult) -> str:
    assert result.is_error
    return " ".join(getattr(c, "text", "") for c in result.content)
