"""Keep credentials out of logs and error messages.

httpx logs every request at INFO (``HTTP Request: GET <url> "HTTP/1.1 200 OK"``) with the full URL.
OpenDART authenticates with ``crtfc_key`` in the query string, so with INFO logging on (a Dagster
instance capturing Python logs, say) the key would land in the run logs. A filter on the ``httpx``
logger masks the value of every credential-like query parameter before any handler sees the record.
The transport (``clients/transport.py``) masks what it logs itself the same way: URLs with
``redact_query_secrets``, request headers (KIS ``appsecret``, Naver's client secret, bearer tokens)
with ``redact_headers``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping

# Query parameters that carry a credential in some upstream (OpenDART: crtfc_key) or commonly do.
SECRET_PARAMS = ("crtfc_key", "api_key", "apikey", "appkey", "appsecret", "client_secret", "access_token", "token")
_SECRET = re.compile(r"([?&](?:" + "|".join(SECRET_PARAMS) + r")=)[^&\s\"'#]+", re.IGNORECASE)
# Header names that carry a credential: KIS appkey/appsecret/authorization, Naver X-Naver-Client-Id/-Secret
# (and the API HUB's X-NCP-APIGW-API-KEY-ID/-KEY), bearer tokens, cookies.
_SECRET_HEADER = re.compile(r"auth|secret|key|token|cookie|client-id", re.IGNORECASE)


def redact_query_secrets(text: str) -> str:
    return _SECRET.sub(r"\1***", text)


def redact_headers(headers: Mapping[str, str] | None) -> dict[str, str]:
    """``headers`` with the value of every credential-like header replaced by ``***``."""
    return {name: "***" if _SECRET_HEADER.search(name) else value for name, value in (headers or {}).items()}


class RedactQuerySecrets(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        redacted = redact_query_secrets(text)
        if redacted != text:
            record.msg, record.args = redacted, ()
        return True


def install() -> None:
    """Idempotent: one filter on the ``httpx`` logger per process."""
    httpx_log = logging.getLogger("httpx")
    if not any(isinstance(f, RedactQuerySecrets) for f in httpx_log.filters):
        httpx_log.addFilter(RedactQuerySecrets())
