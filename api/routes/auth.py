"""Accounts: register, log in (OAuth2 password form), refresh, log out. The only routes without a
token (but "log out everywhere").

Refresh tokens rotate and are revocable (``api/core/refresh.py``): each refresh returns a new
refresh token and spends the old one; a spent token presented again revokes its session.

Registration always makes a plain ``user``: the first admin is made with ``python -m api.cli
create-admin EMAIL``, and admins promote others with ``PUT /api/v1/users/{id}/role``.
"""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Request, Response
from sqlalchemy import select

from api.core import refresh as refresh_tokens
from api.core.security import TokenError, TokenPair, hash_password, verify_password
from api.deps import PrincipalDep, RequireUser, SessionDep, StateDep
from api.problems import problem_responses
from api.schemas import RefreshIn, RegisterIn, TokenOut, UserOut
from stock_insights.storage.db import utcnow
from stock_insights.storage.models import User

log = logging.getLogger(__name__)
router = APIRouter(prefix="/auth", tags=["auth"])

EMAIL_PATTERN = r"^\s*[^@\s\x00-\x1f]+@[^@\s\x00-\x1f]+\s*$"


def _client_address(request: Request) -> str:
    # The TCP peer, or the client a trusted proxy names: uvicorn reads X-Forwarded-For only from the addresses
    # of FORWARDED_ALLOW_IPS (``python -m api.cli serve``; empty by default), so a client cannot choose it.
    return request.client.host if request.client else "unknown"


def _too_many(retry_after: int) -> HTTPException:
    return HTTPException(429, "Too many attempts; try again later.", headers={"Retry-After": str(retry_after)})


@router.post(
    "/register",
    response_model=UserOut,
    status_code=201,
    summary="Create an account (role: user)",
    responses=problem_responses(400, 409, 422, 429),
)
async def register(body: RegisterIn, request: Request, session: SessionDep, state: StateDep) -> UserOut:
    config = state.config
    address_key = state.limiter.key("register", _client_address(request))
    wait = await state.limiter.retry_after(
        [(address_key, config.register_max_per_address)], window=config.login_window_seconds
    )
    if wait is not None:
        raise _too_many(wait)
    # Every attempt counts (not only failures): each one costs an Argon2 hash.
    await state.limiter.hit([address_key], window=config.login_window_seconds)
    if (await session.execute(select(User.id).where(User.email == body.email))).first() is not None:
        raise HTTPException(409, "An account with this email exists.")
    user = User(email=body.email, password_hash=await hash_password(body.password), role="user", created_at=utcnow())
    session.add(user)
    await session.commit()
    log.info("registered user %d", user.id)
    return UserOut.model_validate(user)


@router.post(
    "/token",
    response_model=TokenOut,
    summary="Log in: OAuth2 password form (username = email) to access and refresh tokens",
    responses=problem_responses(400, 401, 422, 429),
)
async def token(
    request: Request,
    session: SessionDep,
    state: StateDep,
    username: Annotated[str, Form(max_length=320, pattern=EMAIL_PATTERN, description="The account's email")],
    password: Annotated[str, Form(min_length=1, max_length=256, json_schema_extra={"format": "password"})],
    grant_type: Annotated[str | None, Form(pattern=r"^password$")] = None,
    scope: Annotated[str, Form(max_length=200, description="Ignored: roles come from the account")] = "",
) -> TokenOut:
    config = state.config
    email = username.strip().lower()
    account_key = state.limiter.key("login-account", email)
    address_key = state.limiter.key("login-address", _client_address(request))
    keys = [account_key, address_key]
    wait = await state.limiter.retry_after(
        [(account_key, config.login_max_failures), (address_key, config.login_max_failures_per_address)],
        window=config.login_window_seconds,
    )
    if wait is not None:
        raise _too_many(wait)
    user = (await session.execute(select(User).where(User.email == email))).scalar_one_or_none()
    if not await verify_password(password, user.password_hash if user else None) or user is None:
        await state.limiter.hit(keys, window=config.login_window_seconds)
        raise HTTPException(401, "Incorrect email or password.", headers={"WWW-Authenticate": "Bearer"})
    return _token_out(await refresh_tokens.issue_pair(session, state.tokens, user))


def _token_out(pair: TokenPair) -> TokenOut:
    return TokenOut(
        access_token=pair.access_token,
        refresh_token=pair.refresh_token,
        expires_in=pair.expires_in,
        refresh_expires_in=pair.refresh_expires_in,
    )


@router.post(
    "/refresh",
    response_model=TokenOut,
    summary="Exchange a refresh token for a new pair (rotation: the presented token is spent; the role is "
    "read again from the account)",
    responses=problem_responses(400, 401, 422),
)
async def refresh(body: RefreshIn, session: SessionDep, state: StateDep) -> TokenOut:
    try:
        pair = await refresh_tokens.rotate(session, state.tokens, body.refresh_token)
    except TokenError:
        raise HTTPException(
            401,
            "The refresh token is invalid, expired, revoked or already used.",
            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
        ) from None
    return _token_out(pair)


@router.post(
    "/logout",
    status_code=204,
    summary="Log out: revoke the session of this refresh token (and every token rotated from it)",
    description="Idempotent; an invalid or already revoked token also answers 204 (RFC 7009 section 2.2). "
    "Access tokens already issued stay valid until they expire (minutes).",
    responses=problem_responses(400, 422),
)
async def logout(body: RefreshIn, session: SessionDep, state: StateDep) -> Response:
    await refresh_tokens.logout(session, state.tokens, body.refresh_token)
    return Response(status_code=204)


@router.post(
    "/logout-all",
    status_code=204,
    summary="Log out everywhere: revoke every refresh token of the caller and every access token issued so far",
    dependencies=[RequireUser],
    responses=problem_responses(401, 403),
)
async def logout_all(session: SessionDep, principal: PrincipalDep) -> Response:
    revoked = await refresh_tokens.logout_everywhere(session, principal.user_id)
    log.info("user %d logged out everywhere (%d refresh token(s) revoked)", principal.user_id, revoked)
    return Response(status_code=204)
