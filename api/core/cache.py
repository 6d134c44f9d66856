"""A read-answer cache that is never stale.

Every cacheable answer is stored under a key made of the route, its resolved parameters and the
*versions* of the datasets it reads (``dataset_versions``, bumped by every pipeline write in the
same transaction as the write). A bump changes the key, so an old answer can never be served for
new data; old entries simply age out. Because an entry under a given key never changes, it may be
kept in two tiers without any invalidation protocol: an in-process LRU (hot path, no I/O) in front
of Redis (shared by workers). Redis is optional and guarded by a circuit breaker.

Versions are read once per request, from the database; there is no time-based micro-cache, so any
bump committed before a request arrives is visible to that request. What keeps this cheap (measured:
through a pooled async SQLAlchemy session the read cost ~600 us of CPU, more than the whole cached
answer otherwise):

- SQLite: a synchronous read on a dedicated autocommit connection, gated by ``PRAGMA data_version``
  (which changes only when another connection commits): a few microseconds, no suspension.
- PostgreSQL: a *coalescing* reader on a dedicated psycopg connection. A request joins a read that
  starts after it arrived (never one already in flight, which might have missed a bump committed
  just before the request came in), so one query serves every request waiting at that moment.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, cast

from starlette.responses import Response

from api.core.outage import DatabaseHealth, is_database_error
from api.core.redis import RedisGate

log = logging.getLogger(__name__)

# Entries bigger than this are served but not kept: a few huge answers must not evict everything.
MAX_ENTRY_BYTES = 2 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class CachedAnswer:
    body: bytes
    etag: str  # quoted strong validator, e.g. '"3f2a..."'

    @classmethod
    def of(cls, body: bytes) -> CachedAnswer:
        return cls(body=body, etag=f'"{hashlib.blake2b(body, digest_size=16).hexdigest()}"')

    def dumps(self) -> bytes:
        return self.etag.encode() + b"\n" + self.body

    @classmethod
    def loads(cls, raw: bytes) -> CachedAnswer | None:
        etag, sep, body = raw.partition(b"\n")
        if not sep or not etag.startswith(b'"'):
            return None
        return cls(body=body, etag=etag.decode())


# Private: the answer depends on the bearer token (a shared cache must not keep it); no-cache: the
# browser revalidates every time (an ETag match costs a 304 and no body), so nothing is ever stale.
CACHEABLE = "private, no-cache"


def _etag_matches(header: str | None, etag: str) -> bool:
    if not header:
        return False
    if header.strip() == "*":
        return True
    # If-None-Match uses the weak comparison (RFC 9110 section 13.1.2): W/ prefixes are ignored.
    return any(tag.strip().removeprefix("W/") == etag for tag in header.split(","))


def answer_response(answer: CachedAnswer, if_none_match: str | None) -> Response:
    """A cached answer as HTTP: 200 with the body, or 304 when the client's ETag matches. The one place
    the answer's headers are made (the normal path and the fast path both call it)."""
    headers = {"ETag": answer.etag, "Cache-Control": CACHEABLE, "Vary": "Authorization"}
    if _etag_matches(if_none_match, answer.etag):
        return Response(status_code=304, headers=headers)
    return Response(content=answer.body, media_type="application/json", headers=headers)


class MemoryCache:
    """An LRU with a TTL and a byte budget; single-threaded (the event loop), so no lock."""

    def __init__(self, *, ttl_seconds: float, max_entries: int = 4096, max_bytes: int = 64 * 1024 * 1024) -> None:
        self.ttl = ttl_seconds
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._bytes = 0
        self._items: OrderedDict[str, tuple[float, CachedAnswer]] = OrderedDict()

    def get(self, key: str) -> CachedAnswer | None:
        item = self._items.get(key)
        if item is None:
            return None
        expires, answer = item
        if expires < time.monotonic():
            self._drop(key)
            return None
        self._items.move_to_end(key)
        return answer

    def set(self, key: str, answer: CachedAnswer, ttl: float | None = None) -> None:
        size = len(answer.body)
        if size > MAX_ENTRY_BYTES:
            return
        if key in self._items:
            self._drop(key)
        self._items[key] = (time.monotonic() + (ttl or self.ttl), answer)
        self._bytes += size
        while self._items and (len(self._items) > self.max_entries or self._bytes > self.max_bytes):
            self._drop(next(iter(self._items)))

    def _drop(self, key: str) -> None:
        _, answer = self._items.pop(key)
        self._bytes -= len(answer.body)

    def __len__(self) -> int:
        return len(self._items)

    def clear(self) -> None:
        self._items.clear()
        self._bytes = 0


class ResponseCache:
    """In-process LRU in front of Redis; both hold immutable entries under versioned keys."""

    def __init__(self, gate: RedisGate, *, ttl_seconds: int, namespace: str) -> None:
        self.gate = gate
        self.ttl = ttl_seconds
        self.namespace = namespace
        self.memory = MemoryCache(ttl_seconds=ttl_seconds)

    def key(self, name: str, params: Mapping[str, Any], versions: Mapping[str, int]) -> str:
        # repr is deterministic for the values keys are made of (str, int, bool, None, date, datetime
        # and dicts built in a fixed order) and several times cheaper than json.dumps.
        material = repr((sorted(params.items()), sorted(versions.items())))
        return f"{self.namespace}:{name}:{hashlib.blake2b(material.encode(), digest_size=20).hexdigest()}"

    async def get(self, key: str) -> CachedAnswer | None:
        answer = self.memory.get(key)
        if answer is not None or not self.gate.available:
            return answer
        raw = await self.gate.call(lambda redis: redis.get(key))
        if raw is None:
            return None
        answer = CachedAnswer.loads(cast(bytes, raw))  # the client does not decode responses: bytes
        if answer is not None:
            self.memory.set(key, answer)
        return answer

    async def set(self, key: str, answer: CachedAnswer) -> None:
        self.memory.set(key, answer)
        if self.gate.available and len(answer.body) <= MAX_ENTRY_BYTES:
            await self.gate.call(lambda redis: redis.set(key, answer.dumps(), ex=self.ttl))


class VersionReader:
    """Coalesces reads of ``dataset_versions`` without ever answering from a read that began earlier.

    ``read_now``, when given, is a synchronous read that is cheap enough to run on the event loop
    (SQLite: one SELECT of a ten-row table on a dedicated connection, about 10 us, with a short busy
    timeout). It avoids suspending the request at all; if it fails, the coalesced async read serves.
    """

    def __init__(
        self,
        fetch: Callable[[], Awaitable[dict[str, int]]],
        read_now: Callable[[], dict[str, int]] | None = None,
        health: DatabaseHealth | None = None,
    ) -> None:
        self.fetch = fetch
        self._read_now = read_now
        # Every request reads the versions: the read is the API's view of whether the database is up.
        self.health = health or DatabaseHealth()
        self._direct_off_until = 0.0
        self._running: asyncio.Task[dict[str, int]] | None = None
        self._queued: asyncio.Future[dict[str, int]] | None = None
        self.reads = 0  # how many queries ran (tests and the benchmark look at it)

    async def read(self) -> dict[str, int]:
        if self._read_now is not None and time.monotonic() >= self._direct_off_until:
            try:
                self.reads += 1
                versions = self._read_now()
                self.health.ok()
                return versions
            except Exception as exc:  # e.g. the file is locked for longer than the busy timeout
                log.warning("direct dataset version read failed (%s); async reads for 5 s", type(exc).__name__)
                self._direct_off_until = time.monotonic() + 5.0
        try:
            if self._running is None:
                versions = await asyncio.shield(self._start())
            else:
                # A read is in flight, but it started before this request arrived: wait for the next one.
                if self._queued is None:
                    self._queued = asyncio.get_running_loop().create_future()
                versions = await asyncio.shield(self._queued)
        except Exception as exc:
            if is_database_error(exc):
                self.health.failed(exc)
            raise
        self.health.ok()
        return versions

    def _start(self) -> asyncio.Task[dict[str, int]]:
        self.reads += 1
        task = asyncio.ensure_future(self.fetch())
        self._running = task
        task.add_done_callback(self._finished)
        return task

    def _finished(self, task: asyncio.Task[dict[str, int]]) -> None:
        self._running = None
        if not task.cancelled():
            task.exception()  # marks it retrieved: the awaiting requests got it (or were cancelled)
        queued, self._queued = self._queued, None
        if queued is None:
            return
        follow = self._start()

        def relay(done: asyncio.Task[dict[str, int]]) -> None:
            if queued.done():
                return
            if done.cancelled():
                queued.cancel()
            elif (error := done.exception()) is not None:
                queued.set_exception(error)
            else:
                queued.set_result(done.result())

        follow.add_done_callback(relay)
