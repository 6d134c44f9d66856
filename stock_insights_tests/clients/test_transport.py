"""The shared transport under every upstream client: retries, Retry-After, limiters, the error envelope, masking."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import httpx
import pytest

from stock_insights.clients.dates import parse_pub_date
from stock_insights.clients.errors import SourceAuthError, SourceError, SourceTransportError
from stock_insights.clients.logs import redact_headers
from stock_insights.clients.ratelimit import SlidingWindowLimiter
from stock_insights.clients.transport import Call, Repeat, Retry, Transport


def transport(handler: Callable[[httpx.Request], httpx.Response], **kwargs) -> tuple[Transport, list[float]]:  # type: ignore[no-untyped-def]
    sleeps: list[float] = []
    http = httpx.Client(transport=httpx.MockTransport(handler))
    return Transport("Test", http=http, sleep=sleeps.append, **kwargs), sleeps


def answers(*responses: httpx.Response) -> Callable[[httpx.Request], httpx.Response]:
    queue = list(responses)
    return lambda request: queue.pop(0)


def test_server_errors_are_retried_with_backoff_then_raised_as_retryable() -> None:
    sender, sleeps = transport(answers(*[httpx.Response(503)] * 3), max_attempts=3)
    with pytest.raises(SourceTransportError, match=r"Test: feed answered HTTP 503 \(3 attempts\)$") as raised:
        sender.send("GET", "http://up.test/feed", what="feed")
    assert raised.value.retryable and raised.value.status == 503 and raised.value.source == "Test"
    assert sleeps == [1.0, 2.0] and sender.stats == {"requests": 3, "retries": 3}


def test_client_errors_are_final() -> None:
    sender, _ = transport(answers(httpx.Response(404), httpx.Response(401)))
    with pytest.raises(SourceError, match="feed answered HTTP 404") as raised:
        sender.send("GET", "http://up.test/feed", what="feed")
    assert not raised.value.retryable and raised.value.status == 404
    with pytest.raises(SourceAuthError):
        sender.send("GET", "http://up.test/feed", what="feed")
    assert sender.stats["retries"] == 0


def test_retry_after_lengthens_the_wait_up_to_the_cap() -> None:
    sender, sleeps = transport(
        answers(
            httpx.Response(503, headers={"Retry-After": "7"}),
            httpx.Response(429, headers={"Retry-After": "3600"}),
            httpx.Response(200, text="ok"),
        ),
        max_attempts=3,
        max_retry_after=30.0,
    )
    assert sender.send("GET", "http://up.test/x", what="x").text == "ok"
    assert sleeps == [7.0, 30.0]


def test_repeat_spends_no_attempt_and_classifiers_keep_per_call_tallies() -> None:
    sender, sleeps = transport(answers(*[httpx.Response(200, text="busy")] * 3, httpx.Response(200, text="done")),
                               max_attempts=1, counters=["rate_limited"])

    def classify(response: httpx.Response, call: Call) -> str | Repeat | Retry:
        if response.text == "busy":
            sender.count("rate_limited")
            return Repeat(0.1 * call.tally("busy"))
        return response.text

    assert sender.send("GET", "http://up.test/x", what="x", classify=classify) == "done"
    assert sleeps == pytest.approx([0.1, 0.2, 0.3])
    assert sender.stats == {"requests": 4, "retries": 0, "rate_limited": 3}


def test_timeouts_and_connection_failures_are_retried() -> None:
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        if len(calls) == 1:
            raise httpx.ReadTimeout("slow", request=request)
        if len(calls) == 2:
            raise httpx.ConnectError("refused", request=request)
        return httpx.Response(200)

    sender, sleeps = transport(handler, max_attempts=3)
    assert sender.send("GET", "http://up.test/x", what="x").status_code == 200
    assert len(sleeps) == 2
    sender, _ = transport(lambda r: (_ for _ in ()).throw(httpx.ReadTimeout("slow", request=r)), max_attempts=2)
    with pytest.raises(SourceTransportError, match=r"x timed out \(2 attempts\)"):
        sender.send("GET", "http://up.test/x", what="x")


def test_both_kinds_of_limiter_are_taken_once_per_attempt() -> None:
    taken: list[str] = []

    class Spacing:
        def acquire(self) -> None:
            taken.append("acquire")

    class Window:
        @contextlib.contextmanager
        def slot(self) -> Iterator[None]:
            taken.append("open")
            yield
            taken.append("close")

    for limiter in (Spacing(), Window()):
        sender, _ = transport(answers(httpx.Response(502), httpx.Response(200)), limiter=limiter)
        sender.send("GET", "http://up.test/x", what="x")
    assert taken == ["acquire", "acquire", "open", "close", "open", "close"]


def test_secrets_stay_out_of_errors_and_logs(caplog: pytest.LogCaptureFixture) -> None:
    sender, _ = transport(answers(*[httpx.Response(500)] * 2), max_attempts=2)
    url = "http://up.test/api/list.json?crtfc_key=SECRETKEY123&page=1"
    with caplog.at_level(logging.DEBUG), pytest.raises(SourceTransportError) as raised:
        sender.send("GET", url, what=url, headers={"appsecret": "SECRETKEY123", "tr_id": "FHK"})
    assert "SECRETKEY123" not in str(raised.value) and "crtfc_key=***" in str(raised.value)
    assert "SECRETKEY123" not in caplog.text and "'tr_id': 'FHK'" in caplog.text
    assert redact_headers({"X-Naver-Client-Secret": "s", "Authorization": "Bearer t", "Accept": "a"}) == {
        "X-Naver-Client-Secret": "***",
        "Authorization": "***",
        "Accept": "a",
    }


def test_sliding_window_limiter_allows_bursts_then_waits() -> None:
    now = [0.0]
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        now[0] += seconds

    limiter = SlidingWindowLimiter(2, 1.0, clock=lambda: now[0], sleep=sleep)
    for _ in range(3):
        limiter.acquire()
    assert waits == [1.0]


def test_pub_dates_of_every_feed_form() -> None:
    expected = datetime(2026, 9, 22, 5, 37, 38, tzinfo=UTC)
    assert parse_pub_date("Tue, 22 Sep 2026 14:37:38 +0900") == expected
    assert parse_pub_date("Tue, 22 Sep 2026 14:37:38 +09:00") == expected  # Maeil
    assert parse_pub_date("Tue, 22 Sep 2026 14:37:38 KST") == expected
    assert parse_pub_date("yesterday") is None and parse_pub_date("  ") is None
