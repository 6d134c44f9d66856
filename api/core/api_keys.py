"""Personal API keys, and the one place a bearer credential becomes a caller (REST and MCP alike).

A key is ``sik_`` followed by 43 URL-safe random characters (256 bits): recognisable (a secret scanner or a log
filter can match the prefix), and too long to guess, so a fast unkeyed SHA-256 of it is what is stored (a slow
password hash such as Argon2 protects low-entropy secrets; it would only make every request slower here). The
key is shown once, at creation; the table keeps its hash, its first characters (``prefix``, to tell keys apart)
and when it was created, last used and revoked.

Every request with a key looks the hash up in the database, so a revoked key is refused at once, and takes the
account's *current* role (a demotion applies to its keys at once too). Failed key attempts count against the
login limit of the client's address (``api/core/ratelimit.py``, the same bucket as failed password logins), and
while it is reached every key attempt from that address is refused with a 429.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import cast

from sqlalchemy import select, update

from api.core.security import ROLES, Principal, Role, TokenError
from api.core.state import ApiState
from stock_insights.storage.db import utcnow
from stock_insights.storage.models import ApiKey, User

KEY_PREFIX = "sik_"
KEY_RANDOM_BYTES = 32  # 43 characters of token_urlsafe
SHOWN_PREFIX_LENGTH = 12  # "sik_" and 8 random characters: what listings show
MAX_KEY_LENGTH = 100
LAST_USED_RESOLUTION = timedelta(minutes=1)  # last_used_at is written at most once a minute per key


def new_key() -> tuple[str, str, str]:
    """(key, shown prefix, stored hash) of a fresh key."""
    key = KEY_PREFIX + secrets.token_urlsafe(KEY_RANDOM_BYTES)
    return key, key[:SHOWN_PREFIX_LENGTH], key_hash(key)


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def looks_like_key(credential: str) -> bool:
    return credential.startswith(KEY_PREFIX)


class CredentialRefused(Exception):
    """A bearer credential that does not make a caller: 401 (``error`` for WWW-Authenticate) or 429."""

    def __init__(self, status: int, detail: str, *, error: str | None = None, retry_after: int | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.error = error
        self.retry_after = retry_after

    def headers(self) -> dict[str, str]:
        if self.status == 429:
            return {"Retry-After": str(self.retry_after or 1)}
        return {"WWW-Authenticate": "Bearer" if self.error is None else f'Bearer error="{self.error}"'}


@dataclass(frozen=True)
class Caller:
    principal: Principal
    via: str  # "token" or "api_key"
    versions: dict[str, int] | None = None  # the dataset versions read to check a token's generation


async def authenticate(state: ApiState, credential: str, address: str) -> Caller:
    """The caller a bearer credential stands for, or ``CredentialRefused``."""
    if not credential:
        raise CredentialRefused(401, "A bearer token is required.")
    if looks_like_key(credential):
        return Caller(await key_principal(state, credential, address), "api_key")
    try:
        principal = state.tokens.principal(credential)
    except TokenError:
        raise CredentialRefused(401, "The token is invalid or expired.", error="invalid_token") from None
    # Revocation (api/core/revocation.py): the token's generation must be the account's current one.
    versions = await state.versions.read()
    if not await state.generations.is_current(principal, versions):
        raise CredentialRefused(401, "The token has been revoked; log in again.", error="invalid_token")
    return Caller(principal, "token", versions)


async def key_principal(state: ApiState, key: str, address: str) -> Principal:
    config = state.config
    address_key = state.limiter.key("login-address", address)
    wait = await state.limiter.retry_after(
        [(address_key, config.login_max_failures_per_address)], window=config.login_window_seconds
    )
    if wait is not None:
        raise CredentialRefused(429, "Too many attempts; try again later.", retry_after=wait)
    digest = key_hash(key) if len(key) <= MAX_KEY_LENGTH else ""
    async with state.sessions() as session:
        row = (
            await session.execute(
                select(ApiKey.id, ApiKey.key_hash, ApiKey.last_used_at, User.id, User.role, User.token_generation)
                .join(User, User.id == ApiKey.user_id)
                .where(ApiKey.key_hash == digest, ApiKey.revoked_at.is_(None))
            )
        ).first()
        if row is None or not hmac.compare_digest(row[1], digest) or row[4] not in ROLES:
            await state.limiter.hit([address_key], window=config.login_window_seconds)
            raise CredentialRefused(401, "The API key is invalid or revoked.", error="invalid_token")
        key_id, _, last_used, user_id, role, generation = row
        now = utcnow()
        if last_used is None or now - last_used >= LAST_USED_RESOLUTION:
            await session.execute(update(ApiKey).where(ApiKey.id == key_id).values(last_used_at=now))
            await session.commit()
    return Principal(user_id=user_id, role=cast(Role, role), generation=generation)
