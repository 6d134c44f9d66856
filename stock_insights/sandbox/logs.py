"""The sandbox's logging: uvicorn's, with every credential in a request line masked.

OpenDART takes its key in the query string (``crtfc_key``), so uvicorn's access log would write the DART key
into ``sandbox.log`` on every call; other APIs take tokens or keys as query parameters too. Every query
parameter whose name says it holds a credential is logged as ``***``; the rest of the line is unchanged.
Credentials sent in headers or bodies (KIS, Naver, Reddit, OpenAI) never reach the access log.
"""

from __future__ import annotations

import copy
import logging
import re
from typing import Any
from urllib.parse import parse_qsl, urlencode

from uvicorn.config import LOGGING_CONFIG

MASK = "***"
# Names of query parameters that carry a credential: crtfc_key (OpenDART), key, api_key, appkey, appsecret,
# client_secret, access_token, token, password, signature...
SECRET_PARAM = re.compile(r"key|secret|token|passw|auth|sig|credential", re.IGNORECASE)


def mask_query(target: str) -> str:
    """``/path?crtfc_key=abc&page_no=1`` -> ``/path?crtfc_key=***&page_no=1``."""
    path, sep, query = target.partition("?")
    if not sep or not query:
        return target
    pairs = parse_qsl(query, keep_blank_values=True)
    if not any(SECRET_PARAM.search(name) for name, _ in pairs):
        return target
    masked = [(name, MASK if SECRET_PARAM.search(name) else value) for name, value in pairs]
    return f"{path}?{urlencode(masked, safe='*')}"


class MaskSecretsFilter(logging.Filter):
    """Masks credentials in the request targets of uvicorn's access records (and any URL in a message)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and record.args:
            record.args = tuple(mask_query(a) if isinstance(a, str) and "?" in a else a for a in record.args)
        elif isinstance(record.msg, str) and "?" in record.msg and not record.args:
            record.msg = re.sub(r"\S*\?\S+", lambda m: mask_query(m.group(0)), record.msg)
        return True


def log_config() -> dict[str, Any]:
    """uvicorn's logging configuration with the masking filter on its handlers."""
    config = copy.deepcopy(LOGGING_CONFIG)
    config.setdefault("filters", {})["mask_secrets"] = {"()": f"{__name__}.MaskSecretsFilter"}
    for handler in config["handlers"].values():
        handler.setdefault("filters", []).append("mask_secrets")
    return config
