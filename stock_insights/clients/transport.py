"""One HTTP transport under every upstream client: timeouts, rate limits, retries with backoff, the error
envelope, and credentials kept out of what it logs and raises.

A client keeps only its wire format: it builds the request and gives ``Transport.send`` a *classifier*
that reads one answer and returns either

- a value: the call is done and ``send`` returns it;
- ``Retry(problem)``: a transient failure (5xx, 429 without an envelope, an HTML error page, malformed
  JSON): back off and try again; after ``max_attempts`` failures ``send`` raises ``SourceTransportError``
  ``"<what> <problem> (<n> attempts)"``;
- ``Repeat(wait)``: send again after ``wait`` seconds without spending an attempt (a rate-limit answer the
  client budgets itself through ``Call.tally``, a refreshed token, a maintenance window);

or raises a ``SourceError`` of its own (the upstream's error codes). Timeouts and connection failures
are ``Retry("timed out")`` / ``Retry("request failed (<exception>)")``. A ``Retry-After`` header (seconds
or an HTTP date) lengthens the wait before the next try, up to ``max_retry_after``.

Every attempt first takes the limiter: a ``RateLimiter`` (``.acquire()``) before the request, or a
``WindowLimiter`` (``.slot()``) around it. ``stats`` counts ``requests`` (attempts sent) and ``retries``
(failures retried or given up on); clients name their own ``counters`` and bump them with ``count``.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Self, TypeVar

import httpx

from stock_insights.clients.errors import SourceAuthError, SourceError, SourceTransportError
from stock_insights.clients.logs import redact_headers, redact_query_secrets
from stock_insights.clients.ratelimit import RateLimiter, WindowLimiter

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True)
class Backoff:
    """``min(base * 2**failures, cap)`` seconds after the ``failures``-th failure."""

    base: float = 0.5
    cap: float = 8.0

    def delay(self, failures: int) -> float:
        return min(self.base * 2**failures, self.cap)


@dataclass(frozen=True)
class Retry:
    """A transient failure: spend an attempt, back off (or wait ``wait`` seconds), try again."""

    problem: str
    wait: float | None = None


@dataclass(frozen=True)
class Repeat:
    """Send again after ``wait`` seconds without spending an attempt."""

    wait: float = 0.0


@dataclass
class Call:
    """One logical request as its classifier sees it: ``what`` names it in messages (already redacted)."""

    what: str
    max_attempts: int
    failures: int = 0
    counts: Counter[str] = field(default_factory=Counter)

    @property
    def last(self) -> bool:
        """This attempt is the last one if it fails."""
        return self.failures + 1 >= self.max_attempts

    def tally(self, name: str) -> int:
        """Count one more ``name`` (a rate-limit answer, a token refresh) in this call; the new count."""
        self.counts[name] += 1
        return self.counts[name]


Outcome = Any  # a classifier's value, Retry or Repeat
Classifier = Callable[[httpx.Response, Call], Outcome]


def json_object(response: httpx.Response) -> dict[str, Any] | None:
    """The body as a JSON object, or None (not JSON, not UTF-8, not an object)."""
    try:
        payload = response.json()
    except ValueError:  # JSONDecodeError and UnicodeDecodeError included
        return None
    return payload if isinstance(payload, dict) else None


def is_html(response: httpx.Response) -> bool:
    return "html" in response.headers.get("content-type", "")


def retry_after(response: httpx.Response | None) -> float | None:
    """Seconds a ``Retry-After`` header asks for (delta-seconds or an HTTP date), if any."""
    value = response.headers.get("retry-after", "").strip() if response is not None else ""
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - datetime.now(UTC)).total_seconds(), 0.0)


class Transport:
    """Sends the requests of one upstream client. Thread-safe: per-call state lives in ``Call``."""

    def __init__(
        self,
        source: str,
        *,
        http: httpx.Client | None = None,
        timeout: float = 10.0,
        follow_redirects: bool = False,
        limiter: RateLimiter | WindowLimiter | None = None,
        max_attempts: int = 3,
        backoff: Backoff = Backoff(),
        max_retry_after: float = 60.0,
        sleep: Callable[[float], None] = time.sleep,
        counters: Iterable[str] = (),
    ) -> None:
        self.source = source
        self.http = http or httpx.Client(timeout=timeout, follow_redirects=follow_redirects)
        self._owns_http = http is None
        self.limiter = limiter
        self.max_attempts = max_attempts
        self.backoff = backoff
        self.max_retry_after = max_retry_after
        self.sleep = sleep
        self.stats = dict.fromkeys(("requests", "retries", *counters), 0)
        self._stats_lock = threading.Lock()

    def close(self) -> None:
        if self._owns_http:
            self.http.close()

    def count(self, name: str) -> None:
        with self._stats_lock:
            self.stats[name] = self.stats.get(name, 0) + 1

    # ---- classifiers -------------------------------------------------------------------------
    def refuse_or_retry(self, response: httpx.Response, call: Call, problem: str | None = None) -> Retry:
        """A non-success answer without an envelope the client understands: 5xx and 429 are retried,
        anything else is final (401/403 as ``SourceAuthError``)."""
        status = response.status_code
        problem = problem or f"answered HTTP {status}"
        if status in (401, 403):
            raise SourceAuthError(self.source, f"{call.what} {problem}", status=status)
        if status < 500 and status != 429:
            raise SourceError(self.source, f"{call.what} {problem}", status=status)
        return Retry(problem)

    def expect_ok(self, response: httpx.Response, call: Call) -> httpx.Response:
        """The default classifier: HTTP 200 is the answer; see ``refuse_or_retry`` for the rest."""
        if response.status_code == 200:
            return response
        return self.refuse_or_retry(response, call)  # type: ignore[return-value]

    # ---- sending -----------------------------------------------------------------------------
    def send(
        self,
        method: str,
        url: str,
        *,
        what: str,
        classify: Classifier | None = None,
        prepare: Callable[[], Mapping[str, Any]] | None = None,
        **request: Any,
    ) -> Any:
        """Send until ``classify`` (default ``expect_ok``) returns a value. ``prepare`` gives request
        arguments computed afresh for each attempt (headers with a token that may have been refreshed)."""
        classify = classify or self.expect_ok
        call = Call(redact_query_secrets(what), self.max_attempts)
        while True:
            arguments = {**request, **(prepare() if prepare else {})}
            response, outcome = self._attempt(method, url, arguments, classify, call)
            if isinstance(outcome, Repeat):
                self._wait(outcome.wait, response)
            elif isinstance(outcome, Retry):
                self._failed(call, outcome, response, arguments)
            else:
                return outcome

    @contextlib.contextmanager
    def _slot(self) -> Iterator[None]:
        if self.limiter is None:
            yield
        elif hasattr(self.limiter, "slot"):
            with self.limiter.slot():
                yield
        else:
            self.limiter.acquire()
            yield

    def _attempt(
        self, method: str, url: str, arguments: dict[str, Any], classify: Classifier, call: Call
    ) -> tuple[httpx.Response | None, Outcome]:
        with self._slot():
            self.count("requests")
            try:
                response = self.http.request(method, url, **arguments)
            except httpx.TimeoutException:
                return None, Retry("timed out")
            except httpx.HTTPError as exc:
                return None, Retry(f"request failed ({type(exc).__name__})")
        return response, classify(response, call)

    def _failed(self, call: Call, retry: Retry, response: httpx.Response | None, arguments: dict[str, Any]) -> None:
        call.failures += 1
        self.count("retries")
        headers = redact_headers(arguments.get("headers"))
        log.debug("%s %s: %s; request headers %s", self.source, call.what, retry.problem, headers)
        if call.failures >= self.max_attempts:
            error = SourceTransportError(self.source, f"{call.what} {retry.problem} ({call.failures} attempts)")
            error.status = response.status_code if response is not None else None
            raise error
        log.warning(
            "%s %s %s; retrying (%d/%d)", self.source, call.what, retry.problem, call.failures, self.max_attempts
        )
        self._wait(retry.wait if retry.wait is not None else self.backoff.delay(call.failures), response)

    def _wait(self, seconds: float, response: httpx.Response | None) -> None:
        asked = retry_after(response)
        if asked is not None:
            seconds = max(seconds, min(asked, self.max_retry_after))
        if seconds > 0:
            self.sleep(seconds)


class UpstreamClient:
    """Base of the clients: one ``Transport`` (its httpx client closed with the client when owned)."""

    _transport: Transport

    @property
    def stats(self) -> dict[str, int]:
        return self._transport.stats

    def close(self) -> None:
        self._transport.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
