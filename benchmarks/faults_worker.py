"""The processes the fault suite starts (``benchmarks.faults``): the sandbox, and a Dagster run worker.

    python -m benchmarks.faults_worker sandbox --port P      # the simulated market, "now" fixed at NOW
    python -m benchmarks.faults_worker runs                  # Dagster runs, one per JSON line on stdin

The run worker imports the code location once and then executes one run per command line
(``{"assets": ["kis/daily_bars"], "start": "2026-12-03", "end": "2026-12-03", "env": {...}, "config": {...}}``)
in process, with the code location's own resources, as ``dagster asset materialize`` does; each answer is one
JSON line on stdout (success, seconds, the error's first line, the asset checks). Its clock is frozen at NOW
(ticking), the sandbox's at NOW: a past partition reads the same upstream answers in every run, so rows can be
compared with a clean run. Being a separate process, it can be killed with SIGKILL mid-run.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import traceback
from datetime import datetime
from typing import Any

from stock_insights import clock

NOW = datetime(2026, 12, 4, 17, 0, tzinfo=clock.KST)  # a Friday after the close, as in the tests


def serve_sandbox(port: int) -> None:
    import uvicorn

    from stock_insights.sandbox.app import create_app

    uvicorn.run(create_app(now=lambda: NOW), host="127.0.0.1", port=port, log_level="warning")


def _first_line(exc: BaseException) -> str:
    """The innermost error's kind and first line (Dagster wraps the step's error)."""
    while exc.__cause__ is not None:
        exc = exc.__cause__
    text = (str(exc).strip().splitlines() or [""])[0][:240]
    return f"{type(exc).__name__}: {text}"


def execute(command: dict[str, Any]) -> dict[str, Any]:
    import dagster as dg

    from stock_insights.definitions import defs
    from stock_insights.settings import reset_settings_cache

    os.environ.update(command.get("env", {}))
    reset_settings_cache()
    tags: dict[str, str] = {}
    if command.get("start"):
        tags = {
            "dagster/asset_partition_range_start": command["start"],
            "dagster/asset_partition_range_end": command.get("end") or command["start"],
        }
    run_config = {"ops": {name: {"config": cfg} for name, cfg in command.get("config", {}).items()}}
    job = defs.resolve_implicit_global_asset_job_def()
    t0 = time.monotonic()
    try:
        with clock.frozen(NOW, ticking=True):
            result = job.execute_in_process(
                asset_selection=[dg.AssetKey(a.split("/")) for a in command["assets"]],
                tags=tags,
                run_config=run_config,
                instance=dg.DagsterInstance.ephemeral(),
                raise_on_error=False,
            )
    except Exception as exc:
        return {"ok": False, "seconds": time.monotonic() - t0, "error": _first_line(exc), "checks": {}}
    error = ""
    for event in result.all_events:
        if event.is_step_failure and event.step_failure_data is not None:
            err = event.step_failure_data.error
            while err is not None and err.cause is not None:
                err = err.cause
            if err is not None:
                error = f"{err.cls_name}: {(err.message.strip().splitlines() or [''])[0][:240]}"
            break
    checks = {c.check_name: bool(c.passed) for c in result.get_asset_check_evaluations()}
    return {"ok": result.success, "seconds": time.monotonic() - t0, "error": error, "checks": checks}


def serve_runs() -> None:
    import logging

    logging.basicConfig(level=logging.WARNING)
    from stock_insights.definitions import defs  # noqa: F401 - import once, before the first command

    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            answer = execute(json.loads(line))
        except Exception:
            answer = {"ok": False, "seconds": 0.0, "error": traceback.format_exc(limit=1), "checks": {}}
        print(json.dumps(answer), flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.faults_worker")
    sub = parser.add_subparsers(dest="what", required=True)
    sandbox = sub.add_parser("sandbox")
    sandbox.add_argument("--port", type=int, required=True)
    sub.add_parser("runs")
    args = parser.parse_args(argv)
    if args.what == "sandbox":
        serve_sandbox(args.port)
    else:
        serve_runs()
    return 0


if __name__ == "__main__":
    sys.exit(main())



