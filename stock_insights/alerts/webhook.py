"""Webhook delivery: Slack-compatible JSON over httpx, bounded retries, never the URL's secret in a log.

Payload (Slack incoming webhooks): ``text`` is the plain fallback Slack shows in notifications, ``blocks``
the Block Kit message (a ``header`` of at most 150 characters, a ``section`` of at most 3000, a
``context`` line). Any receiver that takes JSON works; Slack answers ``200 ok``.

Retries (``DeliveryPolicy``, from the ``WEBHOOK_*`` settings): up to ``WEBHOOK_MAX_ATTEMPTS`` tries per
notification; 5xx, 429, timeouts and connection errors are retried with exponential backoff
(0.5 s, 1 s, 2 s ...), a 429's ``Retry-After`` (seconds or an HTTP date) is honoured, and a
``Retry-After`` beyond ``WEBHOOK_RETRY_AFTER_CAP_SECONDS`` ends the retries rather than hold a worker.
Any other status (400 ``invalid_payload``, 403, 404 ``channel_not_found``, 410 ``channel_is_archived``,
redirects) is final at once. Each try has ``WEBHOOK_TIMEOUT_SECONDS``.

Webhook URLs are secrets (a Slack URL's path is its credential): logs and stored errors name the host
only, and any echo of the URL or its path in an answer is scrubbed before it is kept. httpx's own INFO
line (``HTTP Request: POST <url> ...``) would print the URL: a filter on the ``httpx`` logger redacts the
URLs being delivered.

Destinations (``stock_insights.alerts.destinations``): every URL is checked again before it is sent to
(a row may predate the policy, or the policy may have changed), its host is resolved once per try and
every address must be public unless ``WEBHOOK_ALLOWED_HOSTS`` admits it; the connection then goes to
that checked address, with the name as Host and TLS SNI (certificates are verified for the name), so a
DNS answer that changes after the check (rebinding) cannot redirect it. A refused destination is final.
"""

from __future__ import annotations

import email.utils
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Hashable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar
from urllib.parse import urlsplit

import httpx

from stock_insights import clock
from stock_insights.alerts.destinations import DestinationPolicy, RefusedDestination
from stock_insights.calendar import KST

if TYPE_CHECKING:
    from stock_insights.settings import Settings

log = logging.getLogger(__name__)

HEADER_MAX = 150  # Block Kit header text
SECTION_MAX = 3000  # Block Kit section text
ERROR_MAX = 300
USER_AGENT = "stock_insights-alerts/0.1"
KIND_LABELS = {
    "disclosure": "New filing",
    "price_move": "Price move",
    "prediction_flip": "Forecast flip",
    "news_burst": "News burst",
}


def host_of(url: str) -> str:
    """What may be logged about a webhook URL: its host (and port)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or "?"
        return f"{host}:{parts.port}" if parts.port else host
    except ValueError:
        return "?"


def _scrub(text: str, url: str) -> str:
    """``text`` without the URL or its path (an echo of the request must not store the secret)."""
    parts = urlsplit(url)
    for secret in (url, parts.path + ("?" + parts.query if parts.query else ""), parts.path, parts.query):
        if secret and secret != "/":
            text = text.replace(secret, "<redacted>")
    return text


class _RedactDeliveredURLs(logging.Filter):
    """Rewrites log records that mention a URL being delivered to (httpx logs every request's URL)."""

    def __init__(self) -> None:
        super().__init__("")
        self._urls: Counter[str] = Counter()
        self._lock = threading.Lock()

    @contextmanager
    def hiding(self, url: str) -> Iterator[None]:
        with self._lock:
            self._urls[url] += 1
        try:
            yield
        finally:
            with self._lock:
                self._urls[url] -= 1
                if self._urls[url] <= 0:
                    del self._urls[url]

    def filter(self, record: logging.LogRecord) -> bool:
        with self._lock:
            urls = list(self._urls)
        if not urls:
            return True
        text = record.getMessage()
        if any(url in text or (urlsplit(url).path not in ("", "/") and urlsplit(url).path in text) for url in urls):
            for url in urls:
                text = _scrub(text.replace(url, f"{urlsplit(url).scheme}://{host_of(url)}/<redacted>"), url)
            record.msg, record.args = text, ()
        return True


_REDACT = _RedactDeliveredURLs()
if not any(isinstance(f, _RedactDeliveredURLs) for f in logging.getLogger("httpx").filters):
    logging.getLogger("httpx").addFilter(_REDACT)
else:  # a re-import: keep using the filter already installed
    _REDACT = next(f for f in logging.getLogger("httpx").filters if isinstance(f, _RedactDeliveredURLs))


def _escape(text: str) -> str:
    """Slack mrkdwn control characters (``<!channel>`` would ping everyone)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def slack_message(
    *,
    title: str,
    body: str,
    kind: str,
    code: str | None,
    occurred_at: datetime,
    link: str | None = None,
    link_label: str = "Open",
    simulated: bool = False,
) -> dict[str, Any]:
    """A Slack incoming-webhook message: ``{"text": fallback, "blocks": [header, section, context]}``."""
    section = _escape(body)
    if link:
        section += f"\n<{link.replace('&', '&amp;').replace('|', '%7C').replace('>', '%3E')}|{_escape(link_label)}>"
    context = [KIND_LABELS.get(kind, kind)]
    if code:
        context.append(code)
    context.append(f"{occurred_at.astimezone(KST):%Y-%m-%d %H:%M} KST")
    if simulated:
        context.append("simulated data")
    fallback = f"{title}\n{body}" + (f"\n{link}" if link else "")
    return {
        "text": _clip(_escape(fallback), SECTION_MAX),
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": _clip(title, HEADER_MAX), "emoji": True}},
            {"type": "section", "text": {"type": "mrkdwn", "text": _clip(section, SECTION_MAX)}},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": _escape(" · ".join(context))}]},
        ],
    }


@dataclass(frozen=True)
class DeliveryPolicy:
    max_attempts: int = 3
    timeout_seconds: float = 5.0
    backoff_seconds: float = 0.5  # first wait; doubles per retry
    retry_after_cap_seconds: float = 20.0
    concurrency: int = 8

    @classmethod
    def from_settings(cls, settings: Settings) -> DeliveryPolicy:
        return cls(
            max_attempts=settings.WEBHOOK_MAX_ATTEMPTS,
            timeout_seconds=settings.WEBHOOK_TIMEOUT_SECONDS,
            retry_after_cap_seconds=settings.WEBHOOK_RETRY_AFTER_CAP_SECONDS,
            concurrency=settings.WEBHOOK_CONCURRENCY,
        )

    def backoff(self, attempt: int) -> float:
        """Wait after failed try number ``attempt`` (1-based)."""
        return min(self.backoff_seconds * 2 ** (attempt - 1), self.retry_after_cap_seconds)


@dataclass(frozen=True)
class DeliveryResult:
    status: Literal["delivered", "failed"]
    attempts: int
    last_error: str | None = None
    http_status: int | None = None

    @property
    def delivered(self) -> bool:
        return self.status == "delivered"


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """A ``Retry-After`` header in seconds (delta-seconds or an HTTP date); None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or clock.now())).total_seconds())


class PinnedTransport(httpx.BaseTransport):
    """Connects to the address the destination policy checked, never to a second DNS answer.

    The request keeps its URL's name as the Host header (httpx set it when the request was built) and as
    the TLS server name (SNI and certificate check, httpcore's ``sni_hostname``); only the address the
    connection goes to is replaced by the resolved, checked one."""

    def __init__(self, destinations: DestinationPolicy, inner: httpx.BaseTransport | None = None) -> None:
        self.destinations = destinations
        self.inner = inner or httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        target = self.destinations.check_url(str(request.url))
        try:
            address = self.destinations.resolve(target)  # RefusedDestination propagates: final, not retried
        except OSError as exc:  # the name does not resolve (now): a connection error, retried
            raise httpx.ConnectError(f"name resolution failed ({type(exc).__name__})", request=request) from None
        if target.address is None:
            request.url = request.url.copy_with(host=str(address))
            if target.scheme == "https":
                request.extensions = {**request.extensions, "sni_hostname": target.host}
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()


class WebhookSender:
    """Posts one message with the policy's retries. ``sleep`` is injectable so tests see the waits.

    ``destinations`` (default: from the settings, ``WEBHOOK_ALLOWED_HOSTS`` and ``DATA_MODE``) decides
    which URLs may be sent to; ``transport`` is the inner transport under the address pinning."""

    def __init__(
        self,
        policy: DeliveryPolicy | None = None,
        *,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
        destinations: DestinationPolicy | None = None,
    ) -> None:
        from stock_insights.settings import get_settings

        self.policy = policy or DeliveryPolicy()
        self.sleep = sleep
        self.transport = transport
        self.destinations = destinations or DestinationPolicy.from_settings(get_settings())

    def client(self) -> httpx.Client:
        return httpx.Client(
            timeout=httpx.Timeout(self.policy.timeout_seconds),
            follow_redirects=False,  # a redirect would carry the message somewhere the user did not set
            headers={"User-Agent": USER_AGENT},
            transport=PinnedTransport(self.destinations, self.transport),
        )

    def send(self, url: str, payload: dict[str, Any], client: httpx.Client | None = None) -> DeliveryResult:
        if client is None:
            with self.client() as own:
                return self.send(url, payload, own)
        with _REDACT.hiding(url):
            return self._send(url, payload, client)

    def _send(self, url: str, payload: dict[str, Any], client: httpx.Client) -> DeliveryResult:
        policy, host = self.policy, host_of(url)
        try:
            self.destinations.check_url(url)
        except RefusedDestination as exc:
            log.warning("webhook to %s refused: %s (not sent)", host, exc)
            return DeliveryResult("failed", 0, _clip(f"destination refused: {exc}", ERROR_MAX), None)
        error, status = "not attempted", None
        attempt = 0
        for attempt in range(1, max(1, policy.max_attempts) + 1):
            wait: float | None = None
            try:
                response = client.post(url, json=payload)
            except (httpx.InvalidURL, httpx.UnsupportedProtocol):
                log.warning("webhook to %s: not a usable http(s) URL", host)
                return DeliveryResult("failed", attempt, "invalid webhook URL", None)
            except RefusedDestination as exc:  # resolved to an address the policy refuses: final
                log.warning("webhook to %s refused: %s (not sent)", host, exc)
                return DeliveryResult("failed", attempt, _clip(f"destination refused: {exc}", ERROR_MAX), None)
            except httpx.TimeoutException:
                error, status = f"timeout after {policy.timeout_seconds:g} s", None
            except httpx.TransportError as exc:
                error, status = f"connection error ({type(exc).__name__})", None
            else:
                status = response.status_code
                if 200 <= status < 300:
                    return DeliveryResult("delivered", attempt, None, status)
                snippet = " ".join(response.text[:200].split())
                error = f"HTTP {status}" + (f": {snippet}" if snippet else "")
                if status == 429:
                    wait = retry_after_seconds(response.headers.get("Retry-After"))
                    if wait is not None and wait > policy.retry_after_cap_seconds:
                        error += f" (Retry-After {wait:g} s is beyond the {policy.retry_after_cap_seconds:g} s cap)"
                        log.warning("webhook to %s: %s; not retried", host, _scrub(error, url))
                        return DeliveryResult("failed", attempt, _clip(_scrub(error, url), ERROR_MAX), status)
                elif status < 500:
                    log.warning("webhook to %s refused the message: HTTP %s (not retried)", host, status)
                    return DeliveryResult("failed", attempt, _clip(_scrub(error, url), ERROR_MAX), status)
            if attempt < policy.max_attempts:
                self.sleep(wait if wait is not None else policy.backoff(attempt))
        error = _clip(_scrub(error, url), ERROR_MAX)
        log.warning("webhook to %s failed after %d attempt(s): %s", host, attempt, error)
        return DeliveryResult("failed", attempt, error, status)


K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True)
class DeliveryJob(Generic[K]):
    key: K  # the caller's id of the message (a notification id)
    url: str
    payload: dict[str, Any]


def deliver_all(jobs: Sequence[DeliveryJob[K]], sender: WebhookSender | None = None) -> dict[K, DeliveryResult]:
    """Send every job; never raises. Jobs to one URL go in order on one worker (Slack allows about one
    message a second per webhook); different URLs go in parallel, up to the policy's concurrency."""
    sender = sender or WebhookSender()
    groups: dict[str, list[DeliveryJob[K]]] = {}
    for job in jobs:
        groups.setdefault(job.url, []).append(job)

    def run(group: list[DeliveryJob[K]]) -> list[tuple[K, DeliveryResult]]:
        out: list[tuple[K, DeliveryResult]] = []
        try:
            with sender.client() as client:
                for job in group:
                    out.append((job.key, sender.send(job.url, job.payload, client)))
        except Exception as exc:  # a bug must not fail the run nor lose the record of what was tried
            log.warning("webhook worker for %s stopped: %s", host_of(group[0].url), type(exc).__name__)
            done = {key for key, _ in out}
            out += [
                (job.key, DeliveryResult("failed", 0, f"internal error ({type(exc).__name__})"))
                for job in group
                if job.key not in done
            ]
        return out

    if not groups:
        return {}
    results: dict[K, DeliveryResult] = {}
    workers = max(1, min(sender.policy.concurrency, len(groups)))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="webhook") as pool:
        for pairs in pool.map(run, groups.values()):
            results.update(pairs)
    return results
