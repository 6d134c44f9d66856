"""scripts/run.sh stops everything it started on Ctrl-C (issue 20 §4).

The script runs as a terminal would run it: in its own process group, which receives SIGINT as a whole.
It uses free ports and a data folder of its own (DAYS=0: the services only, no backfill). Every process
of the run carries a marker in its environment, so a process that escaped the tree (reparented after its
parent died, or in a session of its own) is still found.
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

from stock_insights.settings import PROJECT_ROOT
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


def test_ctrl_c_stops_every_process_and_frees_every_port(tmp_path: Path) -> None:
    token = uuid.uuid4().hex
    ports = {name: free_port() for name in ("SANDBOX_PORT", "MILVUS_PORT", "DAGSTER_PORT", "API_PORT")}
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
        deadline = time.monotonic() + READY_TIMEOUT
        while "Ready" not in log.read_text(errors="replace"):
            assert run.poll() is None, f"run.sh ended before Ready:\n{log.read_text(errors='replace')[-3000:]}"
            assert time.monotonic() < deadline, f"run.sh not Ready:\n{log.read_text(errors='replace')[-3000:]}"
            time.sleep(0.5)
        seen = _marked(token)
        assert all(_listening(port) for port in ports.values()), ports
        services = seen - {run.pid}
        assert len(services) >= 5, services  # sandbox, milvus, webserver (+ its code server), daemon, api

        os.killpg(run.pid, signal.SIGINT)  # what a terminal's Ctrl-C does: the whole foreground group
        code = run.wait(timeout=60)

        text = log.read_text(errors="replace")
        assert code == 130, text[-2000:]
        assert "stopped." in text, text[-2000:]
        left = _marked(token)
        assert not left, f"processes of the run still alive: {left}\n{text[-2000:]}"
        assert not [name for name, port in ports.items() if _listening(port)]
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
            run.wait(timeout=10)
        _kill_all(_marked(token) | seen)
