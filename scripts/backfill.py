"""The first materialization of a new installation, through the running Dagster webserver's GraphQL API.

Two parts, both visible in the Dagster UI:

1. **The last ``--days`` trading days of the whole graph, in four runs** (Runs, tagged
   ``stock_insights/first_run``), which ``scripts/run.sh`` waits for before it says ``Ready``:
   - ``sources``: the listings, DART's company codes, the news sources, and daily and index bars over the
     forecast days plus ``EXTRA_BAR_SESSIONS`` earlier sessions (momentum needs closes before the first day);
   - then, two at a time (the instance runs two runs at once):
     ``forecasts``: filings, embeddings, predictions, evaluations, the leaderboard, the reports, the ledger's
     seals and the alerts over the forecast days, as one run over the partition range (every asset has a
     single-run backfill policy);
     ``snapshots``: the last session's minute bars, an order-book snapshot and the financial statements
     (KIS, OpenDART), so that no page of the API is empty;
   Each run executes its steps in its own process (``in_process`` executor): the default multiprocess
   executor starts one process per step, and each re-imports the project (about 8 s a step on 2 cores,
   more than most steps' work). An asset backfill would take longer still: Dagster's backfill daemon looks
   at a backfill every 30 s, and the graph is seven levels deep (about 3.5 min of waiting alone).
2. **A year of price history, as an asset backfill** (Backfills): daily and index bars for the sessions
   before the first part's, which the daemon fills in the background after ``Ready`` while the UI shows its
   progress. It changes nothing the first part computed (forecasts read only the closes before their day).

    python scripts/backfill.py --days 20 --webserver http://127.0.0.1:3000
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import httpx

from stock_insights import calendar

LAUNCH_RUN = """
mutation Launch($params: ExecutionParams!) {
  launchRun(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message }
    ... on InvalidSubsetError { message }
    ... on RunConfigValidationInvalid { errors { message } }
    ... on UnauthorizedError { message }
  }
}
"""

RUN_STATUS = """
query Run($id: ID!) {
  runOrError(runId: $id) {
    __typename
    ... on Run { status startTime endTime }
    ... on PythonError { message }
  }
}
"""

LAUNCH_BACKFILL = """
mutation Launch($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message }
    ... on UnauthorizedError { message }
  }
}
"""

LOCATION = "stock_insights"
# Momentum needs a few closes before the first forecast day; fetch bars from earlier.
EXTRA_BAR_SESSIONS = 10
# The background backfill: this many sessions of bars before the first part's (about a year).
HISTORY_SESSIONS = 250
FINISHED = ("SUCCESS", "FAILURE", "CANCELED")
IN_PROCESS = {"execution": {"config": {"in_process": {}}}}


@dataclass(frozen=True)
class RunPlan:
    """One run of the first part: which assets, over which partitions."""

    name: str
    assets: tuple[tuple[str, ...], ...]
    first: date | None = None  # the partition range; None for a run of unpartitioned assets only
    last: date | None = None

    def partition_tags(self) -> dict[str, str]:
        if self.first is None or self.last is None:
            return {}
        if self.first == self.last:
            return {"dagster/partition": self.first.isoformat()}
        return {"dagster/asset_partition_range_start": self.first.isoformat(),
                "dagster/asset_partition_range_end": self.last.isoformat()}


NEWS = tuple(("news", source) for source in ("naver", "hankyung", "maeil", "reddit"))
FORECAST_CHAIN = (("dart", "disclosures"), ("embeddings", "documents"), ("predictions", "daily"),
                  ("evaluations", "daily"), ("evaluations", "leaderboard"), ("reports", "daily"),
                  ("ledger", "daily"), ("alerts", "notifications"))
SNAPSHOTS = (("kis", "orderbook"), ("kis", "financials"), ("dart", "financials"))


def first_part(days: int, now: datetime) -> list[list[RunPlan]]:
    """The first part's runs, in stages: every run of a stage starts once the previous stage has finished."""
    last = calendar.last_closed_session(now)
    window = calendar.sessions(date(last.year - 2, 1, 1), last)
    bar_days = window[-(days + EXTRA_BAR_SESSIONS):]
    forecast_days = bar_days[-days:]
    sources = RunPlan("sources", (("universe", "stocks"), ("dart", "corp_codes"), *NEWS,
                                  ("kis", "daily_bars"), ("kis", "index_bars")), bar_days[0], bar_days[-1])
    forecasts = RunPlan("forecasts", FORECAST_CHAIN, forecast_days[0], forecast_days[-1])
    # Unpartitioned snapshots ride in the minute bars' run (one partition: the last session).
    snapshots = RunPlan("snapshots", (("kis", "minute_bars"), *SNAPSHOTS), last, last)
    return [[sources], [forecasts, snapshots]]


def history_backfill(days: int, now: datetime) -> dict[str, Any] | None:
    """The background asset backfill's parameters: a year of bars before the first part's, or None."""
    last = calendar.last_closed_session(now)
    window = calendar.sessions(date(last.year - 2, 1, 1), last)
    before = window[: -(days + EXTRA_BAR_SESSIONS)][-HISTORY_SESSIONS:]
    if not before:
        return None
    span = {"range": {"start": before[0].isoformat(), "end": before[-1].isoformat()}}
    return {
        "title": f"A year of price history ({before[0]}..{before[-1]})",
        "partitionsByAssets": [{"assetKey": {"path": ["kis", path]}, "partitions": span}
                               for path in ("daily_bars", "index_bars")],
    }


def _graphql(url: str, query: str, variables: dict[str, Any]) -> dict[str, Any]:
    response = httpx.post(f"{url}/graphql", json={"query": query, "variables": variables}, timeout=60)
    response.raise_for_status()
    payload = response.json()
    if payload.get("errors"):
        raise SystemExit(f"GraphQL error: {payload['errors']}")
    data: dict[str, Any] = payload["data"]
    return data


def launch(url: str, plan: RunPlan) -> str:
    tags = {"stock_insights/first_run": plan.name, **plan.partition_tags()}
    params = {
        "selector": {"repositoryLocationName": LOCATION, "repositoryName": "__repository__",
                     "jobName": "__ASSET_JOB", "assetSelection": [{"path": list(key)} for key in plan.assets]},
        "runConfigData": IN_PROCESS,
        "executionMetadata": {"tags": [{"key": key, "value": value} for key, value in tags.items()]},
    }
    result = _graphql(url, LAUNCH_RUN, {"params": params})["launchRun"]
    if result["__typename"] != "LaunchRunSuccess":
        raise SystemExit(f"run {plan.name} was not launched: {result}")
    run_id: str = result["run"]["runId"]
    return run_id


def wait(url: str, runs: dict[str, str], deadline: float) -> dict[str, str]:
    """Each run's final status (name -> status), or TIMEOUT for one still going at the deadline; prints each
    run's status and time (from its launch) as it finishes."""
    launched = time.monotonic()
    status = dict.fromkeys(runs, "QUEUED")
    while time.monotonic() < deadline:
        for name, run_id in runs.items():
            if status[name] not in FINISHED:
                state = _graphql(url, RUN_STATUS, {"id": run_id})["runOrError"]
                status[name] = state.get("status", state["__typename"])
                if status[name] in FINISHED:
                    print(f"run {name}: {status[name]} in {time.monotonic() - launched:.0f} s", flush=True)
        if all(value in FINISHED for value in status.values()):
            return status
        time.sleep(1)
    return {name: value if value in FINISHED else "TIMEOUT" for name, value in status.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=int, default=20)
    parser.add_argument("--webserver", default="http://127.0.0.1:3000")
    parser.add_argument("--timeout", type=int, default=900, help="seconds to wait for the first part")
    parser.add_argument("--no-history", action="store_true", help="skip the background year of bars")
    args = parser.parse_args()

    now = datetime.now(UTC)
    deadline = time.monotonic() + args.timeout
    for stage in first_part(args.days, now):
        runs = {plan.name: launch(args.webserver, plan) for plan in stage}
        for plan in stage:
            span = f" {plan.first}..{plan.last}" if plan.first else ""
            print(f"run {plan.name}{span}: {runs[plan.name]}", flush=True)
        failed = [name for name, status in wait(args.webserver, runs, deadline).items() if status != "SUCCESS"]
        if failed:
            print(f"failed or unfinished: {', '.join(failed)} (the Dagster UI's Runs page has their logs)",
                  file=sys.stderr)
            return 1
    history = None if args.no_history else history_backfill(args.days, now)
    if history is not None:
        result = _graphql(args.webserver, LAUNCH_BACKFILL, {"params": history})["launchPartitionBackfill"]
        if result["__typename"] == "LaunchBackfillSuccess":
            print(f"backfill {result['backfillId']}: {history['title']}, filling in the background "
                  "(Dagster UI, Backfills)", flush=True)
        else:
            print(f"the history backfill was not launched: {result}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
