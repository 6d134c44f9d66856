"""Webhook delivery against a local HTTP receiver: Slack-compatible payload, retries, and no leaked secret."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest

from stock_insights.alerts.destinations import DestinationPolicy
from stock_insights.alerts.webhook import (
    DeliveryJob,
    DeliveryPolicy,
    WebhookSender,
    deliver_all,
    host_of,
    retry_after_seconds,
    slack_message,
)
from stock_insights_tests.alerts.conftest import Receiver, Reply
from stock_insights_tests.conftest import free_port

SECRET_PATH = "/services/T0001/B0001/s3cr3tW3bh00kT0k3n"
WHEN = datetime(2026, 10, 15, 2, 5, tzinfo=UTC)  # 11:05 KST


class Sleeps(list):
    """Records the waits instead of sleeping (no test depends on the clock)."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


# The local receivers listen on loopback: admitted by the operator's allow-list, as WEBHOOK_ALLOWED_HOSTS would.
LOOPBACK_ALLOWED = DestinationPolicy.from_entries(["127.0.0.1"], allow_http=False)


def _sender(sleeps: Sleeps, **policy) -> WebhookSender:  # type: ignore[no-untyped-def]
    defaults = {"max_attempts": 3, "timeout_seconds": 5.0, "backoff_seconds": 0.5, "retry_after_cap_seconds": 20.0}
    return WebhookSender(DeliveryPolicy(**{**defaults, **policy}), sleep=sleeps, destinations=LOOPBACK_ALLOWED)


def _message() -> dict:
    return slack_message(
        title="삼성전자 (005930): 주요사항보고서(자기주식취득결정)",
        body="New DART filing of 삼성전자 (005930).",
        kind="disclosure",
        code="005930",
        occurred_at=WHEN,
        link="https://dart.fss.or.kr/dsaf001/main.do?rcept_no=20261015000123",
        link_label="View on DART",
        simulated=True,
    )


def test_payload_is_slack_incoming_webhook_json() -> None:
    message = _message()
    assert set(message) == {"text", "blocks"}
    assert "삼성전자" in message["text"] and "rcept_no=20261015000123" in message["text"]
    header, section, context = message["blocks"]
    assert header == {
        "type": "header",
        "text": {"type": "plain_text", "text": "삼성전자 (005930): 주요사항보고서(자기주식취득결정)", "emoji": True},
    }
    assert section["type"] == "section" and section["text"]["type"] == "mrkdwn"
    assert section["text"]["text"].endswith(
        "<https://dart.fss.or.kr/dsaf001/main.do?rcept_no=20261015000123|View on DART>"
    )
    assert context["type"] == "context"
    assert context["elements"][0]["text"] == "New filing · 005930 · 2026-10-15 11:05 KST · simulated data"


def test_payload_escapes_mrkdwn_and_respects_block_limits() -> None:
    message = slack_message(
        title="x" * 400, body="<!channel> & <@U123> " + "y" * 5000, kind="news_burst", code=None, occurred_at=WHEN
    )
    header, section, _ = message["blocks"]
    assert len(header["text"]["text"]) == 150 and header["text"]["text"].endswith("…")
    assert len(section["text"]["text"]) <= 3000
    assert section["text"]["text"].startswith("&lt;!channel&gt; &amp; &lt;@U123&gt;")
    assert "<!channel>" not in message["text"]


def test_delivered_on_the_first_try(receiver: Receiver) -> None:
    sleeps = Sleeps()
    result = _sender(sleeps).send(receiver.url + SECRET_PATH, _message())
    assert (result.status, result.attempts, result.http_status, result.last_error) == ("delivered", 1, 200, None)
    (request,) = receiver.requests
    assert request.path == SECRET_PATH and request.payload == _message()
    assert request.headers["content-type"] == "application/json"
    assert sleeps == []


def test_500_then_200_is_retried_once(receiver: Receiver) -> None:
    receiver.answer(Reply(500, "rollup_error"), Reply(200))
    sleeps = Sleeps()
    result = _sender(sleeps).send(receiver.url + SECRET_PATH, _message())
    assert result.delivered and result.attempts == 2
    assert len(receiver.requests) == 2 and sleeps == [0.5]


def test_always_500_fails_after_the_last_try(receiver: Receiver) -> None:
    receiver.default = Reply(500, "rollup_error")
    sleeps = Sleeps()
    result = _sender(sleeps, max_attempts=4).send(receiver.url + SECRET_PATH, _message())
    assert (result.status, result.attempts, result.http_status) == ("failed", 4, 500)
    assert result.last_error == "HTTP 500: rollup_error"
    assert len(receiver.requests) == 4
    assert sleeps == [0.5, 1.0, 2.0]  # exponential backoff between the tries, none after the last


def test_429_honours_retry_after(receiver: Receiver) -> None:
    receiver.answer(Reply(429, "rate_limited", {"Retry-After": "7"}), Reply(200))
    sleeps = Sleeps()
    result = _sender(sleeps).send(receiver.url + SECRET_PATH, _message())
    assert result.delivered and result.attempts == 2
    assert sleeps == [7.0]


def test_429_beyond_the_cap_ends_the_retries(receiver: Receiver) -> None:
    receiver.default = Reply(429, "rate_limited", {"Retry-After": "3600"})
    sleeps = Sleeps()
    result = _sender(sleeps).send(receiver.url + SECRET_PATH, _message())
    assert (result.status, result.attempts, result.http_status) == ("failed", 1, 429)
    assert "beyond the 20 s cap" in (result.last_error or "")
    assert len(receiver.requests) == 1 and sleeps == []


def test_429_without_retry_after_backs_off(receiver: Receiver) -> None:
    receiver.answer(Reply(429, "rate_limited"), Reply(429, "rate_limited"), Reply(200))
    sleeps = Sleeps()
    result = _sender(sleeps).send(receiver.url + SECRET_PATH, _message())
    assert result.delivered and result.attempts == 3 and sleeps == [0.5, 1.0]


@pytest.mark.parametrize(
    ("status", "body"),
    [(400, "invalid_payload"), (403, "action_prohibited"), (404, "channel_not_found"), (410, "channel_is_archived")],
)
def test_other_4xx_are_not_retried(receiver: Receiver, status: int, body: str) -> None:
    receiver.default = Reply(status, body)
    sleeps = Sleeps()
    result = _sender(sleeps).send(receiver.url + SECRET_PATH, _message())
    assert (result.status, result.attempts, result.http_status) == ("failed", 1, status)
    assert result.last_error == f"HTTP {status}: {body}"
    assert len(receiver.requests) == 1 and sleeps == []


def test_a_redirect_is_not_followed(receiver: Receiver) -> None:
    receiver.answer(Reply(302, "", {"Location": receiver.url + "/elsewhere"}))
    result = _sender(Sleeps()).send(receiver.url + SECRET_PATH, _message())
    assert (result.status, result.attempts, result.http_status) == ("failed", 1, 302)
    assert receiver.paths() == [SECRET_PATH]


def test_a_slow_receiver_times_out_and_is_retried(receiver: Receiver) -> None:
    receiver.default = Reply(200, delay=3.0)
    sleeps = Sleeps()
    result = _sender(sleeps, max_attempts=2, timeout_seconds=0.3).send(receiver.url + SECRET_PATH, _message())
    assert (result.status, result.attempts, result.http_status) == ("failed", 2, None)
    assert result.last_error == "timeout after 0.3 s"
    assert sleeps == [0.5]


def test_connection_refused_is_retried_then_failed() -> None:
    sleeps = Sleeps()
    url = f"http://127.0.0.1:{free_port()}{SECRET_PATH}"  # nobody listens there
    result = _sender(sleeps).send(url, _message())
    assert (result.status, result.attempts) == ("failed", 3)
    assert result.last_error == "connection error (ConnectError)"
    assert sleeps == [0.5, 1.0]


def test_the_secret_path_is_never_logged_nor_stored(receiver: Receiver, caplog: pytest.LogCaptureFixture) -> None:
    # A receiver that echoes the request's path in its error answer.
    receiver.default = Reply(500, "no route for {path}")
    caplog.set_level(logging.DEBUG)
    url = receiver.url + SECRET_PATH
    result = _sender(Sleeps()).send(url, _message())
    assert not result.delivered
    assert "s3cr3tW3bh00kT0k3n" not in (result.last_error or "") and "<redacted>" in (result.last_error or "")
    assert "s3cr3tW3bh00kT0k3n" not in caplog.text
    assert host_of(url) in caplog.text  # the host is what a log may name
    assert host_of(url) == f"127.0.0.1:{receiver.url.rsplit(':', 1)[1]}"


def test_retry_after_as_seconds_or_http_date() -> None:
    now = datetime(2026, 10, 15, 2, 0, tzinfo=UTC)
    assert retry_after_seconds("12", now) == 12.0
    assert retry_after_seconds("Thu, 15 Oct 2026 02:00:30 GMT", now) == 30.0
    assert retry_after_seconds("Thu, 15 Oct 2026 01:00:00 GMT", now) == 0.0
    assert retry_after_seconds("soon", now) is None and retry_after_seconds(None, now) is None
    assert retry_after_seconds("-5", now) == 0.0
    assert (now + timedelta(seconds=30)).minute == 0  # the date above is within the same minute


def test_deliver_all_keeps_order_per_url_and_records_every_job(receiver: Receiver) -> None:
    receiver.answer()  # default 200 for all but the broken hook
    ok_a, ok_b = receiver.url + "/hooks/a", receiver.url + "/hooks/b"
    broken = f"http://127.0.0.1:{free_port()}/hooks/c"
    jobs = [
        DeliveryJob(key=i, url=url, payload={"text": f"{url[-1]}{i}"})
        for i, url in enumerate([ok_a, ok_b, ok_a, broken, ok_a, ok_b])
    ]
    sleeps = Sleeps()
    results = deliver_all(jobs, _sender(sleeps, max_attempts=2))
    assert set(results) == {0, 1, 2, 3, 4, 5}
    assert [k for k, r in sorted(results.items()) if not r.delivered] == [3]
    assert results[3].attempts == 2
    a_texts = [r.payload["text"] for r in receiver.requests if r.path == "/hooks/a"]
    assert a_texts == ["a0", "a2", "a4"]  # one URL, one worker, in order
    assert sorted(r.payload["text"] for r in receiver.requests if r.path == "/hooks/b") == ["b1", "b5"]


def test_deliver_all_with_nothing_to_send() -> None:
    assert deliver_all([]) == {}
