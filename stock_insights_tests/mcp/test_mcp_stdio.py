"""The MCP server over stdio (``python -m api.mcp`` as a subprocess), driven by the SDK's stdio client."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import anyio

from stock_insights_tests.mcp.conftest import ROOT, Site, answer_of, error_of, stdio_client
from stock_insights_tests.mcp.test_mcp_http import TOOLS


def test_stdio_lists_and_calls_tools_and_refuses_a_revoked_key(site: Site) -> None:
    token = site.login("user@example.com")
    created = site.create_key(token)

    async def run() -> tuple[set[str], dict, dict, str, str]:
        async with stdio_client(site.database_url, created["key"]) as client:
            names = {t.name for t in (await client.list_tools()).tools}
            found = answer_of(await client.call_tool("find_stock", {"query": "Samsung"}))
            forecasts = answer_of(await client.call_tool("forecasts", {"code": "000660", "model": "llm", "limit": 2}))
            experiments = error_of(await client.call_tool("experiments", {}))  # a plain user's key
            assert site.revoke_key(token, created["id"]).status_code == 204
            revoked = error_of(await client.call_tool("find_stock", {"query": "Samsung"}))
            return names, found, forecasts, experiments, revoked

    names, found, forecasts, experiments, revoked = anyio.run(run)
    assert names == TOOLS
    assert found["data_mode"] == "simulated" and found["as_of"]
    assert found["items"][0]["code"] == "005930" and found["items"][0]["name_en"] == "Samsung Electronics"
    assert [f["code"] for f in forecasts["items"]] == ["000660", "000660"] and forecasts["more"] is True
    assert "analyst role" in experiments
    assert "invalid or revoked" in revoked


def test_stdio_without_a_key_refuses_to_start(tmp_path: Path) -> None:
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'none.db'}", "MCP_API_KEY": "", "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-m", "api.mcp"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, input=""
    )
    assert done.returncode == 2 and "MCP_API_KEY" in done.stderr and done.stdout == ""
