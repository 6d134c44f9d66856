"""Errors shared by every upstream client: one envelope (source, message, upstream code, HTTP status,
retryable). Messages never carry a secret."""

from __future__ import annotations


class SourceError(Exception):
    """An upstream answered something we cannot use; the message says what and where.

    ``retryable`` says whether the same request may succeed later (a timeout, a spent per-minute budget)
    rather than never as sent (bad parameters, refused credentials); each class sets its default.
    """

    retryable: bool = False

    def __init__(
        self,
        source: str,
        message: str,
        *,
        code: str | None = None,
        status: int | None = None,
        retryable: bool | None = None,
    ):
        self.source = source
        self.code = code
        self.status = status
        if retryable is not None:
            self.retryable = retryable
        detail = ", ".join(p for p in (f"HTTP {status}" if status else "", code or "") if p)
        super().__init__(f"{source}: {message}" + (f" ({detail})" if detail else ""))


class SourceTransportError(SourceError):
    """Timeouts, connection failures, HTML error pages, malformed bodies: retried, then raised."""

    retryable = True


class SourceDataError(SourceError):
    """The envelope was fine but the data inside it breaks the documented format or sanity rules."""


class SourceAuthError(SourceError):
    """Credentials missing or refused."""
