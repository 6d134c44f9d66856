"""Password hashing (Argon2 via pwdlib) and JWT access/refresh tokens (PyJWT, HS256).

Access tokens are short-lived and carry the user id, the role and the account's *token generation*
(``gen``): every request checks that generation against the account's current one, read from a cache
that a bump of the ``token_generations`` dataset version empties (``api/core/revocation.py``), so a data
request still does not touch the users table, yet logging out everywhere, a password change or a role
change revokes every access token issued before at once. Refresh tokens are revocable: each carries its ``jti`` and the
``fam`` (family: one per login), recorded in ``refresh_tokens`` (see ``api/core/refresh.py`` for
rotation, reuse detection and logout), and a fingerprint of the password hash, so changing a
password also revokes every refresh token issued before.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

import anyio
import jwt
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

log = logging.getLogger(__name__)

Role = Literal["user", "analyst", "admin"]
ROLES: tuple[Role, ...] = ("user", "analyst", "admin")
_RANK: dict[str, int] = {role: rank for rank, role in enumerate(ROLES)}

ALGORITHM = "HS256"
ISSUER = "stock_insights"
AUDIENCE = "stock_insights-api"

_hasher = PasswordHash((Argon2Hasher(),))
# Argon2 takes ~64 MiB and tens of milliseconds per hash: a handful at a time keeps a burst of logins
# from exhausting memory or starving the threadpool that other blocking calls share.
_HASH_SLOTS = anyio.CapacityLimiter(4)
# Verifying against this when the account does not exist costs the same time as a real check, so
# response timing does not reveal which emails are registered.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


def role_at_least(role: str, required: Role) -> bool:
    return _RANK.get(role, -1) >= _RANK[required]


async def hash_password(password: str) -> str:
    return await anyio.to_thread.run_sync(_hasher.hash, password, limiter=_HASH_SLOTS)


async def verify_password(password: str, password_hash: str | None) -> bool:
    def verify() -> bool:
        try:
            return _hasher.verify(password, password_hash or _DUMMY_HASH) and password_hash is not None
        except Exception:  # a malformed stored hash is a failed login, not a crash
            log.warning("stored password hash could not be verified")
            return False

    return await anyio.to_thread.run_sync(verify, limiter=_HASH_SLOTS)


def hash_password_sync(password: str) -> str:
    """For the CLI, which has no event loop to protect."""
    return _hasher.hash(password)


class TokenError(Exception):
    """A token that is malformed, expired, of the wrong kind or signed with another key."""


@dataclass(frozen=True)
class Principal:
    """Who is calling, as the access token says."""

    user_id: int
    role: Role
    generation: int = 0

    def at_least(self, required: Role) -> bool:
        return role_at_least(self.role, required)


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int  # seconds, of the access token
    refresh_expires_in: int
    refresh_jti: str
    family: str
    refresh_expires_at: datetime


@dataclass(frozen=True)
class RefreshClaims:
    user_id: int
    jti: str
    family: str
    fingerprint: str


def password_fingerprint(password_hash: str, key: str) -> str:
    # Keyed, so the token does not disclose anything usable about the hash itself.
    return hmac.new(key.encode(), password_hash.encode(), hashlib.sha256).hexdigest()[:32]


class TokenService:
    # Verified access tokens, so that a client's repeated requests skip the signature check (it costs
    # more than a cached answer). Keyed by the whole token string; expiry is still checked each time.
    VERIFIED_CACHE_SIZE = 10_000
    LEEWAY_SECONDS = 5  # clock skew allowed on exp/nbf/iat

    def __init__(self, secret: str, *, access_minutes: int, refresh_days: int) -> None:
        self._secret = secret
        self.access_ttl = timedelta(minutes=access_minutes)
        self.refresh_ttl = timedelta(days=refresh_days)
        self._verified: OrderedDict[str, tuple[Principal, float]] = OrderedDict()

    def _encode(self, claims: dict[str, object], now: datetime, ttl: timedelta) -> str:
        payload = {
            "jti": secrets.token_urlsafe(12),
            **claims,
            "iss": ISSUER,
            "aud": AUDIENCE,
            "iat": now,
            "nbf": now,
            "exp": now + ttl,
        }
        return jwt.encode(payload, self._secret, algorithm=ALGORITHM)

    def issue(
        self, user_id: int, role: str, password_hash: str, family: str | None = None, generation: int = 0
    ) -> TokenPair:
        """A new access and refresh pair; ``family`` continues a login's rotation chain.

        The caller records the refresh token (``api.core.refresh``); an unrecorded one is refused.
        """
        now = datetime.now(UTC)
        jti, family = secrets.token_urlsafe(18), family or secrets.token_urlsafe(18)
        access = self._encode(
            {"sub": str(user_id), "role": role, "typ": "access", "gen": generation}, now, self.access_ttl
        )
        refresh = self._encode(
            {
                "sub": str(user_id),
                "typ": "refresh",
                "jti": jti,
                "fam": family,
                "pfp": password_fingerprint(password_hash, self._secret),
            },
            now,
            self.refresh_ttl,
        )
        return TokenPair(
            access_token=access,
            refresh_token=refresh,
            expires_in=int(self.access_ttl.total_seconds()),
            refresh_expires_in=int(self.refresh_ttl.total_seconds()),
            refresh_jti=jti,
            family=family,
            refresh_expires_at=now + self.refresh_ttl,
        )

    def _decode(self, token: str, kind: str) -> dict[str, object]:
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=[ALGORITHM],
                audience=AUDIENCE,
                issuer=ISSUER,
                options={"require": ["exp", "iat", "sub", "typ"]},
                leeway=self.LEEWAY_SECONDS,
            )
        except jwt.PyJWTError as exc:
            raise TokenError(type(exc).__name__) from None
        if claims.get("typ") != kind:
            raise TokenError(f"not an {kind} token")
        return claims

    def principal(self, access_token: str) -> Principal:
        known = self._verified.get(access_token)
        if known is not None and known[1] > time.time():
            return known[0]
        claims = self._decode(access_token, "access")
        role = claims.get("role")
        sub = claims.get("sub")
        generation = claims.get("gen", 0)  # tokens from before generations existed: 0, as every account began
        if role not in ROLES or not isinstance(sub, str) or not sub.isascii() or not sub.isdigit():
            raise TokenError("malformed claims")
        if not isinstance(generation, int) or isinstance(generation, bool) or not 0 <= generation < 2**31:
            raise TokenError("malformed claims")
        principal = Principal(user_id=int(sub), role=role, generation=generation)
        self._verified[access_token] = (principal, float(claims["exp"]))  # type: ignore[arg-type]
        if len(self._verified) > self.VERIFIED_CACHE_SIZE:
            self._verified.popitem(last=False)
        return principal

    def refresh_claims(self, refresh_token: str) -> RefreshClaims:
        """Who a refresh token was issued to, its id and family, and the password fingerprint."""
        claims = self._decode(refresh_token, "refresh")
        sub, jti, family, fingerprint = (claims.get(k) for k in ("sub", "jti", "fam", "pfp"))
        if not isinstance(sub, str) or not sub.isdigit() or int(sub) >= 2**31:
            raise TokenError("malformed claims")
        if not all(isinstance(v, str) and 0 < len(v) <= 64 for v in (jti, family, fingerprint)):
            raise TokenError("malformed claims")
        return RefreshClaims(user_id=int(sub), jti=jti, family=family, fingerprint=fingerprint)  # type: ignore[arg-type]

    def fingerprint_matches(self, fingerprint: str, password_hash: str) -> bool:
        return hmac.compare_digest(fingerprint, password_fingerprint(password_hash, self._secret))
