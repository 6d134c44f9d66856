"""Fault suite: the API under traffic while PostgreSQL, then Redis, is stopped and started again.

    python -m benchmarks.faults [--clients 8] [--outage 10] [--baseline 5]

Everything is its own: a PostgreSQL cluster (Debian's ``initdb``/``pg_ctl``, run as the ``postgres`` user when
this runs as root) and a ``redis-server`` on free ports in a scratch folder, and the API as
``python -m api.cli serve`` in a subprocess. Nothing shared is touched. Client threads keep-alive loop over a
mix of a cached answer (the fast path), an uncached per-user answer and a login. Per phase it prints the
requests, their statuses, 5xx other than 503, dropped connections (a request that got no HTTP answer), and
the recovery time: from the moment the stopped service is back until every route answers 200 again.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from stock_insights_tests.conftest import free_port

log = logging.getLogger("benchmarks.faults")
PG_BIN = Path("/usr/lib/postgresql/15/bin")
SECRET = "faults-benchmark-signing-key-0123456789abcdef"
ROUTES = [("GET", "/api/v1/stocks"), ("GET", "/api/v1/users/me"), ("POST", "/api/v1/auth/token")]


def _as_postgres(cmd: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


class Postgres:
    def __init__(self, root: Path) -> None:
        self.data = root / "pg"
        self.port = free_port()
        initdb = shutil.which("initdb") or str(PG_BIN / "initdb")
        self.pg_ctl = shutil.which("pg_ctl") or str(PG_BIN / "pg_ctl")
        root.chmod(0o777)
        subprocess.run(
            _as_postgres([initdb, "-D", str(self.data), "--auth=trust", "-U", "postgres", "-E", "UTF8"]),
            check=True,
            capture_output=True,
        )
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        options = f"-p {self.port} -k {self.data} -c listen_addresses=127.0.0.1"
        subprocess.run(
            _as_postgres(
                [self.pg_ctl, "-D", str(self.data), "-o", options, "-l", str(self.data / "log"), "-w", "start"]
            ),
            check=True,
            capture_output=True,
        )

    def stop(self) -> None:
        subprocess.run(
            _as_postgres([self.pg_ctl, "-D", str(self.data), "-m", "fast", "-w", "stop"]), capture_output=True
        )


class Redis:
    def __init__(self) -> None:
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _wait(lambda: _port_open(self.port), 10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


def _port_open(port: int) -> bool:
    import socket

    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _wait(ready, seconds: float) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while not ready():
        if time.monotonic() > deadline:
            raise TimeoutError("not ready in time")
        time.sleep(0.1)


@dataclass
class Tally:
    statuses: Counter[str] = field(default_factory=Counter)
    dropped: int = 0
    requests: int = 0
    last_failure: float = 0.0  # monotonic time of the last answer that was not 200


class Traffic:
    """Client threads, each with its own keep-alive connection, looping over ROUTES until stopped."""

    def __init__(self, base_url: str, token: str, clients: int) -> None:
        self.base_url, self.token, self.clients = base_url, token, clients
        self.tally = Tally()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(clients)]

    def _run(self) -> None:
        headers = {"Authorization": f"Bearer {self.token}"}
        form = {"username": "reader@example.com", "password": "correct-horse-battery"}
        with httpx.Client(base_url=self.base_url, timeout=15, headers=headers) as client:
            n = 0
            while not self._stop.is_set():
                method, path = ROUTES[n % len(ROUTES)]
                n += 1
                try:
                    answer = client.request(method, path, data=form if method == "POST" else None)
                    status = str(answer.status_code)
                except httpx.HTTPError:
                    status = "dropped"
                with self._lock:
                    self.tally.requests += 1
                    if status == "dropped":
                        self.tally.dropped += 1
                    else:
                        self.tally.statuses[status] += 1
                    if status != "200":
                        self.tally.last_failure = time.monotonic()

    def snapshot(self) -> Tally:
        with self._lock:
            t = self.tally
            self.tally = Tally(last_failure=t.last_failure)
            return t

    def __enter__(self) -> Traffic:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=20)


def _recovery(base_url: str, token: str, since: float, service: str, limit: float = 60.0) -> float | None:
    """Seconds from ``since`` until the API uses the service again: PostgreSQL, every route answers 200 once
    in a row; Redis (answers never stopped being 200), readiness reports Redis reachable."""
    headers = {"Authorization": f"Bearer {token}"}
    form = {"username": "reader@example.com", "password": "correct-horse-battery"}
    with httpx.Client(base_url=base_url, timeout=5, headers=headers) as client:
        while time.monotonic() - since < limit:
            try:
                if service == "redis":
                    ok = client.get("/health/ready").json()["checks"]["redis"]["ok"] is True
                else:
                    ok = all(
                        client.request(m, p, data=form if m == "POST" else None).status_code == 200 for m, p in ROUTES
                    )
                if ok:
                    return time.monotonic() - since
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
    return None


def _row(phase: str, tally: Tally, recovery: float | None, recovered: bool = False) -> str:
    other_5xx = sum(v for k, v in tally.statuses.items() if k.startswith("5") and k != "503")
    statuses = ", ".join(f"{k}: {v}" for k, v in sorted(tally.statuses.items()))
    missing = "-" if phase == "baseline" or recovered else "not recovered"
    rec = missing if recovery is None else f"{recovery:.2f} s"
    return f"{phase:<22} {tally.requests:>8} {other_5xx:>10} {tally.dropped:>8} {rec:>14}   {statuses}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.faults", description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--outage", type=float, default=10.0, help="seconds each service stays stopped")
    parser.add_argument("--baseline", type=float, default=5.0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

    root = Path(tempfile.mkdtemp(prefix="si-faults-"))
    pg, redis = Postgres(root), Redis()
    api: subprocess.Popen[bytes] | None = None
    rows: list[str] = []
    try:
        pg.start()
        redis.start()
        from api.core.security import TokenService
        from stock_insights.storage.migrate import upgrade
        from stock_insights_tests.api.helpers import PASSWORD, make_user, seed

        upgrade(pg.url)
        seed(pg.url)
        user_id = make_user(pg.url, "reader@example.com", password=PASSWORD)
        token = TokenService(SECRET, access_minutes=60, refresh_days=1).issue(user_id, "user", "").access_token
        port = free_port()
        env = {
            **os.environ,
            "DATABASE_URL": pg.url,
            "REDIS_URL": redis.url,
            "REDIS_KEY_PREFIX": "faults",
            "API_JWT_SECRET": SECRET,
            "DATA_MODE": "simulated",
            "MILVUS_URI": f"http://127.0.0.1:{free_port()}",
        }
        api_log = open(root / "api.log", "wb")  # noqa: SIM115 - closed with the process
        api = subprocess.Popen(
            [sys.executable, "-m", "api.cli", "serve", "--port", str(port)], env=env, stdout=api_log, stderr=api_log
        )
        base = f"http://127.0.0.1:{port}"
        _wait(lambda: _port_open(port), 60)
        with Traffic(base, token, args.clients) as traffic:
            time.sleep(args.baseline)
            rows.append(_row("baseline", traffic.snapshot(), None))
            for name, kind, service in (("PostgreSQL stopped", "postgres", pg), ("Redis stopped", "redis", redis)):
                service.stop()
                time.sleep(args.outage)
                down = traffic.snapshot()
                service.start()
                back = time.monotonic()
                recovery = _recovery(base, token, back, kind)
                time.sleep(2)
                after = traffic.snapshot()
                rows.append(_row(name, down, recovery))
                rows.append(_row("  after restart", after, None, recovered=True))
        api.terminate()
        api.wait(timeout=20)
        api_log.close()
        text = (root / "api.log").read_text(errors="replace")
        print(
            f"\nAPI log: {text.count('database unavailable')} outage line(s), "
            f"{text.count('database reachable again')} recovery line(s), "
            f"{text.count('Traceback')} traceback(s), {text.count('Exception in ASGI application')} unhandled"
        )
    finally:
        if api is not None and api.poll() is None:
            api.kill()
        redis.stop()
        pg.stop()
        shutil.rmtree(root, ignore_errors=True)
    print(f"\n{args.clients} clients, keep-alive, routes: {', '.join(p for _, p in ROUTES)}; outage {args.outage:g} s")
    print(f"{'phase':<22} {'requests':>8} {'5xx≠503':>10} {'dropped':>8} {'recovery':>14}   statuses")
    for row in rows:
        print(row)
    return 0


if __name__ == "__main__":
    sys.exit(main())
