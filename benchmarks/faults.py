"""Fault suite: what the system does when a dependency falls, and that nothing is lost once it is back.

    python -m benchmarks.faults [--only NAME[,NAME...]] [--clients 8] [--outage 8]

Everything is its own, on free ports in a scratch folder, and stopped at the end (Ctrl-C and failures included):
a PostgreSQL cluster (Debian's ``initdb``/``pg_ctl``), a ``redis-server``, a Milvus standalone server, the
sandbox (the simulated upstreams, "now" fixed), the API (``python -m api.cli serve``) and Dagster run workers
(``benchmarks.faults_worker``). Nothing shared is touched. Scenarios (``--only`` takes their names):

- ``pg-api``: PostgreSQL stopped under API traffic;       ``redis``: Redis stopped under API traffic;
- ``milvus``: Milvus restarted under search traffic;       ``pg-run``: PostgreSQL stopped during a Dagster run;
- ``kill9``: a run process killed with SIGKILL mid-write, then the re-run;
- ``upstream``: KIS, DART and Naver answering 5xx, their rate-limit answer, or malformed JSON, then the re-run;
- ``llm``: every chat call failing (the circuit breaker, the coverage check).

For each: requests, 5xx (other than the 503 an outage must answer), dropped connections, stale answers, rows lost
and duplicated against a clean run, and the recovery time (goal: 0 of each, recovery < 5 s). How each figure is
counted: ``benchmarks.faults_api`` and ``benchmarks.faults_runs``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType

from benchmarks import faults_api, faults_runs
from benchmarks.faults_api import ApiRig, Outcome
from benchmarks.faults_services import Milvus, Postgres, Redis, RunWorker, Sandbox, Services

API_SCENARIOS = ("pg-api", "redis", "milvus")
RUN_SCENARIOS = ("pg-run", "kill9", "upstream", "llm")
SCENARIOS = API_SCENARIOS + RUN_SCENARIOS
HEADER = ["scenario", "requests", "5xx≠503", "dropped", "stale", "lost", "duplicated", "recovery"]


def _interrupt(signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def _selected(only: str) -> list[str]:
    names = [n.strip() for n in only.split(",") if n.strip()] or list(SCENARIOS)
    unknown = sorted(set(names) - set(SCENARIOS))
    if unknown:
        raise SystemExit(f"unknown scenario(s) {', '.join(unknown)}; known: {', '.join(SCENARIOS)}")
    return [n for n in SCENARIOS if n in names]


class Suite:
    def __init__(self, services: Services, args: argparse.Namespace, selected: list[str]) -> None:
        self.services, self.args, self.selected = services, args, selected
        self.root = services.root
        self.rows: list[tuple[Outcome, str]] = []
        self.pg = Postgres(self.root)
        self.pg.start()
        services.own(self.pg.stop)

    def record(self, outcomes: Outcome | list[Outcome]) -> None:
        load = "load {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())
        for outcome in outcomes if isinstance(outcomes, list) else [outcomes]:
            self.rows.append((outcome, load))
            print(f"  done: {outcome.name} ({load})", flush=True)

    # --- Dagster runs ------------------------------------------------------------------------------
    def start_workers(self) -> tuple[Sandbox, RunWorker, RunWorker | None]:
        """Started first: importing the code location takes a while, it overlaps the API scenarios."""
        sandbox = Sandbox(self.root / "sandbox.log")
        self.services.own(sandbox.stop)
        # DATABASE_URL set at start-up: the definitions then read it from the environment at each run
        # (``dg.EnvVar``), and each command sets its own database.
        env = {"DATA_DIR": str(self.root / "data"), "DATABASE_URL": self.pg.url_of("faults_template"),
               **sandbox.pipeline_env()}
        worker = RunWorker(self.root / "worker.log", env)
        self.services.own(worker.stop)
        victim = None
        if "kill9" in self.selected:
            victim = RunWorker(self.root / "victim.log", env)
            self.services.own(victim.stop)
        return sandbox, worker, victim

    def run_scenarios(self, sandbox: Sandbox, worker: RunWorker, victim: RunWorker | None) -> None:
        sandbox.wait_ready()
        t0 = time.monotonic()
        rig = faults_runs.prepare(self.pg, sandbox, worker, {"DATA_DIR": str(self.root / "data")})
        print(f"  template and clean run ready in {time.monotonic() - t0:.1f} s "
              f"(clean run: {', '.join(f'{k} {v:.1f} s' for k, v in rig.clean_seconds.items())})", flush=True)
        steps: dict[str, Callable[[], Outcome | list[Outcome]]] = {
            "pg-run": lambda: faults_runs.pg_during_run(rig),
            "kill9": lambda: faults_runs.kill9_mid_run(rig, victim) if victim else [],
            "upstream": lambda: faults_runs.upstream_faults(rig),
            "llm": lambda: faults_runs.llm_down(rig),
        }
        for name in RUN_SCENARIOS:
            if name in self.selected:
                self.record(steps[name]())

    # --- the API -----------------------------------------------------------------------------------
    def api_scenarios(self) -> ApiRig:
        redis = Redis()
        redis.start()
        self.services.own(redis.stop)
        milvus = None
        if "milvus" in self.selected:
            # Started from this (the main) thread: the launcher ties the server's life to the starting thread's
            # (PR_SET_PDEATHSIG), so a server started from a helper thread would die with that thread.
            milvus = Milvus(self.root)
            self.services.own(milvus.stop)
            print(f"  Milvus standalone started in {milvus.start():.1f} s", flush=True)
        rig = faults_api.start_api(self.services, self.pg, redis, milvus.uri if milvus else "http://127.0.0.1:9")
        args = self.args
        if "pg-api" in self.selected:
            self.record(faults_api.service_outage(rig, "PostgreSQL stopped (API)", self.pg, args.clients, args.outage))
        if "redis" in self.selected:
            self.record(faults_api.service_outage(rig, "Redis stopped", redis, args.clients, args.outage))
        if milvus is not None:
            faults_api.seed_milvus(rig.url, milvus.uri)
            self.record(faults_api.milvus_restart(rig, milvus, args.clients, args.outage))
        return rig

    def finish_api(self, rig: ApiRig) -> str:
        rig.process.stop()
        return faults_api.log_lines(rig.log)


def _print(rows: list[tuple[Outcome, str]]) -> None:
    table = [HEADER] + [o.cells() for o, _ in rows]
    widths = [max(len(r[i]) for r in table) for i in range(len(HEADER))]
    for n, cells in enumerate(table):
        padded = [c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))]
        print("  ".join(padded))
        if n > 0:
            outcome, load = rows[n - 1]
            for note in [*outcome.notes, load]:
                print(f"      {note}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.faults", description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help=f"comma-separated scenarios: {', '.join(SCENARIOS)}")
    parser.add_argument("--clients", type=int, default=8, help="API client threads (keep-alive connections)")
    parser.add_argument("--outage", type=float, default=8.0, help="seconds each service stays stopped")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder (logs) at the end")
    args = parser.parse_args(argv)
    selected = _selected(args.only)
    signal.signal(signal.SIGTERM, _interrupt)
    started = time.monotonic()
    root = Path(tempfile.mkdtemp(prefix="si-faults-"))
    services = Services(root)
    suite: Suite | None = None
    api_lines = ""
    try:
        suite = Suite(services, args, selected)
        workers = suite.start_workers() if set(selected) & set(RUN_SCENARIOS) else None
        if set(selected) & set(API_SCENARIOS):
            api_lines = suite.finish_api(suite.api_scenarios())
        if workers is not None:
            suite.run_scenarios(*workers)
    finally:
        services.close()
        if args.keep:
            print(f"scratch folder kept: {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    print(f"\n{args.clients} API clients, outage {args.outage:g} s; "
          f"total {time.monotonic() - started:.0f} s, load average at the end "
          + "{:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    _print(suite.rows if suite else [])
    if api_lines:
        print(f"\nAPI log: {api_lines}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
