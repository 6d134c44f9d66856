"""Settings: the documented names, validation, and secrets that stay secret."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from stock_insights.settings import PROJECT_ROOT, Settings

REQUIRED = [
    "DATABASE_URL",
    "REDIS_URL",
    "MILVUS_URI",
    "KIS_BASE_URL",
    "KIS_APP_KEY",
    "KIS_APP_SECRET",
    "KIS_RATE_LIMIT_PER_SEC",
    "DART_BASE_URL",
    "DART_API_KEY",
    "NAVER_BASE_URL",
    "NAVER_CLIENT_ID",
    "NAVER_CLIENT_SECRET",
    "HANKYUNG_FEED_URLS",
    "MAEIL_FEED_URLS",
    "REDDIT_AUTH_URL",
    "REDDIT_BASE_URL",
    "REDDIT_CLIENT_ID",
    "REDDIT_CLIENT_SECRET",
    "REDDIT_SUBREDDITS",
    "REDDIT_USER_AGENT",
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "OPENROUTER_API_KEY",
    "OPENROUTER_BASE_URL",
    "STOCK_UNIVERSE",
]


def test_every_interface_name_exists_and_is_documented() -> None:
    documented = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", (PROJECT_ROOT / ".env.example").read_text(), re.M))
    assert set(REQUIRED) <= set(Settings.model_fields)
    assert set(Settings.model_fields) <= documented, set(Settings.model_fields) - documented


def test_defaults_point_at_real_services_with_empty_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in REQUIRED:
        monkeypatch.delenv(name, raising=False)
    s = Settings(_env_file=None)
    assert s.KIS_BASE_URL == "https://openapi.koreainvestment.com:9443"
    assert s.DART_BASE_URL == "https://opendart.fss.or.kr"
    assert s.KIS_APP_KEY.get_secret_value() == "" and s.OPENAI_API_KEY.get_secret_value() == ""
    assert s.DATABASE_URL.startswith("sqlite:///") and Path(s.DATABASE_URL[10:]).parent.name == "data"
    assert s.REDIS_URL == "" and s.MILVUS_URI == "http://127.0.0.1:19530"


def test_universe_is_validated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STOCK_UNIVERSE", "005930, 000660,005930")
    assert Settings(_env_file=None).STOCK_UNIVERSE == ["005930", "000660"]
    monkeypatch.setenv("STOCK_UNIVERSE", "005930,ABC")
    with pytest.raises(ValidationError, match="6 digits"):
        Settings(_env_file=None)


def test_secrets_never_show_in_repr_or_dump(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KIS_APP_SECRET", "super-secret-value-123")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-abcdefghijklmnop")
    s = Settings(_env_file=None)
    for text in (repr(s), str(s), s.model_dump_json()):
        assert "super-secret-value-123" not in text and "sk-test-abcdefghijklmnop" not in text
