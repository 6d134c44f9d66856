"""The fault suite's own services, each on a free port in a scratch folder, each stoppable and startable again.

PostgreSQL (Debian's ``initdb``/``pg_ctl``, run as the ``postgres`` user when this runs as root), ``redis-server``,
a Milvus standalone server (``stock_insights.embeddings.server``), the sandbox and the Dagster run workers
(``benchmarks.faults_worker``). Nothing shared is touched: not the machine's PostgreSQL or Redis, not ``data/``.
``Services`` owns every process it started and stops them all in ``close()``, which the suite calls in a
``finally`` (Ctrl-C and SIGTERM included).
"""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import httpx
import psycopg

from stock_insights_tests.conftest import free_port

PG_BIN = Path("/usr/lib/postgresql/15/bin")
SANDBOX_APP_KEY = "PSfaultsAppKey00000000000000000000000"
STOCKS = "005930,000660,035420,035720,005380,051910,068270,247540"


def _as_postgres(cmd: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


def wait_for(ready: Callable[[], bool], seconds: float, what: str = "service") -> None:
    deadline = time.monotonic() + seconds
    while not ready():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not ready within {seconds:.0f} s")
        time.sleep(0.1)


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
        self.url = self.url_of("postgres")
        self.running = False

    def url_of(self, database: str) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        options = f"-p {self.port} -k {self.data} -c listen_addresses=127.0.0.1 -c fsync=off"
        subprocess.run(
            _as_postgres(
                [self.pg_ctl, "-D", str(self.data), "-o", options, "-l", str(self.data / "log"), "-w", "start"]
            ),
            check=True,
            capture_output=True,
        )
        self.running = True

    def stop(self) -> None:
        subprocess.run(
            _as_postgres([self.pg_ctl, "-D", str(self.data), "-m", "fast", "-w", "stop"]), capture_output=True
        )
        self.running = False

    def execute(self, sql: str, database: str = "postgres") -> list[tuple[Any, ...]]:
        conninfo = f"host=127.0.0.1 port={self.port} user=postgres dbname={database} connect_timeout=5"
        with psycopg.connect(conninfo, autocommit=True) as conn:
            cursor = conn.execute(sql.encode())
            return list(cursor.fetchall()) if cursor.description else []

    def create_database(self, name: str, template: str | None = None) -> str:
        suffix = f' TEMPLATE "{template}"' if template else ""
        self.execute(f'CREATE DATABASE "{name}"{suffix}')
        return self.url_of(name)


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
        wait_for(lambda: port_open(self.port), 10, "redis-server")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


class Milvus:
    """A Milvus standalone server restartable on the same port and data folder."""

    def __init__(self, root: Path) -> None:
        self.dir = root / "milvus"
        self.port = free_port()
        self.uri = f"http://127.0.0.1:{self.port}"
        self.server: Any = None

    def start(self) -> float:
        from stock_insights.embeddings import server as milvus_server

        # The stopped server's sockets may hold the port for a moment; the launcher refuses a busy port.
        wait_for(lambda: milvus_server._port_free(self.port), 120, "Milvus port")
        t0 = time.monotonic()
        self.server = milvus_server.start("standalone", self.dir, port=self.port, timeout=180)
        return time.monotonic() - t0

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop(grace=10)
            self.server = None


class Process:
    """A child process of the suite's, logging to a file, killed with its children at the end."""

    def __init__(self, args: list[str], log: Path, env: dict[str, str], stdin: int | None = None) -> None:
        self.log = log
        self._log_file = open(log, "ab")  # noqa: SIM115 - closed in stop()
        self.popen = subprocess.Popen(
            args,
            env={**os.environ, **env},
            stdin=stdin,
            stdout=subprocess.PIPE if stdin is not None else self._log_file,
            stderr=self._log_file,
            start_new_session=True,  # Ctrl-C reaches the suite only; it stops its children itself
        )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def kill9(self) -> None:
        os.kill(self.popen.pid, signal.SIGKILL)
        self.popen.wait(timeout=10)

    def stop(self, grace: float = 10.0) -> None:
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=10)
        for stream in (self.popen.stdin, self.popen.stdout):
            if stream is not None:
                stream.close()
        self._log_file.close()


class RunWorker(Process):
    """``python -m benchmarks.faults_worker runs``: Dagster runs on request, one JSON line each way."""

    def __init__(self, log: Path, env: dict[str, str]) -> None:
        super().__init__([sys.executable, "-m", "benchmarks.faults_worker", "runs"], log, env, stdin=subprocess.PIPE)
        self._ready = False

    def _stdout(self) -> IO[bytes]:
        assert self.popen.stdout is not None
        return self.popen.stdout

    def wait_ready(self, timeout: float = 180) -> None:
        if not self._ready:
            answer = self.answer(timeout)
            if not answer.get("ready"):
                raise RuntimeError(f"run worker did not start: {answer}; log: {self.log}")
            self._ready = True

    def send(self, command: dict[str, Any]) -> None:
        self.wait_ready()
        assert self.popen.stdin is not None
        self.popen.stdin.write((json.dumps(command) + "\n").encode())
        self.popen.stdin.flush()

    def answer(self, timeout: float = 300) -> dict[str, Any]:
        """The next answer line; ``{"killed": True}`` when the process died first."""
        out = self._stdout()
        readable, _, _ = select.select([out], [], [], timeout)
        line = out.readline() if readable else b""
        if not line:
            return {"ok": False, "killed": self.popen.poll() is not None, "error": "no answer from the run worker"}
        return dict(json.loads(line))

    def run(self, command: dict[str, Any], timeout: float = 300) -> dict[str, Any]:
        self.send(command)
        return self.answer(timeout)


class Sandbox(Process):
    def __init__(self, log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        super().__init__([sys.executable, "-m", "benchmarks.faults_worker", "sandbox", "--port", str(self.port)],
                         log, {})

    def wait_ready(self) -> None:
        wait_for(lambda: port_open(self.port), 60, "sandbox")

    def fault(self, path_contains: str, kind: str, count: int = 1, seconds: float = 5.0) -> None:
        body = {"path_contains": path_contains, "kind": kind, "count": count, "seconds": seconds}
        httpx.post(f"{self.url}/_sandbox/faults", json=body, timeout=10).raise_for_status()

    def pending(self) -> list[dict[str, Any]]:
        return list(httpx.get(f"{self.url}/_sandbox/faults", timeout=10).json()["pending"])

    def clear(self) -> None:
        httpx.delete(f"{self.url}/_sandbox/faults", timeout=10).raise_for_status()

    def stats(self) -> dict[str, Any]:
        return dict(httpx.get(f"{self.url}/_sandbox/stats", timeout=10).json())

    def pipeline_env(self) -> dict[str, str]:
        """What ``scripts/run.sh`` exports: every client at the sandbox, keys of the sandbox's."""
        url = self.url
        return {
            "DATA_MODE": "simulated",
            "KIS_BASE_URL": url,
            "KIS_MASTER_BASE_URL": url,
            "KIS_APP_KEY": SANDBOX_APP_KEY,
            "KIS_APP_SECRET": "faults-sandbox-app-secret",
            "STOCK_UNIVERSE": STOCKS,
            "DART_BASE_URL": url,
            "DART_API_KEY": "faults0dart0key0000000000000000000000000",
            "NAVER_BASE_URL": url,
            "NAVER_CLIENT_ID": "faults-naver-id",
            "NAVER_CLIENT_SECRET": "faults-naver-secret",
            "OPENAI_BASE_URL": f"{url}/v1",
            "OPENAI_API_KEY": "sk-faults-sandbox",
            "OPENROUTER_BASE_URL": f"{url}/openrouter/v1",
            "OPENROUTER_API_KEY": "sk-faults-sandbox",
            "EMBEDDER": "hashing",
            "REDIS_URL": "",
        }


class Services:
    """Everything the suite started, stopped in reverse order by ``close()`` (idempotent)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._stops: list[Callable[[], None]] = []

    def own(self, stop: Callable[[], None]) -> None:
        self._stops.append(stop)

    def close(self) -> None:
        while self._stops:
            stop = self._stops.pop()
            try:
                stop()
            except Exception as exc:
                print(f"warning: stopping a service failed: {exc!r}", file=sys.stderr)
