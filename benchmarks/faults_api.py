"""The fault suite's API scenarios: PostgreSQL stopped, Redis stopped, Milvus restarted, under traffic.

The API runs as ``python -m api.cli serve`` on the suite's own PostgreSQL, Redis and Milvus. Client threads, each
with its own keep-alive connection, loop over a cached answer (``/stocks``, the fast path), a per-user answer and a
login (PostgreSQL and Redis), or over searches (Milvus). Per scenario: requests, 5xx other than the outage's 503,
dropped connections (no HTTP answer), stale answers and the recovery time.

Stale: PostgreSQL and Redis, the suite renames a stock through the pipeline's write path (its dataset version
moves) during the Redis outage, or as soon as PostgreSQL is back; a ``/stocks`` answer to a request started after
that commit that still shows the old name is stale. Milvus, a lexical-fallback (degraded) answer to a request
started after semantic answers came back is stale, whether it came from Milvus or from a cache.
"""

from __future__ import annotations

import itertools
import random
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from benchmarks.faults_services import Milvus, Postgres, Process, Redis, Services, port_open, wait_for
from stock_insights_tests.conftest import free_port

SECRET = "faults-benchmark-signing-key-0123456789abcdef"
ROUTES = [("GET", "/api/v1/stocks"), ("GET", "/api/v1/users/me"), ("POST", "/api/v1/auth/token")]
FORM = {"username": "reader@example.com", "password": "correct-horse-battery"}
RENAMED = "005930"
SEARCH_TEXT = "삼성전자 뉴스"


@dataclass
class Tally:
    statuses: Counter[str] = field(default_factory=Counter)
    dropped: int = 0
    requests: int = 0
    stale: int = 0
    degraded: int = 0

    @property
    def other_5xx(self) -> int:
        return sum(v for k, v in self.statuses.items() if k.startswith("5") and k != "503")

    def add(self, other: Tally) -> None:
        self.statuses.update(other.statuses)
        self.dropped += other.dropped
        self.requests += other.requests
        self.stale += other.stale
        self.degraded += other.degraded


@dataclass
class Outcome:
    """One scenario's figures, as the suite prints them."""

    name: str
    requests: int | str = "-"
    five_xx: int | str = "-"
    dropped: int | str = "-"
    stale: int | str = "-"
    lost: int | str = "-"
    duplicated: int | str = "-"
    recovery: float | str | None = "-"
    notes: list[str] = field(default_factory=list)

    def cells(self) -> list[str]:
        rec = self.recovery
        recovery = "not recovered" if rec is None else (f"{rec:.2f} s" if isinstance(rec, float) else str(rec))
        return [self.name, *(str(v) for v in (self.requests, self.five_xx, self.dropped, self.stale, self.lost,
                                                self.duplicated)), recovery]


class Traffic:
    """Client threads looping over requests until stopped; ``step(client, n)`` makes one and judges it."""

    def __init__(self, base_url: str, token: str, clients: int, step: Callable[[httpx.Client, int], Tally]) -> None:
        self.base_url, self.token, self.step = base_url, token, step
        self.tally = Tally()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(clients)]

    def _run(self) -> None:
        headers = {"Authorization": f"Bearer {self.token}"}
        with httpx.Client(base_url=self.base_url, timeout=15, headers=headers) as client:
            for n in itertools.count():
                if self._stop.is_set():
                    return
                one = self.step(client, n)
                with self._lock:
                    self.tally.add(one)

    def snapshot(self) -> Tally:
        with self._lock:
            tally, self.tally = self.tally, Tally()
            return tally

    def __enter__(self) -> Traffic:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)


def _request(client: httpx.Client, method: str, path: str, **kwargs: Any) -> tuple[str, httpx.Response | None]:
    try:
        answer = client.request(method, path, **kwargs)
    except httpx.HTTPError:
        return "dropped", None
    return str(answer.status_code), answer


def _one(status: str, **extra: int) -> Tally:
    tally = Tally(requests=1, **extra)
    if status == "dropped":
        tally.dropped = 1
    else:
        tally.statuses[status] += 1
    return tally


class Freshness:
    """The stock name the API must show to a request started after ``changed_at``."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.old: str | None = None
        self.changed_at = float("inf")
        self.generation = 0
        self.examples: list[tuple[float, dict[str, str]]] = []

    def rename(self) -> None:
        from sqlalchemy import select, update

        from stock_insights.storage.datasets import Dataset
        from stock_insights.storage.db import bump_dataset_version, make_engine, session_scope
        from stock_insights.storage.models import Stock

        engine = make_engine(self.url)
        self.generation += 1
        new = f"삼성전자 {uuid.uuid4().hex[:8]}"  # never a name an earlier scenario gave it
        with session_scope(engine) as session:
            self.old = session.execute(select(Stock.name).where(Stock.code == RENAMED)).scalar_one()
            session.execute(update(Stock).where(Stock.code == RENAMED).values(name=new))
            bump_dataset_version(session, Dataset.STOCKS)
        engine.dispose()
        self.changed_at = time.monotonic()

    def is_stale(self, started: float, answer: httpx.Response) -> bool:
        if started <= self.changed_at or self.old is None:
            return False
        names = {item.get("code"): item.get("name") for item in answer.json().get("items", [])}
        stale = names.get(RENAMED) == self.old
        if stale:
            self.examples.append((started - self.changed_at, dict(answer.headers)))
        return stale


def mixed_step(freshness: Freshness) -> Callable[[httpx.Client, int], Tally]:
    def step(client: httpx.Client, n: int) -> Tally:
        method, path = ROUTES[n % len(ROUTES)]
        started = time.monotonic()
        status, answer = _request(client, method, path, data=FORM if method == "POST" else None)
        stale = int(path.endswith("/stocks") and answer is not None and status == "200"
                    and freshness.is_stale(started, answer))
        return _one(status, stale=stale)

    return step


class Semantic:
    """Search traffic: fresh queries (each asks Milvus) and revisits of queries answered while it was away."""

    def __init__(self) -> None:
        self.back_at = float("inf")  # Milvus answers again (its launcher returned)
        self.recovered_at: float | None = None  # the first semantic answer to a request started after back_at
        self.degraded_queries: list[str] = []
        self._lock = threading.Lock()
        self._fresh = itertools.count()

    def step(self, client: httpx.Client, n: int) -> Tally:
        with self._lock:
            revisit = n % 2 == 1 and bool(self.degraded_queries)
            q = random.choice(self.degraded_queries) if revisit else f"{SEARCH_TEXT} {next(self._fresh)}"
        started = time.monotonic()
        status, answer = _request(client, "GET", "/api/v1/search", params={"q": q, "limit": 5})
        if answer is None or status != "200":
            return _one(status)
        mode = answer.json().get("mode")
        degraded = int(mode == "lexical-fallback")
        with self._lock:
            if degraded and not revisit:
                self.degraded_queries.append(q)
            if not degraded and started > self.back_at and self.recovered_at is None:
                self.recovered_at = time.monotonic()
            recovered = self.recovered_at is not None and started > self.recovered_at
        return _one(status, degraded=degraded, stale=int(degraded and recovered))


def recovery(base_url: str, token: str, since: float, service: str, limit: float = 60.0) -> float | None:
    """Seconds from ``since`` until the API uses the service again: PostgreSQL, every route answers 200 once
    in a row; Redis (answers never stopped being 200), readiness reports Redis reachable."""
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base_url, timeout=5, headers=headers) as client:
        while time.monotonic() - since < limit:
            try:
                if service == "redis":
                    ok = client.get("/health/ready").json()["checks"]["redis"]["ok"] is True
                else:
                    ok = all(
                        client.request(m, p, data=FORM if m == "POST" else None).status_code == 200 for m, p in ROUTES
                    )
                if ok:
                    return time.monotonic() - since
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
    return None


@dataclass
class ApiRig:
    """The API process and what it runs on."""

    base: str
    token: str
    url: str
    process: Process
    log: Path


def start_api(services: Services, pg: Postgres, redis: Redis, milvus_uri: str) -> ApiRig:
    from api.core.security import TokenService
    from stock_insights.storage.migrate import upgrade
    from stock_insights_tests.api.helpers import PASSWORD, make_user, seed

    url = pg.create_database("api")
    upgrade(url)
    seed(url)
    user_id = make_user(url, FORM["username"], password=PASSWORD)
    token = TokenService(SECRET, access_minutes=60, refresh_days=1).issue(user_id, "user", "").access_token
    port = free_port()
    env = {
        "DATABASE_URL": url,
        "REDIS_URL": redis.url,
        "REDIS_KEY_PREFIX": "faults",
        "API_JWT_SECRET": SECRET,
        "DATA_MODE": "simulated",
        "MILVUS_URI": milvus_uri,
        "EMBEDDER": "hashing",
    }
    log = services.root / "api.log"
    process = Process([*_python(), "-m", "api.cli", "serve", "--port", str(port)], log, env)
    services.own(process.stop)
    wait_for(lambda: port_open(port), 90, "API")
    return ApiRig(f"http://127.0.0.1:{port}", token, url, process, log)


def _python() -> list[str]:
    import sys

    return [sys.executable]


def _outage_row(name: str, down: Tally, after: Tally, rec: float | None) -> Outcome:
    total = Tally()
    total.add(down)
    total.add(after)
    statuses = ", ".join(f"{k}: {v}" for k, v in sorted(total.statuses.items()))
    return Outcome(name, total.requests, total.other_5xx, total.dropped, total.stale, recovery=rec,
                   notes=[f"statuses {statuses}"])


def service_outage(rig: ApiRig, name: str, service: Postgres | Redis, clients: int, outage: float) -> Outcome:
    """Stop the service for ``outage`` seconds under traffic, start it again, measure until 2 s after recovery."""
    freshness = Freshness(rig.url)
    kind = "redis" if isinstance(service, Redis) else "postgres"
    with Traffic(rig.base, rig.token, clients, mixed_step(freshness)) as traffic:
        time.sleep(2)
        before = traffic.snapshot()
        service.stop()
        if kind == "redis":
            time.sleep(outage / 2)
            freshness.rename()  # a change while Redis is away: the answers after it must show it
            time.sleep(outage / 2)
        else:
            time.sleep(outage)
        down = traffic.snapshot()
        service.start()
        back = time.monotonic()
        if kind == "postgres":
            freshness.rename()  # the first write after the outage: the answers after it must show it
        rec = recovery(rig.base, rig.token, back, kind)
        time.sleep(2)
        after = traffic.snapshot()
    row = _outage_row(name, down, after, rec)
    if freshness.examples:
        row.notes.append(f"stale, first: {freshness.examples[0][0]:.2f} s after the commit, "
                         f"last: {freshness.examples[-1][0]:.2f} s; headers {freshness.examples[0][1]}")
    row.notes.insert(0, f"before: {before.requests / 2:.0f} requests/s; outage {outage:g} s: "
                        f"{down.requests / outage:.0f} requests/s while down")
    return row


def milvus_restart(rig: ApiRig, milvus: Milvus, clients: int, outage: float) -> Outcome:
    """Milvus stopped for ``outage`` seconds under search traffic and started again (same port and data)."""
    semantic = Semantic()
    with Traffic(rig.base, rig.token, clients, semantic.step) as traffic:
        time.sleep(2)
        before = traffic.snapshot()
        milvus.stop()
        time.sleep(outage)
        restart_seconds = milvus.start()
        semantic.back_at = time.monotonic()
        deadline = time.monotonic() + 60
        while semantic.recovered_at is None and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(3)
        after = traffic.snapshot()
    rec = None if semantic.recovered_at is None else semantic.recovered_at - semantic.back_at
    row = _outage_row("Milvus restarted", after, Tally(), rec)
    row.notes[:0] = [
        f"before: {before.requests} searches, {before.degraded} degraded",
        f"stopped {outage:g} s + {restart_seconds:.1f} s to restart: {after.requests} searches, "
        f"{after.degraded} degraded (lexical fallback, marked as such)",
    ]
    return row


def seed_milvus(url: str, uri: str) -> None:
    from stock_insights_tests.api.test_fault_milvus import _embed_news

    _embed_news(url, uri)


def log_lines(log: Path) -> str:
    text = log.read_text(errors="replace")
    counts = {
        "database outage": text.count("database unavailable"),
        "database recovery": text.count("database reachable again"),
        "Milvus outage": text.count("semantic search unavailable"),
        "Milvus recovery": text.count("semantic search available again"),
        "tracebacks": text.count("Traceback"),
    }
    return ", ".join(f"{k} {v}" for k, v in counts.items())
