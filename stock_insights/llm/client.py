"""The ``openai`` SDK client of a registry entry (OpenAI, OpenRouter or an OpenAI-compatible server)."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING

from stock_insights.llm.errors import LLMConfigurationError
from stock_insights.llm.spec import ModelSpec

if TYPE_CHECKING:
    from openai import OpenAI

    from stock_insights.settings import Settings

ClientFactory = Callable[[ModelSpec], "OpenAI"]


def default_client_factory(entry: ModelSpec, settings: Settings | None = None) -> OpenAI:
    """An ``openai.OpenAI`` client for the entry's provider, keys from the settings or the environment."""
    from openai import OpenAI

    from stock_insights.settings import get_settings

    settings = settings or get_settings()
    headers: dict[str, str] | None = None
    if entry.provider == "openai":
        key, base_url, variable = settings.OPENAI_API_KEY.get_secret_value(), settings.OPENAI_BASE_URL, "OPENAI_API_KEY"
    elif entry.provider == "openrouter":
        key, base_url = settings.OPENROUTER_API_KEY.get_secret_value(), settings.OPENROUTER_BASE_URL
        variable = "OPENROUTER_API_KEY"
        assert entry.openrouter is not None  # set by the registry's validation
        headers = entry.openrouter.headers()
    elif entry.provider == "openai_compatible":
        assert entry.base_url is not None
        base_url, variable = entry.base_url, entry.api_key_env or ""
        # Local servers often want no key, but the SDK insists on a non-empty one.
        key = (os.environ.get(entry.api_key_env, "") if entry.api_key_env else "") or "not-needed"
    else:
        raise LLMConfigurationError(f"model {entry.name}: provider {entry.provider} is not an LLM")
    if not key:
        raise LLMConfigurationError(f"model {entry.name} needs {variable}, which is not set")
    return OpenAI(
        api_key=key,
        base_url=base_url,
        max_retries=entry.sdk_max_retries,
        timeout=entry.timeout_seconds,
        default_headers=headers,
    )
