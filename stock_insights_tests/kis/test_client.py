"""The KIS client against the sandbox over real HTTP: token rules, errors, retries, paging."""

from __future__ import annotations

import logging
import threading
from datetime import date

import httpx
import pytest
from pydantic import SecretStr

from stock_insights.clients.errors import SourceAuthError, SourceDataError, SourceTransportError
from stock_insights.clients.kis import KisClient, KisError, MemoryTokenStore
from stock_insights.clients.ratelimit import LocalRateLimiter
from stock_insights.market.tokens import SqlTokenStore
from stock_insights.sandbox.market import SimulatedMarket
from stock_insights.storage.db import make_engine
from stock_insights.storage.migrate import upgrade
from stock_insights_tests.conftest import SANDBOX_APP_KEY, SANDBOX_APP_SECRET

KEY, SECRET = SecretStr(SANDBOX_APP_KEY), SecretStr(SANDBOX_APP_SECRET)


def client(base_url: str, store=None, **kwargs) -> KisClient:  # type: ignore[no-untyped-def]
    kwargs.setdefault("sleep", lambda s: None)
    return KisClient(base_url, KEY, SECRET, token_store=store or MemoryTokenStore(), **kwargs)


def fault(sandbox, kind: str, count: int = 1, **extra) -> None:  # type: ignore[no-untyped-def]
    response = httpx.post(
        f"{sandbox.url}/_sandbox/faults", json={"path_contains": "/uapi/", "kind": kind, "count": count, **extra}
    )
    response.raise_for_status()


def stats(sandbox) -> dict:  # type: ignore[no-untyped-def]
    return httpx.get(f"{sandbox.url}/_sandbox/stats").json()["kis"]


def test_daily_chart_pages_back_and_matches_the_market(sandbox) -> None:  # type: ignore[no-untyped-def]
    with client(sandbox.url) as kis:
        chart = kis.daily_chart("005930", date(2025, 6, 2), date(2026, 10, 30))
    expected = SimulatedMarket().daily_bars("005930", date(2025, 6, 2), date(2026, 10, 30))
    assert len(chart.bars) == len(expected) > 300  # more than three 100-row pages
    assert [b.close for b in chart.bars] == [float(b.close) for b in expected]
    assert chart.name == "삼성전자"
    assert kis.stats["requests"] == 4 and kis.stats["token_issued"] == 1


def test_token_is_shared_through_the_store_across_clients_and_processes(sandbox, database_url) -> None:  # type: ignore[no-untyped-def]
    upgrade(database_url)
    engine = make_engine(database_url)
    # Two clients, as two processes would be: the second must reuse the first one's token, since
    # a second issuance within a minute is refused (EGW00133).
    with client(sandbox.url, SqlTokenStore(engine)) as first:
        first.daily_chart("005930", date(2026, 10, 1), date(2026, 10, 2))
    with client(sandbox.url, SqlTokenStore(engine)) as second:
        second.daily_chart("000660", date(2026, 10, 1), date(2026, 10, 2))
    engine.dispose()
    assert first.stats["token_issued"] == 1 and second.stats["token_issued"] == 0
    assert sum(k["tokens_issued"] for k in stats(sandbox)["per_appkey"].values()) == 1


def test_expired_token_is_refreshed_once_and_the_call_retried(sandbox) -> None:  # type: ignore[no-untyped-def]
    with client(sandbox.url) as kis:
        kis.daily_chart("005930", date(2026, 10, 1), date(2026, 10, 2))
        httpx.post(f"{sandbox.url}/_sandbox/expire_tokens").raise_for_status()
        chart = kis.daily_chart("005930", date(2026, 10, 6), date(2026, 10, 7))
    assert len(chart.bars) == 2 and kis.stats["token_issued"] == 2


def test_throttled_token_issuance_waits_for_the_window(sandbox) -> None:  # type: ignore[no-untyped-def]
    # Another process took this minute's issuance; ours answers 403 EGW00133 and waits, then succeeds.
    httpx.post(
        f"{sandbox.url}/oauth2/tokenP",
        json={"grant_type": "client_credentials", "appkey": SANDBOX_APP_KEY, "appsecret": SANDBOX_APP_SECRET},
    ).raise_for_status()
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        httpx.post(f"{sandbox.url}/_sandbox/expire_tokens").raise_for_status()  # the minute passes

    with client(sandbox.url, sleep=sleep) as kis:
        kis.daily_chart("005930", date(2026, 10, 1), date(2026, 10, 2))
    # It first watched the shared store for a few seconds, then waited out the minute.
    assert waits[-1] == 61.0 and sum(waits[:-1]) <= 5.5


def test_throttled_issuance_takes_the_token_another_process_just_stored(sandbox) -> None:  # type: ignore[no-untyped-def]
    store = MemoryTokenStore()
    with client(sandbox.url, store) as other:
        other.access_token()  # "the other process" issued this minute's token ...
    issued = store.load("kis", other.fingerprint)
    store._tokens.clear()  # ... but has not stored it yet when we ask

    def sleep(seconds: float) -> None:
        store.save("kis", other.fingerprint, issued)  # now it has

    with client(sandbox.url, store, sleep=sleep) as kis:
        kis.daily_chart("005930", date(2026, 10, 1), date(2026, 10, 2))
    assert kis.stats["token_issued"] == 0


def test_throttled_token_without_a_shared_one_is_a_clear_error(sandbox) -> None:  # type: ignore[no-untyped-def]
    fault(sandbox, "token_403", path_contains="/oauth2/")
    # With one attempt, a 403 EGW00133 and no token in the shared store, the client stops with a clear error.
    with pytest.raises(KisError, match="throttled") as error, client(sandbox.url, max_attempts=1) as kis:
        kis.daily_chart("005930", date(2026, 10, 1), date(2026, 10, 2))
    assert error.value.code == "EGW00133" and error.value.status == 403


def test_rate_limit_answers_are_backed_off_and_retried(sandbox) -> None:  # type: ignore[no-untyped-def]
    fault(sandbox, "rate_limit", count=3)
    with client(sandbox.url) as kis:
        chart = kis.daily_chart("005930", date(2026, 10, 1), date(2026, 10, 2))
    assert len(chart.bars) == 2 and kis.stats["rate_limited"] == 3


@pytest.mark.parametrize("kind", ["malformed_json", "html_error"])
def test_transport_garbage_is_retried_then_a_clear_error(sandbox, kind: str) -> None:  # type: ignore[no-untyped-def]
    store = MemoryTokenStore()  # one token for both clients, as the SQL store gives every process
    fault(sandbox, kind, count=2)
    with client(sandbox.url, store) as kis:
        assert len(kis.daily_chart("005930", date(2026, 10, 1), date(2026, 10, 2)).bars) == 2
    fault(sandbox, kind, count=10)
    with pytest.raises(SourceTransportError, match="attempts"), client(sandbox.url, store) as kis:
        kis.daily_chart("005930", date(2026, 10, 1), date(2026, 10, 2))


def test_timeout_is_retried(sandbox) -> None:  # type: ignore[no-untyped-def]
    fault(sandbox, "delay", count=1, seconds=2)
    with client(sandbox.url, timeout=0.5) as kis:
        assert len(kis.daily_chart("005930", date(2026, 10, 1), date(2026, 10, 2)).bars) == 2
        assert kis.stats["retries"] == 1


def test_bad_rows_refuse_the_batch(sandbox) -> None:  # type: ignore[no-untyped-def]
    fault(sandbox, "non_numeric_price")
    with pytest.raises(SourceDataError, match="not a number"), client(sandbox.url) as kis:
        kis.daily_chart("005930", date(2026, 10, 1), date(2026, 10, 8))


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def test_kis_errors_carry_the_code_and_never_the_secret(sandbox) -> None:  # type: ignore[no-untyped-def]
    capture = _Capture()
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(capture)
    root.setLevel(logging.DEBUG)
    try:
        with client(sandbox.url) as kis, pytest.raises(KisError) as error:
            kis.get(
                "/uapi/domestic-stock/v1/quotations/inquire-daily-itemchartprice",
                "FHKST03010100",
                {"FID_COND_MRKT_DIV_CODE": "J", "FID_INPUT_ISCD": "005930"},
            )  # dates missing
    finally:
        root.removeHandler(capture)
        root.setLevel(old_level)
    assert error.value.code and SANDBOX_APP_SECRET not in str(error.value)
    logged = "\n".join(capture.lines)
    assert "oauth2/tokenP" in logged  # httpx logged the requests, headers and all went through logging
    assert SANDBOX_APP_SECRET not in logged and SANDBOX_APP_SECRET not in repr(kis.__dict__.get("_token"))


def test_missing_keys_are_refused_up_front() -> None:
    with pytest.raises(SourceAuthError, match="KIS_APP_KEY"):
        KisClient("http://127.0.0.1:1", SecretStr(""), SecretStr(""))


def test_concurrent_callers_share_one_budget_without_tripping_it(sandbox) -> None:  # type: ignore[no-untyped-def]
    """Four threads on one limiter at the sandbox's 20 req/s: no EGW00201 at all."""
    limiter = LocalRateLimiter(20)
    with client(sandbox.url, limiter=limiter) as kis:
        kis.access_token()
        errors: list[Exception] = []

        def work() -> None:
            try:
                for _ in range(6):
                    kis.daily_chart("005930", date(2026, 10, 1), date(2026, 10, 2))
            except Exception as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=work) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert not errors
    assert kis.stats["rate_limited"] == 0
