"""Errors shared by every upstream client. Messages never carry a secret."""

from __future__ import annotations


class SourceError(Exception):
    """An upstream answered something we cannot use; the message says what and where."""

    def __init__(self, source: str, message: str, *, code: str | None = None, status: int | None = None):
        self.source = source
        self.code = code
        self.status = status
        detail = ", ".join(p for p in (f"HTTP {status}" if status else "", code or "") if p)
        super().__init__(f"{source}: {message}" + (f" ({detail})" if detail else ""))


class SourceTransportError(SourceError):
    """Timeouts, connection failures, HTML error pages, malformed bodies: retried, then raised."""


class SourceDataError(SourceError):
    """The envelope was fine but the data inside it breaks the documented format or sanity rules."""


class SourceAuthError(SourceError):
    """Credentials missing or refused."""
