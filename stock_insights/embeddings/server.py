"""Start and stop a local Milvus server: standalone (the default) or Milvus Lite (opt-in).

    python -m stock_insights.embeddings.server --data-dir data/milvus-standalone --port 19530
    python -m stock_insights.embeddings.server --kind lite --data-dir data/milvus --port 19530

``standalone`` runs the Milvus 2.3 server binary that the ``milvus`` package ships inside its wheel
(lzma-compressed; embedded etcd, local storage and RocksMQ; no Docker, nothing downloaded): HNSW indexes,
filtered search in milliseconds at 100,000 vectors. ``lite`` runs ``milvus-lite server``: FLAT only,
and a filtered search over 100,000 vectors takes seconds (see the README's figures).

Every port the server opens is chosen free on 127.0.0.1 (the gRPC port is the one asked for), the
embedded etcd included (by default it would take 2379/2380), so several servers can run side by side
on a shared machine. The binary is unpacked once per version into a cache folder (``MILVUS_BIN_CACHE``
or ``~/.cache/stock_insights``), atomically, so concurrent starts do not race.

The CLI stays in the foreground and stops the server on SIGTERM/SIGINT; ``start()`` returns a handle
whose ``stop()`` ends the server's whole process group. Both ask the kernel to end the server if the
process that started it dies (Linux), so no server outlives its owner.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import json
import lzma
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

KINDS = ("standalone", "lite")
STOP_GRACE_SECONDS = 20.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _die_with_parent() -> Callable[[], None] | None:
    """A preexec_fn that asks Linux to TERM the child when its parent dies (PR_SET_PDEATHSIG)."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)

    def preexec() -> None:
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG

    return preexec


@dataclass
class LocalMilvus:
    """A Milvus server this process started."""

    kind: str
    uri: str
    port: int
    data_dir: Path
    log_path: Path
    process: subprocess.Popen[bytes]
    own_group: bool
    startup_seconds: float = 0.0
    _log_file: object = field(default=None, repr=False)

    def stop(self, grace: float = STOP_GRACE_SECONDS) -> int | None:
        """TERM the server (its whole process group when it has one), KILL it after ``grace`` seconds."""
        proc = self.process
        if proc.poll() is None:
            self._signal(signal.SIGTERM)
            try:
                proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                self._signal(signal.SIGKILL)
                proc.wait(timeout=10)
        if self.own_group:
            # Anything the server left behind in its group (Milvus standalone runs as one process today).
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
        if self._log_file is not None:
            self._log_file.close()  # type: ignore[attr-defined]
            self._log_file = None
        return proc.returncode

    def _signal(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if self.own_group:
                os.killpg(self.process.pid, sig)
            else:
                self.process.send_signal(sig)


def probe(uri: str, timeout: float = 2.0) -> bool:
    """True when the server answers a real call (not only an open port)."""
    from pymilvus import MilvusClient

    try:
        client = MilvusClient(uri=uri, timeout=timeout)
    except Exception:
        return False
    try:
        client.list_collections()
        return True
    except Exception:
        return False
    finally:
        with contextlib.suppress(Exception):
            client.close()


# --- standalone -----------------------------------------------------------------------------------


def _milvus_package() -> Path:
    import milvus

    return Path(milvus.__file__).parent


def bin_cache_dir() -> Path:
    import milvus

    root = os.environ.get("MILVUS_BIN_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "stock_insights"
    )
    return Path(root) / f"milvus-{milvus.__version__}" / "bin"


def unpack_binaries(target: Path) -> Path:
    """Unpack the wheel's lzma-compressed server binary and libraries into ``target`` once (atomic)."""
    target.mkdir(parents=True, exist_ok=True)
    source = _milvus_package() / "data" / "bin"
    with open(target / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        for packed in sorted(source.glob("*.lzma")):
            out = target / packed.name[: -len(".lzma")]
            stamp = target / (packed.name + ".sha256")
            digest = hashlib.sha256(packed.read_bytes()).hexdigest()
            if out.exists() and stamp.exists() and stamp.read_text().strip() == digest:
                continue
            tmp = out.with_name(out.name + f".tmp{os.getpid()}")
            with lzma.open(packed) as src, open(tmp, "wb") as dst:
                while chunk := src.read(1 << 20):
                    dst.write(chunk)
            tmp.chmod(0o755)
            os.replace(tmp, out)  # never rewrite a binary another server may be running
            stamp.write_text(digest)
    return target


def _ports(data_dir: Path, port: int) -> dict[str, int]:
    """Every port but gRPC's: reuse the data folder's last choice when still free (etcd remembers its
    peer address), else new free ports."""
    import milvus

    keys = [k for k in milvus.MilvusServerConfig().configurable_items if k.endswith("_port") and k != "proxy_port"]
    keys += ["etcd_peer_port", "metrics_port"]
    saved_path = data_dir / "ports.json"
    with contextlib.suppress(OSError, ValueError):
        saved = json.loads(saved_path.read_text())
        if set(saved) == set(keys) and all(p != port and _port_free(p) for p in saved.values()):
            return {k: int(v) for k, v in saved.items()}
    chosen: dict[str, int] = {}
    while len(chosen) < len(keys):
        candidate = free_port()
        if candidate != port and candidate not in chosen.values():
            chosen[keys[len(chosen)]] = candidate
    saved_path.write_text(json.dumps(chosen))
    return chosen


def _write_config(data_dir: Path, port: int, ports: dict[str, int]) -> dict[str, str]:
    """milvus.yaml (from the package's template) and the embedded etcd's own config; returns the env."""
    import milvus

    config = milvus.MilvusServerConfig(data_dir=str(data_dir))
    template_ports = {k: v for k, v in ports.items() if k in config.configurable_items}
    config.update(proxy_port=port, **template_ports)
    # Stop within seconds, not the template's 30 minutes (run.sh and the tests KILL after their grace).
    config.set("common.gracefulStopTimeout", 5)
    # A restart waits for the last run's sessions to expire when it did not revoke them (a quick or
    # killed stop): 10 s, not the template's 30 (measured: a restart after a 0.6 s stop took 58 s).
    config.set("common.session.ttl", 10)
    # Growing segments (the day's new documents, until sealed and indexed) are searched exactly, not
    # through the interim IVF index (nprobe 16 of 128 lists), which can miss a stock's few documents.
    config.set("queryNode.segcore.interimIndex.enableIndex", "false")
    config.resolve()  # writes data_dir/configs/milvus.yaml (the template binds each port once to check it)
    storage = data_dir / "data"
    etcd_config = data_dir / "configs" / "embedEtcd.yaml"
    client_url = f"http://127.0.0.1:{ports['etcd_port']}"
    peer_url = f"http://127.0.0.1:{ports['etcd_peer_port']}"
    etcd_config.write_text(
        "name: default\n"
        f"data-dir: {storage / 'etcd.data'}\n"
        f"listen-client-urls: {client_url}\n"
        f"advertise-client-urls: {client_url}\n"
        f"listen-peer-urls: {peer_url}\n"
        f"initial-advertise-peer-urls: {peer_url}\n"
        f"initial-cluster: default={peer_url}\n"
    )
    return {
        "DEPLOY_MODE": "STANDALONE",
        "METRICS_PORT": str(ports["metrics_port"]),
        "MILVUS_RUN_DIR": str(data_dir / "run"),
        "ETCD_CONFIG_PATH": str(etcd_config),
    }


def _health_ok(metrics_port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/healthz", timeout=2) as resp:
            return b"OK" in resp.read()
    except (OSError, urllib.error.URLError):
        return False


def start(
    kind: str = "standalone",
    data_dir: str | Path = "data/milvus-standalone",
    *,
    port: int | None = None,
    host: str = "127.0.0.1",
    timeout: float = 120.0,
    new_session: bool = True,
) -> LocalMilvus:
    """Start a server and return once it answers a real call. Raises (and stops it) if it does not.

    ``new_session``: the server leads its own process group, which ``stop()`` signals as a whole (the
    test fixture). The CLI, itself started in its own group by run.sh, keeps the server in its group.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown Milvus server kind {kind!r}: one of {', '.join(KINDS)}")
    t0 = time.monotonic()
    data = Path(data_dir).resolve()
    data.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    if not _port_free(port):
        raise RuntimeError(f"port {port} is already in use: is another Milvus running there?")
    logs = data / "logs"
    logs.mkdir(exist_ok=True)
    log_path = logs / f"{kind}-server.log"
    env = os.environ.copy()
    metrics_port = 0
    if kind == "standalone":
        bin_dir = unpack_binaries(bin_cache_dir())
        ports = _ports(data, port)
        metrics_port = ports["metrics_port"]
        env.update(_write_config(data, port, ports))
        env["LD_LIBRARY_PATH"] = os.pathsep.join(filter(None, [str(bin_dir), env.get("LD_LIBRARY_PATH", "")]))
        cmd = [str(bin_dir / "milvus"), "run", "standalone"]
    else:
        exe = Path(sys.executable).parent / "milvus-lite"
        cmd = [str(exe), "server", "--data-dir", str(data / "db"), "--host", host, "--port", str(port)]
    log_file = open(log_path, "ab")  # noqa: SIM115 - kept open for the server's lifetime
    proc = subprocess.Popen(
        cmd,
        cwd=data,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=log_file,
        stderr=subprocess.STDOUT,
        start_new_session=new_session,
        preexec_fn=_die_with_parent(),  # only prctl: no lock is taken between fork and exec
    )
    server = LocalMilvus(kind, f"http://{host}:{port}", port, data, log_path, proc, new_session, _log_file=log_file)
    deadline = t0 + timeout
    try:
        while not (
            (kind == "lite" or _health_ok(metrics_port)) and probe(server.uri)
        ):
            if proc.poll() is not None:
                raise RuntimeError(f"Milvus {kind} exited with {proc.returncode}; log: {log_path}\n{_tail(log_path)}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"Milvus {kind} did not answer within {timeout:.0f} s; log: {log_path}")
            time.sleep(0.2)
    except BaseException:
        server.stop(grace=5)
        raise
    server.startup_seconds = time.monotonic() - t0
    return server


def _tail(path: Path, lines: int = 20) -> str:
    with contextlib.suppress(OSError):
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    return ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kind", choices=KINDS, default=os.environ.get("MILVUS_SERVER") or "standalone")
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=19530)
    parser.add_argument("--timeout", type=float, default=120.0)
    args = parser.parse_args(argv)

    stopping = False

    def on_signal(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    server = start(args.kind, args.data_dir, port=args.port, host=args.host, timeout=args.timeout, new_session=False)
    try:
        from pymilvus import MilvusClient

        client = MilvusClient(uri=server.uri)
        version = client.get_server_version()
        client.close()
        print(
            f"Milvus {args.kind} ({version}) ready at {server.uri} in {server.startup_seconds:.1f} s "
            f"(pid {server.process.pid}, data {server.data_dir}, log {server.log_path})",
            flush=True,
        )
        while not stopping and server.process.poll() is None:
            time.sleep(0.2)
        if not stopping:
            print(f"Milvus {args.kind} exited with {server.process.returncode}", file=sys.stderr, flush=True)
            return 1
        return 0
    finally:
        server.stop()
        print(f"Milvus {args.kind} stopped", flush=True)


if __name__ == "__main__":
    sys.exit(main())
