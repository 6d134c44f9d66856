"""``python -m api.mcp``: the MCP server over stdio, for a local assistant.

It reads the same database as the API (``DATABASE_URL``) and acts with the personal API key in ``MCP_API_KEY``
(its owner's role; checked on every call, so a revoked key stops working at once). Nothing but the protocol is
written to stdout; logs go to stderr.
"""

from __future__ import annotations

import logging
import sys

import anyio

from api.core.state import build_state
from api.mcp.server import McpService
from api.routes.health import VERSION
from stock_insights.settings import get_settings


async def serve() -> None:
    settings = get_settings()
    service = McpService(credential=settings.MCP_API_KEY.get_secret_value().strip())
    service.state = build_state(settings, VERSION)
    try:
        await service.server.run_stdio_async()
    finally:
        await service.state.aclose()


def main() -> int:
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING)
    if not get_settings().MCP_API_KEY.get_secret_value().strip():
        print("MCP_API_KEY is not set: create a key at POST /api/v1/users/me/api-keys and set it", file=sys.stderr)
        return 2
    anyio.run(serve)
    return 0


if __name__ == "__main__":
    sys.exit(main())
