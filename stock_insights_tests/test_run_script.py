"""A run of scripts/run.sh as a new user makes it: quiet, clean logs, no secret in any of them, and Ctrl-C
stops every process it started and frees every port.

The script runs as a terminal runs it (its own process group, which receives SIGINT as a whole on Ctrl-C)
with free ports and a data folder of its own (DAYS=0: the services, no backfill; the filing sensor still
calls OpenDART with the key). Every process of the run carries a marker in its environment, so a process
that escaped the tree (reparented after its parent died, or in a session of its own) is still found.

- One Dagster code server serves the webserver and the daemon: neither starts one of its own (the daemon used
  to replace its own every minute, the old one logging "No heartbeat received in 20 seconds, shutting down").
- Ctrl-C leaves no traceback in any log, no process and no listening port.
- No configured secret (every ``SecretStr`` setting the run exports) is in any log the run wrote.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
import uuid
from pathlib import Path

import httpx
from pydantic import SecretStr

from stock_insights.settings import PROJECT_ROOT, Settings
from stock_insights_tests.conftest import free_port

MARKER = "SI_RUN_SCRIPT_TEST"
READY_TIMEOUT = 240  # seconds: a failure deadline, not a measurement


def _marked(token: str) -> set[int]:
    """Every live process whose environment carries this run's marker."""
    found: set[int] = set()
    needle = f"{MARKER}={token}".encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if needle in (entry / "environ").read_bytes().split(b"\0"):
                stat = (entry / "stat").read_text()
                if stat.rsplit(")", 1)[1].split()[0] != "Z":  # a zombie holds no port and is about to go
                    found.add(int(entry.name))
        except OSError:
            continue
    return found


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        return True
    except OSError:
        return False


def _kill_all(pids: set[int]) -> None:
    for pid in pids:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)


SENSOR_TIMEOUT = 120
SECRET_SETTINGS = [name for name, field in Settings.model_fields.items() if field.annotation is SecretStr]


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(item.decode(errors="replace").split("=", 1) for item in raw if b"=" in item)


def _parent(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except OSError:
        return 0


def _descendants(root: int, pids: set[int]) -> set[int]:
    out = set()
    for pid in pids:
        parent = _parent(pid)
        while parent > 1:
            if parent == root:
                out.add(pid)
                break
            parent = _parent(parent)
    return out


def _wait(condition, deadline: float, what: str, log: Path, run: subprocess.Popen) -> None:  # type: ignore[no-untyped-def]
    while not condition():
        assert run.poll() is None, f"run.sh ended while waiting for {what}:\n{log.read_text(errors='replace')[-3000:]}"
        assert time.monotonic() < deadline, f"{what}:\n{log.read_text(errors='replace')[-3000:]}"
        time.sleep(0.5)


def test_a_first_run_is_quiet_logs_no_secret_and_ctrl_c_stops_every_process(tmp_path: Path) -> None:
    token = uuid.uuid4().hex
    names = ("SANDBOX_PORT", "MILVUS_PORT", "DAGSTER_PORT", "DAGSTER_CODE_PORT", "API_PORT")
    ports = {name: free_port() for name in names}
    assert len(set(ports.values())) == len(ports)
    data = tmp_path / "data"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "MILVUS_URI", "DAGSTER_HOME"))},
        **{k: str(v) for k, v in ports.items()},
        MARKER: token,
        "DAYS": "0",
        "DATA_DIR": str(data),
        "DATABASE_URL": f"sqlite:///{data / 'stock_insights.db'}",
        "REDIS_URL": "",
        "STOCK_UNIVERSE": "005930,000660",
    }
    log = tmp_path / "run.log"
    with log.open("wb") as out:
        run = subprocess.Popen(["bash", "scripts/run.sh"], cwd=PROJECT_ROOT, env=env, stdout=out,
                               stderr=subprocess.STDOUT, start_new_session=True)
    seen: set[int] = set()
    try:
        _wait(lambda: "Ready" in log.read_text(errors="replace"), time.monotonic() + READY_TIMEOUT, "Ready", log, run)
        seen = _marked(token)
        by_command = {pid: _cmdline(pid) for pid in seen}
        code_servers = [pid for pid, cmd in by_command.items() if "code-server start" in cmd]
        daemon = [pid for pid, cmd in by_command.items() if "dagster-daemon run" in cmd]
        webserver = [pid for pid, cmd in by_command.items() if "dagster-webserver" in cmd]
        assert len(code_servers) == 1 and len(daemon) == 1 and len(webserver) == 1, by_command
        assert all(_listening(port) for port in ports.values()), ports
        assert len(seen - {run.pid}) >= 6, by_command  # sandbox, milvus, code server, webserver, daemon, api
        for service in (*daemon, *webserver):
            spawned = [by_command[p] for p in _descendants(service, seen) if "dagster" in by_command[p]]
            assert not spawned, f"{by_command[service]} started code servers of its own: {spawned}"

        # The secrets this run configured, as its services see them.
        secrets = {name: value for name, value in _environ(code_servers[0]).items()
                   if name in SECRET_SETTINGS and len(value) >= 6}
        assert {"DART_API_KEY", "KIS_APP_KEY", "KIS_APP_SECRET", "API_JWT_SECRET"} <= set(secrets), sorted(secrets)

        # The run uses them: the filing sensor asks OpenDART (key in the query), the API signs a token.
        sandbox_log = data / "logs" / "sandbox.log"
        _wait(lambda: "/api/list.json" in sandbox_log.read_text(errors="replace"),
              time.monotonic() + SENSOR_TIMEOUT, "the filing sensor's OpenDART call", log, run)
        api = f"http://127.0.0.1:{ports['API_PORT']}"
        credentials = {"email": "first@example.com", "password": "correct horse battery staple"}
        assert httpx.post(f"{api}/api/v1/auth/register", json=credentials, timeout=30).status_code == 201
        signed_in = httpx.post(f"{api}/api/v1/auth/token",
                               data={"username": credentials["email"], "password": credentials["password"]},
                               timeout=30)
        assert signed_in.status_code == 200, signed_in.text

        os.killpg(run.pid, signal.SIGINT)  # what a terminal's Ctrl-C does: the whole foreground group
        code = run.wait(timeout=60)
        text = log.read_text(errors="replace")
        assert code == 130 and "stopped." in text, text[-2000:]
        left = _marked(token)
        assert not left, f"processes of the run still alive: {left}\n{text[-2000:]}"
        assert not [name for name, port in ports.items() if _listening(port)]

        logs = [p for p in data.rglob("*") if p.is_file() and (p.suffix in (".log", ".out", ".err") or
                                                                 "logs" in p.parts)]
        assert {p.name for p in (data / "logs").iterdir()} >= {"sandbox.log", "dagster-daemon.log",
                                                               "dagster-code-server.log", "api.log"}
        for path in [log, *logs]:
            content = path.read_text(errors="replace")
            leaked = [name for name, value in secrets.items() if value in content]
            assert not leaked, f"{leaked} written to {path}"
            if path.parent == data / "logs":
                assert "Traceback" not in content, f"{path}:\n{content[-3000:]}"
                assert "No heartbeat received" not in content, path
        assert "crtfc_key=***" in sandbox_log.read_text()
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
            run.wait(timeout=10)
        _kill_all(_marked(token) | seen)
