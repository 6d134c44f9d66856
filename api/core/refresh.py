"""Refresh tokens that can be revoked: recording, rotation with reuse detection, logout.

Each login starts a *family*. ``POST /auth/refresh`` spends the presented token (one atomic
``UPDATE ... WHERE used_at IS NULL AND revoked_at IS NULL``) and issues the next one in the same
family. A token presented again after it was spent or revoked is the sign of a stolen copy (RFC 9700,
OAuth 2.0 Security BCP, 4.14.2): the whole family is revoked, so neither the thief nor the victim can
go on refreshing, and the user logs in again. Logout revokes the presented token's family; "log out
everywhere" revokes every family of the user and, through the account's token generation
(``api/core/revocation.py``), every access token issued to it so far. Logging out one session leaves
that session's access token to live out its few minutes (``API_ACCESS_TOKEN_MINUTES``).

Two clients refreshing with the same token at once: one wins, the other counts as reuse and the
family is revoked. A frontend must serialize its refreshes (one in flight per session).
"""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from api.core.revocation import revoke_access_tokens
from api.core.security import TokenError, TokenPair, TokenService
from stock_insights.storage.db import utcnow
from stock_insights.storage.models import RefreshToken, User

log = logging.getLogger(__name__)

# Spent or revoked rows are kept this long past their expiry (enough to recognize a replay), then pruned.
KEEP_EXPIRED = timedelta(days=1)


async def issue_pair(session: AsyncSession, tokens: TokenService, user: User, family: str | None = None) -> TokenPair:
    """Issue access and refresh tokens for ``user`` and record the refresh token; commits."""
    pair = tokens.issue(user.id, user.role, user.password_hash, family=family, generation=user.token_generation)
    now = utcnow()
    await session.execute(
        delete(RefreshToken).where(RefreshToken.user_id == user.id, RefreshToken.expires_at < now - KEEP_EXPIRED)
    )
    session.add(
        RefreshToken(
            jti=pair.refresh_jti,
            user_id=user.id,
            family=pair.family,
            issued_at=now,
            expires_at=pair.refresh_expires_at,
        )
    )
    await session.commit()
    return pair


async def _revoke_family(session: AsyncSession, user_id: int, family: str) -> int:
    result = await session.execute(
        update(RefreshToken)
        .where(RefreshToken.family == family, RefreshToken.user_id == user_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    await session.commit()
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def rotate(session: AsyncSession, tokens: TokenService, refresh_token: str) -> TokenPair:
    """Spend ``refresh_token`` and issue the next pair of its family, or raise ``TokenError``."""
    claims = tokens.refresh_claims(refresh_token)
    now = utcnow()
    spent = await session.execute(
        update(RefreshToken)
        .where(
            RefreshToken.jti == claims.jti,
            RefreshToken.user_id == claims.user_id,
            RefreshToken.family == claims.family,
            RefreshToken.used_at.is_(None),
            RefreshToken.revoked_at.is_(None),
            RefreshToken.expires_at > now,
        )
        .values(used_at=now)
    )
    if not spent.rowcount:  # type: ignore[attr-defined]
        known = await session.scalar(select(RefreshToken.jti).where(RefreshToken.jti == claims.jti))
        if known is not None:
            revoked = await _revoke_family(session, claims.user_id, claims.family)
            log.warning(
                "refresh token replayed for user %d: its session revoked (%d token(s))", claims.user_id, revoked
            )
        else:
            await session.rollback()
        raise TokenError("refresh token spent, revoked or unknown")
    user = await session.get(User, claims.user_id)
    # A changed password revokes every refresh token issued before it.
    if user is None or not tokens.fingerprint_matches(claims.fingerprint, user.password_hash):
        await session.rollback()
        if user is not None:
            await _revoke_family(session, claims.user_id, claims.family)
        raise TokenError("password changed since the token was issued")
    return await issue_pair(session, tokens, user, family=claims.family)


async def logout(session: AsyncSession, tokens: TokenService, refresh_token: str) -> None:
    """Revoke the session (family) of ``refresh_token``; a token that is invalid already does nothing."""
    try:
        claims = tokens.refresh_claims(refresh_token)
    except TokenError:
        return
    await _revoke_family(session, claims.user_id, claims.family)


async def logout_everywhere(session: AsyncSession, user_id: int) -> int:
    """Revoke every refresh token of the user, and (by its generation) every access token issued so far."""
    result = await session.execute(
        update(RefreshToken)
        .where(RefreshToken.user_id == user_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    await revoke_access_tokens(session, user_id)
    await session.commit()
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
