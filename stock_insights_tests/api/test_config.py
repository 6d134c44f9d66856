"""api.core.config reads the API settings as typed fields; a bad value is a settings error at start-up."""

from __future__ import annotations

import logging

import pytest
from pydantic import ValidationError

from api.core import config
from stock_insights.settings import Settings

LONG_SECRET = "k" * 40


def test_the_token_lifetimes_and_the_cache_ttl_are_the_settings_values() -> None:
    settings = Settings(
        API_JWT_SECRET=LONG_SECRET, API_ACCESS_TOKEN_MINUTES=30, API_REFRESH_TOKEN_DAYS=7, API_CACHE_TTL_SECONDS=60
    )
    cfg = config.api_config(settings)
    assert (cfg.access_token_minutes, cfg.refresh_token_days, cfg.cache_ttl_seconds) == (30, 7, 60)
    assert cfg.jwt_secret == LONG_SECRET and not cfg.jwt_secret_is_ephemeral


@pytest.mark.parametrize(
    ("field", "value"),
    [("API_ACCESS_TOKEN_MINUTES", 0), ("API_ACCESS_TOKEN_MINUTES", "soon"), ("API_REFRESH_TOKEN_DAYS", 400),
     ("API_CACHE_TTL_SECONDS", -5)],
)
def test_a_bad_value_is_a_settings_error_naming_the_field(field: str, value: object) -> None:
    with pytest.raises(ValidationError, match=field):
        Settings(**{field: value})


def test_no_secret_means_a_random_per_process_key_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    config._ephemeral_secret.cache_clear()
    with caplog.at_level(logging.WARNING, logger=config.__name__):
        first = config.api_config(Settings(API_JWT_SECRET=""))
        second = config.api_config(Settings(API_JWT_SECRET=""))
    assert first.jwt_secret_is_ephemeral and len(first.jwt_secret) >= 32
    assert second.jwt_secret == first.jwt_secret  # every app of the process agrees on it
    assert [r.getMessage() for r in caplog.records].count(caplog.records[0].getMessage()) == 1
    assert "API_JWT_SECRET is not set" in caplog.text


def test_a_short_secret_is_used_with_a_warning_that_does_not_show_it(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger=config.__name__):
        cfg = config.api_config(Settings(API_JWT_SECRET="short-but-set"))
    assert cfg.jwt_secret == "short-but-set" and not cfg.jwt_secret_is_ephemeral
    assert "shorter than 32 bytes" in caplog.text and "short-but-set" not in caplog.text
