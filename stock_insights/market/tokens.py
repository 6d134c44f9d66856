"""The SQL-backed token store: every process and run shares one upstream access token."""

from __future__ import annotations

from sqlalchemy import Engine, select

from stock_insights.clients.kis import CachedToken
from stock_insights.storage.db import session_scope, upsert
from stock_insights.storage.models import ProviderToken


class SqlTokenStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def load(self, provider: str, fingerprint: str) -> CachedToken | None:
        with session_scope(self.engine) as session:
            row = session.execute(
                select(ProviderToken).where(
                    ProviderToken.provider == provider, ProviderToken.key_fingerprint == fingerprint
                )
            ).scalar_one_or_none()
            if row is None:
                return None
            return CachedToken(access_token=row.access_token, expires_at=row.expires_at, issued_at=row.issued_at)

    def save(self, provider: str, fingerprint: str, token: CachedToken) -> None:
        with session_scope(self.engine) as session:
            upsert(
                session,
                ProviderToken.__table__,
                [
                    {
                        "provider": provider,
                        "key_fingerprint": fingerprint,
                        "access_token": token.access_token,
                        "expires_at": token.expires_at,
                        "issued_at": token.issued_at,
                    }
                ],
            )
