"""What handlers get injected: settings, a database session, the caller, and the answer cache.

Every dependency is ``async def`` (FastAPI runs a plain ``def`` dependency in the threadpool: a
thread hop per request that costs more than a whole cached answer), and the hot path of a cached
answer resolves exactly two: the caller (token and role in one step) and ``Answers``, which opens a
database session only on a miss.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from contextlib import AbstractAsyncContextManager
from typing import Annotated, TypeVar

from fastapi import Depends, HTTPException, Request, Response
from fastapi.security import OAuth2PasswordBearer
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from api.core.api_keys import CredentialRefused, authenticate
from api.core.cache import CachedAnswer, answer_response
from api.core.security import Principal, Role
from api.core.state import ApiState
from api.schemas import DataMode
from stock_insights import clock
from stock_insights.settings import Settings, get_settings

MAX_TOKEN_LENGTH = 4096
TOKEN_URL = "/api/v1/auth/token"


async def api_state(request: Request) -> ApiState:
    return request.app.state.api


StateDep = Annotated[ApiState, Depends(api_state)]


async def db_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.app.state.api.sessions() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(db_session)]


async def settings() -> Settings:
    return get_settings()


SettingsDep = Annotated[Settings, Depends(settings)]


def _unauthorized(detail: str, error: str | None = None) -> HTTPException:
    challenge = "Bearer" if error is None else f'Bearer error="{error}"'
    return HTTPException(401, detail, headers={"WWW-Authenticate": challenge})


class BearerRole(OAuth2PasswordBearer):
    """The caller, from the bearer access token, if their role is at least ``role``.

    An OAuth2 password-bearer scheme for OpenAPI (the docs' "Authorize" button works), and the
    whole check in one dependency: 401 without a valid token, 403 below the role.
    """

    def __init__(self, role: Role) -> None:
        super().__init__(tokenUrl=TOKEN_URL, scheme_name="OAuth2PasswordBearer", auto_error=False)
        self.role = role

    async def __call__(self, request: Request) -> Principal:  # type: ignore[override]
        scheme, _, token = (request.headers.get("authorization") or "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise _unauthorized("A bearer token is required.")
        if len(token) > MAX_TOKEN_LENGTH:
            raise _unauthorized("The token is invalid or expired.", "invalid_token")
        state: ApiState = request.app.state.api
        # An access token (signature, expiry and generation: api/core/revocation.py) or a personal API key
        # (api/core/api_keys.py). The versions read for a token are the request's (Answers reuses them).
        try:
            caller = await authenticate(state, token.strip(), request.client.host if request.client else "unknown")
        except CredentialRefused as exc:
            raise HTTPException(exc.status, exc.detail, headers=exc.headers()) from None
        if caller.versions is not None:
            request.state.dataset_versions = caller.versions
        request.state.credential = caller.via
        principal = caller.principal
        if not principal.at_least(self.role):
            raise HTTPException(403, f"This needs the {self.role} role.")
        return principal


require_user = BearerRole("user")
require_analyst = BearerRole("analyst")
require_admin = BearerRole("admin")

RequireUser = Depends(require_user)
RequireAnalyst = Depends(require_analyst)
RequireAdmin = Depends(require_admin)
# The same callable as the routers' RequireUser, so FastAPI resolves it once per request.
PrincipalDep = Annotated[Principal, Depends(require_user)]


Build = Callable[[AsyncSession], Awaitable[BaseModel]]
M = TypeVar("M", bound=BaseModel)


class Answers:
    """Per request: the dataset versions (read once), and cached or freshly built JSON answers."""

    def __init__(self, request: Request) -> None:
        self.request = request
        self.state: ApiState = request.app.state.api
        self._versions: dict[str, int] | None = None
        self._used: dict[str, int] = {}  # the versions this answer depends on (for the fast path)
        self._day = clock.today_kst()  # parameters may default to today: the fast path keys on the day too

    @property
    def data_mode(self) -> DataMode:
        return self.state.settings.DATA_MODE

    async def versions(self) -> dict[str, int]:
        if self._versions is None:
            # Read once per request: by the token check when there was one, else here.
            self._versions = getattr(self.request.state, "dataset_versions", None) or await self.state.versions.read()
        return self._versions

    async def _key(self, name: str, params: Mapping[str, object], datasets: Iterable[str]) -> str:
        versions = await self.versions()
        used = {d: versions.get(d, 0) for d in sorted(datasets)}
        self._used.update(used)
        return self.state.cache.key(name, params, used)

    async def json(
        self,
        name: str,
        params: Mapping[str, object],
        datasets: Iterable[str],
        build: Callable[[AsyncSession], Awaitable[M]],
        cacheable: Callable[[M], bool] | None = None,
    ) -> Response:
        """The answer for ``name`` and ``params``, built (with a fresh session) only on a miss.

        ``cacheable`` says whether a built answer may be kept: a degraded one (a fallback while a backing
        service is away) is served but never stored under the key of the normal answer."""
        key = await self._key(name, params, datasets)
        answer = await self.state.cache.get(key)
        if answer is None:
            async with self._db_slot(), self.state.sessions() as session:
                model = await build(session)
            answer = CachedAnswer.of(model.model_dump_json().encode())
            if cacheable is not None and not cacheable(model):
                return self.respond(answer)
            await self.state.cache.set(key, answer)
        self.state.fastpath.remember(self.request.scope, self._day, self._used, key)
        return self.respond(answer)

    async def model(
        self, name: str, params: Mapping[str, object], datasets: Iterable[str], build: Build, model: type[M]
    ) -> M:
        """A cached intermediate result (not an HTTP answer), e.g. the running experiment."""
        key = await self._key(name, params, datasets)
        answer = await self.state.cache.get(key)
        if answer is not None:
            return model.model_validate_json(answer.body)
        async with self._db_slot(), self.state.sessions() as session:
            value = await build(session)
        await self.state.cache.set(key, CachedAnswer.of(value.model_dump_json().encode()))
        return model.model_validate(value)

    def _db_slot(self) -> AbstractAsyncContextManager[object]:
        return self.state.db_slots or contextlib.nullcontext()

    def respond(self, answer: CachedAnswer) -> Response:
        return answer_response(answer, self.request.headers.get("if-none-match"))


async def answers(request: Request) -> Answers:
    return Answers(request)


AnswersDep = Annotated[Answers, Depends(answers)]
