"""The MCP server over the API's read layer: Streamable HTTP at ``/mcp`` and stdio (``python -m api.mcp``)."""
