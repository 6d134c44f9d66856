"""The API's configuration: token lifetimes and cache TTL from the settings (validated there: a bad value
fails at start-up with a settings error), the signing key, and the fixed limits of the login endpoints.

An empty API_JWT_SECRET means a random per-process signing key, with a warning.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from functools import lru_cache

from stock_insights.settings import Settings

log = logging.getLogger(__name__)

# A dead Redis is not retried for this long: a request then costs one failed attempt per window.
REDIS_BREAKER_SECONDS = 5.0
# Redis on loopback answers in well under a millisecond; anything slower is treated as down.
REDIS_SOCKET_TIMEOUT_SECONDS = 0.25
LOGIN_MAX_FAILURES = 5  # per account
# Per client address: higher, since an office or a mobile carrier puts many people behind one address.
LOGIN_MAX_FAILURES_PER_ADDRESS = 20
LOGIN_WINDOW_SECONDS = 60.0
REGISTER_MAX_PER_ADDRESS = 10


@dataclass(frozen=True)
class ApiConfig:
    jwt_secret: str
    jwt_secret_is_ephemeral: bool
    access_token_minutes: int
    refresh_token_days: int
    cache_ttl_seconds: int
    login_max_failures: int = LOGIN_MAX_FAILURES
    login_max_failures_per_address: int = LOGIN_MAX_FAILURES_PER_ADDRESS
    login_window_seconds: float = LOGIN_WINDOW_SECONDS
    register_max_per_address: int = REGISTER_MAX_PER_ADDRESS


@lru_cache(maxsize=1)
def _ephemeral_secret() -> str:
    # One per process, so every app built in this process (tests build several) agrees on it.
    log.warning(
        "API_JWT_SECRET is not set: tokens are signed with a random per-process key; they stop working "
        "on restart and are not accepted by other workers. Set API_JWT_SECRET in production."
    )
    return secrets.token_urlsafe(48)


def api_config(settings: Settings) -> ApiConfig:
    secret = settings.API_JWT_SECRET.get_secret_value()
    ephemeral = not secret
    if ephemeral:
        secret = _ephemeral_secret()
    elif len(secret.encode()) < 32:
        # HS256 keys shorter than the hash output weaken the signature (RFC 7518 section 3.2).
        log.warning("API_JWT_SECRET is shorter than 32 bytes; use a longer random value")
    return ApiConfig(
        jwt_secret=secret,
        jwt_secret_is_ephemeral=ephemeral,
        access_token_minutes=settings.API_ACCESS_TOKEN_MINUTES,
        refresh_token_days=settings.API_REFRESH_TOKEN_DAYS,
        cache_ttl_seconds=settings.API_CACHE_TTL_SECONDS,
    )
