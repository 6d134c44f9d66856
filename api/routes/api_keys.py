"""The caller's personal API keys: create (the key is shown once), list (never the key), revoke.

A key acts for its owner with the owner's current role, on the REST API and the MCP server (``/mcp``), until it
is revoked (``api/core/api_keys.py``). Keys are managed with an access token only: a key cannot mint or revoke
keys, so a leaked key cannot make itself permanent.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Request, Response
from pydantic import BaseModel, ConfigDict, Field, JsonValue, StringConstraints
from sqlalchemy import func, select

from api.core.api_keys import new_key
from api.deps import PrincipalDep, RequireUser, SessionDep
from api.problems import problem_responses
from api.schemas import DataMode, DataModeField
from stock_insights.storage.db import utcnow
from stock_insights.storage.models import ApiKey

log = logging.getLogger(__name__)

router = APIRouter(
    prefix="/users/me/api-keys",
    tags=["users"],
    dependencies=[RequireUser],
    responses=problem_responses(401, 403, 422),
)

MAX_ACTIVE_KEYS = 20  # per account
KeyIdPath = Annotated[int, Path(ge=1, le=2**31 - 1, description="API key id")]


class ApiKeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100, pattern=r"^[^\x00-\x1f\x7f]+$")
    ] = Field(description="What the key is for, e.g. the assistant that uses it", examples=["claude-desktop"])


_KEY_EXAMPLE: dict[str, JsonValue] = {
    "id": 3,
    "name": "claude-desktop",
    "prefix": "sik_Qm3xT0aZ",
    "created_at": "2026-12-04T08:00:00Z",
    "last_used_at": "2026-12-04T08:05:00Z",
}


class ApiKeyOut(BaseModel):
    model_config = ConfigDict(from_attributes=True, json_schema_extra={"examples": [_KEY_EXAMPLE]})

    id: int
    name: str
    prefix: str = Field(description="The key's first characters, to tell keys apart (the key itself is not kept)")
    created_at: datetime
    last_used_at: datetime | None = Field(description="Last use, to the minute")


class ApiKeyCreated(ApiKeyOut):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {**_KEY_EXAMPLE, "last_used_at": None, "key": "sik_Qm3xT0aZ" + "x" * 35, "data_mode": "simulated"}
            ]
        }
    )

    key: str = Field(description="The key: shown this once only. Send it as `Authorization: Bearer <key>`.")
    data_mode: DataMode = DataModeField


class ApiKeyList(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"items": [_KEY_EXAMPLE], "data_mode": "simulated"}]})

    items: list[ApiKeyOut]
    data_mode: DataMode = DataModeField


def _token_only(request: Request) -> None:
    if getattr(request.state, "credential", None) == "api_key":
        raise HTTPException(403, "API keys are managed with an access token (log in), not with an API key.")


@router.post(
    "",
    response_model=ApiKeyCreated,
    status_code=201,
    summary="Create a personal API key (shown once) for the REST API and the MCP server",
    responses=problem_responses(400, 409),
)
async def create_api_key(
    body: ApiKeyIn, request: Request, session: SessionDep, principal: PrincipalDep
) -> ApiKeyCreated:
    _token_only(request)
    active = await session.scalar(
        select(func.count())
        .select_from(ApiKey)
        .where(ApiKey.user_id == principal.user_id, ApiKey.revoked_at.is_(None))
    )
    if (active or 0) >= MAX_ACTIVE_KEYS:
        raise HTTPException(409, f"An account may hold {MAX_ACTIVE_KEYS} active keys: revoke one first.")
    key, prefix, digest = new_key()
    row = ApiKey(user_id=principal.user_id, name=body.name, prefix=prefix, key_hash=digest, created_at=utcnow())
    session.add(row)
    await session.commit()
    log.info("user %d created API key %d (%s)", principal.user_id, row.id, prefix)
    return ApiKeyCreated(
        id=row.id, name=row.name, prefix=prefix, created_at=row.created_at, last_used_at=None, key=key
    )


@router.get("", response_model=ApiKeyList, summary="The caller's active API keys (never the keys themselves)")
async def list_api_keys(session: SessionDep, principal: PrincipalDep) -> ApiKeyList:
    rows = (
        await session.execute(
            select(ApiKey)
            .where(ApiKey.user_id == principal.user_id, ApiKey.revoked_at.is_(None))
            .order_by(ApiKey.created_at, ApiKey.id)
        )
    ).scalars()
    return ApiKeyList(items=[ApiKeyOut.model_validate(r) for r in rows])


@router.delete(
    "/{key_id}",
    status_code=204,
    summary="Revoke an API key: refused from the next request on (idempotent)",
    responses=problem_responses(404),
)
async def revoke_api_key(
    key_id: KeyIdPath, request: Request, session: SessionDep, principal: PrincipalDep
) -> Response:
    _token_only(request)
    row = await session.get(ApiKey, key_id)
    if row is None or row.user_id != principal.user_id:  # another account's key: as if it did not exist
        raise HTTPException(404, f"API key {key_id} does not exist")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        await session.commit()
        log.info("user %d revoked API key %d (%s)", principal.user_id, row.id, row.prefix)
    return Response(status_code=204)
