"""The MCP server: a few coarse, read-only tools and two resources over the REST API's read functions.

Served two ways, with the same tools and the same accounts:

- **Streamable HTTP at ``/mcp``** on the API's port (``McpEndpoint``, mounted by ``api.main``). Stateless and JSON
  (every POST is a whole exchange), so any worker can answer any request. Every HTTP request is authenticated
  before the SDK sees it, exactly as a REST request is (``api.core.api_keys.authenticate``): an access token or a
  personal API key, 401 without one, 429 while the address is over the login limit; the caller rides in the ASGI
  scope to the tool, which applies the role the REST route would. The SDK's DNS-rebinding check (Host/Origin
  allow-list) is off: it protects servers without authentication on loopback, and this one refuses every request
  without a credential, whatever its Host.
- **stdio** (``python -m api.mcp``) for a local assistant: the credential comes from ``MCP_API_KEY`` and is
  checked again on every call, so revoking the key stops the process's next call.

Every answer is one JSON object (text content, and the same object as structured content) with ``data_mode`` and
the ``as_of`` moment it was answered for, at most ``bounds.MAX_ANSWER_CHARS`` characters.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import HTTPException
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ToolError
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from mcp.types import CallToolResult, TextContent, ToolAnnotations
from pydantic import Field, TypeAdapter, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.types import Receive, Scope, Send

from api.core.api_keys import Caller, CredentialRefused, authenticate
from api.core.fastpath import header
from api.core.security import Principal, Role
from api.core.state import ApiState
from api.mcp import answers
from api.mcp.bounds import MAX_ANSWER_CHARS, bounded, dumps
from api.params import AsOfTimestamp, AwareDatetime, MarketDate
from api.problems import problem
from stock_insights import clock

log = logging.getLogger(__name__)

CALLER_KEY = "stock_insights.caller"  # the authenticated caller, in the ASGI scope of an HTTP request
MAX_CREDENTIAL_LENGTH = 4096

INSTRUCTIONS = (
    "Korean stock market data, AI forecasts with their evidence, and each model's verified track record. "
    "Start with find_stock to get a 6-digit code. Every answer says data_mode (live or simulated: simulated data "
    "is not the real market) and the as_of moment it holds data for; pass as_of to see only what was known then."
)

Code = Annotated[str, Field(pattern=r"^[0-9]{6}$", description="6-digit KRX stock code, e.g. 005930")]
OptionalCode = Annotated[str | None, Field(pattern=r"^[0-9]{6}$", description="6-digit KRX stock code")]
AsOf = Annotated[
    AsOfTimestamp | None,
    Field(description="Answer as of this moment, with its offset (e.g. 2026-12-04T09:00:00+09:00): only what was "
          "first seen by then. Omit for now."),
]
Model = Annotated[
    str | None, Field(max_length=50, pattern=r"^[A-Za-z0-9_.:-]+$", description="Model name, e.g. momentum")
]
READ_ONLY = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False)
_DAY = TypeAdapter(MarketDate)

Build = Callable[[AsyncSession, Principal], Awaitable[dict[str, Any]]]


class McpService:
    """The MCP server of one app (or one stdio process): its tools, its state and, over HTTP, its session manager."""

    def __init__(self, *, credential: str | None = None) -> None:
        self.state: ApiState | None = None
        self.credential = credential  # stdio only: the API key (or access token) the process acts with
        self.manager: StreamableHTTPSessionManager | None = None
        self.server = build_server(self)

    @contextlib.asynccontextmanager
    async def serve_http(self, state: ApiState) -> AsyncIterator[None]:
        """Run the SDK's session manager inside the API's lifespan (a fresh manager each time the app starts)."""
        self.state = state
        self.server.streamable_http_app(
            stateless_http=True,
            json_response=True,
            transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
        )
        manager = self.server.session_manager
        async with manager.run():
            self.manager = manager
            try:
                yield
            finally:
                self.manager = None

    def _state(self) -> ApiState:
        if self.state is None:
            raise ToolError("The server is starting or stopping; try again.")
        return self.state

    async def principal(self, ctx: Context) -> Principal:
        """Who calls: the caller the HTTP endpoint authenticated, or (stdio) the process's credential, checked now."""
        try:
            request = ctx.request_context.request
        except ValueError:  # no request (stdio)
            request = None
        scope = getattr(request, "scope", None)
        caller = scope.get(CALLER_KEY) if isinstance(scope, dict) else None
        if isinstance(caller, Caller):
            return caller.principal
        if not self.credential:
            raise ToolError("Authentication required: an access token or a personal API key.")
        try:
            return (await authenticate(self._state(), self.credential, "stdio")).principal
        except CredentialRefused as exc:
            raise ToolError(exc.detail) from None

    async def payload(self, ctx: Context, build: Build, role: Role = "user") -> tuple[ApiState, dict[str, Any]]:
        principal = await self.principal(ctx)
        if not principal.at_least(role):
            raise ToolError(f"This needs the {role} role.")  # as the REST route's 403
        state = self._state()
        async with state.db_slots or contextlib.nullcontext(), state.sessions() as session:
            try:
                return state, await build(session, principal)
            except HTTPException as exc:  # the shared route helpers' 404s
                raise ToolError(str(exc.detail)) from None
            except answers.Refused as exc:
                raise ToolError(str(exc)) from None

    async def answer(
        self, ctx: Context, build: Build, *, as_of: datetime | None = None, role: Role = "user"
    ) -> CallToolResult:
        state, payload = await self.payload(ctx, build, role)
        body = bounded(envelope(state, as_of, payload))
        return CallToolResult(content=[TextContent(type="text", text=dumps(body))], structured_content=body)

    async def resource(self, ctx: Context, build: Build) -> str:
        try:
            state, payload = await self.payload(ctx, build)
        except ToolError as exc:
            raise ResourceError(str(exc)) from None
        return dumps(bounded(envelope(state, None, payload)))


def envelope(state: ApiState, as_of: datetime | None, payload: dict[str, Any]) -> dict[str, Any]:
    return {"data_mode": state.settings.DATA_MODE, "as_of": (as_of or clock.now()).isoformat(), **payload}


def _day(value: str) -> date:
    try:
        return _DAY.validate_python(value)
    except ValidationError:
        raise ResourceError(f"{value!r} is not a trading day (YYYY-MM-DD)") from None


def build_server(service: McpService) -> MCPServer:
    # MCPServer() calls logging.basicConfig (a Rich handler on the root logger, level INFO): the API's logging is
    # the API's, so the root logger is put back as it was.
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    mcp: MCPServer = MCPServer("stock_insights", instructions=INSTRUCTIONS, version="1")
    root.handlers[:], root.level = handlers, level
    bound = f"At most {MAX_ANSWER_CHARS:,} characters of JSON."

    @mcp.tool(
        name="find_stock",
        description="Find listings by name, alias or code, Korean or English (삼성전자, Samsung, 005930): code, names, "
        f"market, whether tracked. Best match first, at most `limit` (20). {bound}",
        annotations=READ_ONLY,
    )
    async def find_stock(
        query: Annotated[str, Field(min_length=1, max_length=100, description="Name, alias or code")],
        ctx: Context,
        limit: Annotated[int, Field(ge=1, le=20)] = 10,
    ) -> CallToolResult:
        return await service.answer(ctx, lambda s, _: answers.find_stock(s, query, limit))

    @mcp.tool(
        name="stock_snapshot",
        description="One stock as of a moment: its latest daily bars, its move against its index (KOSPI/KOSDAQ) over "
        "the last session and the bars listed, and the filings and news first seen by then, newest first. At most "
        f"`items` (10) of each. {bound}",
        annotations=READ_ONLY,
    )
    async def stock_snapshot(
        code: Code, ctx: Context, as_of: AsOf = None, items: Annotated[int, Field(ge=1, le=10)] = 5
    ) -> CallToolResult:
        return await service.answer(ctx, lambda s, _: answers.stock_snapshot(s, code, as_of, items), as_of=as_of)

    @mcp.tool(
        name="forecasts",
        description="Model forecasts for a stock and/or a target trading day: direction, probability of up, expected "
        "return, rationale, the inputs each cited, and the outcome once scored. Without a model: your A/B arm's "
        f"model, if an experiment runs. Newest target first, at most `limit` (50). {bound}",
        annotations=READ_ONLY,
    )
    async def forecasts(
        ctx: Context,
        code: OptionalCode = None,
        date: Annotated[MarketDate | None, Field(description="Target trading day, YYYY-MM-DD")] = None,
        model: Model = None,
        horizon: Annotated[Literal[1, 5] | None, Field(description="Sessions ahead: 1 or 5; omit for both")] = None,
        as_of: AsOf = None,
        limit: Annotated[int, Field(ge=1, le=50)] = 10,
    ) -> CallToolResult:
        return await service.answer(
            ctx,
            lambda s, p: answers.forecasts(
                s, p.user_id, code=code, target_date=date, model=model, horizon=horizon, as_of=as_of, limit=limit
            ),
            as_of=as_of,
        )

    @mcp.tool(
        name="track_record",
        description="Each model's verified track record from the stored leaderboard: hit rate with its Wilson "
        "interval, Brier and skill, log loss, calibration error, information coefficients, long-short and excess "
        "returns with intervals, and paired tests between models (McNemar, Diebold-Mariano, Holm-adjusted) with a "
        f"verdict. `model` keeps one model and its pairs. {bound}",
        annotations=READ_ONLY,
    )
    async def track_record(
        ctx: Context,
        model: Model = None,
        window: Annotated[Literal[20, 60, 250], Field(description="Trading days scored")] = 20,
        horizon: Annotated[Literal[1, 5], Field(description="Forecast horizon in sessions")] = 1,
        date: Annotated[MarketDate | None, Field(description="The snapshot's day; omit for the latest")] = None,
    ) -> CallToolResult:
        def build(s: AsyncSession, _: Principal) -> Awaitable[dict[str, Any]]:
            mode = service._state().settings.DATA_MODE
            return answers.track_record(s, mode, model=model, window=window, horizon=horizon, day=date)

        return await service.answer(ctx, build)

    @mcp.tool(
        name="search_documents",
        description="Semantic search over news and DART filings (lexical fallback when the vector store is down; "
        "`mode` says which), with title, URL and first-seen time to cite. `before` keeps only documents first seen "
        f"before that moment. At most `limit` (20). {bound}",
        annotations=READ_ONLY,
    )
    async def search_documents(
        query: Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$")],
        ctx: Context,
        code: OptionalCode = None,
        before: Annotated[AwareDatetime | None, Field(description="ISO 8601 moment; naive means UTC")] = None,
        limit: Annotated[int, Field(ge=1, le=20)] = 10,
    ) -> CallToolResult:
        def build(s: AsyncSession, _: Principal) -> Awaitable[dict[str, Any]]:
            return answers.search_documents(s, service._state(), query=query, code=code, before=before, limit=limit)

        return await service.answer(ctx, build, as_of=before)

    @mcp.tool(
        name="daily_report",
        description="The stored daily report (Markdown, with numbered sources) of a trading day: the market's, or "
        f"one stock's with `code`; lists which stocks have a report that day. {bound}",
        annotations=READ_ONLY,
    )
    async def daily_report(
        date: Annotated[MarketDate, Field(description="Trading day, YYYY-MM-DD")],
        ctx: Context,
        code: OptionalCode = None,
    ) -> CallToolResult:
        def build(s: AsyncSession, _: Principal) -> Awaitable[dict[str, Any]]:
            return answers.daily_report(s, service._state().settings.DATA_MODE, day=date, code=code)

        return await service.answer(ctx, build)

    @mcp.tool(
        name="experiments",
        description="A/B experiments between models (analyst role): without an id, every experiment; with one, its "
        f"per-arm counts, hit rates and paired significance. {bound}",
        annotations=READ_ONLY,
    )
    async def experiments(
        ctx: Context, experiment_id: Annotated[int | None, Field(ge=1, le=2**31 - 1)] = None
    ) -> CallToolResult:
        def build(s: AsyncSession, _: Principal) -> Awaitable[dict[str, Any]]:
            return answers.experiments(s, service._state().settings.DATA_MODE, experiment_id=experiment_id)

        return await service.answer(ctx, build, role="analyst")

    @mcp.resource(
        "stock-insights://reports/daily/{day}",
        name="daily_report",
        description="The market's daily report of a trading day (YYYY-MM-DD), as the daily_report tool answers it",
        mime_type="application/json",
    )
    async def report_resource(day: str, ctx: Context) -> str:
        trading_day = _day(day)
        return await service.resource(
            ctx, lambda s, _: answers.daily_report(s, service._state().settings.DATA_MODE, day=trading_day, code=None)
        )

    @mcp.resource(
        "stock-insights://leaderboard/{window}",
        name="leaderboard",
        description="The latest leaderboard of a window of 20, 60 or 250 trading days (horizon 1), as track_record "
        "answers it",
        mime_type="application/json",
    )
    async def leaderboard_resource(window: str, ctx: Context) -> str:
        if window not in ("20", "60", "250"):
            raise ResourceError("window must be 20, 60 or 250")
        return await service.resource(
            ctx,
            lambda s, _: answers.track_record(
                s, service._state().settings.DATA_MODE, model=None, window=int(window), horizon=1, day=None
            ),
        )

    return mcp


class McpEndpoint:
    """ASGI app at ``/mcp``: authenticate the HTTP request as REST does, then hand it to the SDK's session manager."""

    def __init__(self, service: McpService) -> None:
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        manager, state = self.service.manager, self.service.state
        if manager is None or state is None:
            await problem(503, "The MCP server is not running.", instance="/mcp")(scope, receive, send)
            return
        scheme, _, token = (header(scope, b"authorization") or b"").decode("latin-1").partition(" ")
        client = scope.get("client")
        try:
            if scheme.lower() != "bearer" or len(token) > MAX_CREDENTIAL_LENGTH:
                raise CredentialRefused(401, "A bearer token is required: an access token or a personal API key.")
            caller = await authenticate(state, token.strip(), client[0] if client else "unknown")
        except CredentialRefused as exc:
            response = problem(exc.status, exc.detail, instance="/mcp")
            response.headers.update(exc.headers())
            await response(scope, receive, send)
            return
        await manager.handle_request({**scope, CALLER_KEY: caller}, receive, send)
