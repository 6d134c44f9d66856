"""Launch a Dagster asset backfill of the slice over the last trading days, and wait for it.

It goes through the running webserver's GraphQL API, exactly as the UI's "Materialize" dialog does,
so the daemon runs it, the UI shows it under Backfills, and single-run backfill policies apply.

    python scripts/backfill.py --days 20 --webserver http://127.0.0.1:3000
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime

import httpx

from stock_insights import calendar

LAUNCH = """
mutation Launch($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message }
    ... on PartitionSetNotFoundError { message }
    ... on InvalidStepError { invalidStepKey }
    ... on InvalidOutputError { stepKey invalidOutputName }
    ... on UnauthorizedError { message }
  }
}
"""

STATUS = """
query Status($id: String!) {
  partitionBackfillOrError(backfillId: $id) {
    __typename
    ... on PartitionBackfill { status numPartitions }
    ... on PythonError { message }
  }
}
"""

# Momentum needs a few closes before the first forecast day; fetch bars from earlier.
EXTRA_BAR_SESSIONS = 10


def _graphql(url: str, query: str, variables: dict) -> dict:
    response = httpx.post(f"{url}/graphql", json={"query": query, "variables": variables}, timeout=60)
    response.raise_for_status()
    payload = response.json()
    if payload.get("errors"):
        raise SystemExit(f"GraphQL error: {payload['errors']}")
    return payload["data"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--days", type=int, default=20)
    parser.add_argument("--webserver", default="http://127.0.0.1:3000")
    parser.add_argument("--timeout", type=int, default=900, help="seconds to wait for the backfill")
    args = parser.parse_args()

    last = calendar.last_closed_session(datetime.now(UTC))
    first_bar_window = calendar.sessions(datetime(last.year - 1, 1, 1).date(), last)
    bar_days = first_bar_window[-(args.days + EXTRA_BAR_SESSIONS) :]
    forecast_days = bar_days[-args.days :]

    def by_range(path: list[str], days: list) -> dict:
        return {"assetKey": {"path": path}, "partitions": {"range": {"start": days[0].isoformat(),
                                                                     "end": days[-1].isoformat()}}}

    params = {
        "title": f"Slice over the last {args.days} trading days",
        "partitionsByAssets": [
            {"assetKey": {"path": ["universe", "stocks"]}},
            {"assetKey": {"path": ["dart", "corp_codes"]}},
            *({"assetKey": {"path": ["news", source]}} for source in ("naver", "hankyung", "maeil", "reddit")),
            by_range(["kis", "daily_bars"], bar_days),
            by_range(["kis", "index_bars"], bar_days),
            by_range(["dart", "disclosures"], forecast_days),
            by_range(["embeddings", "documents"], forecast_days),
            by_range(["predictions", "daily"], forecast_days),
            by_range(["evaluations", "daily"], forecast_days),
            by_range(["evaluations", "leaderboard"], forecast_days),
            by_range(["reports", "daily"], forecast_days),
        ],
    }
    result = _graphql(args.webserver, LAUNCH, {"params": params})["launchPartitionBackfill"]
    if result["__typename"] != "LaunchBackfillSuccess":
        print(f"backfill was not launched: {result}", file=sys.stderr)
        return 1
    backfill_id = result["backfillId"]
    print(f"backfill {backfill_id}: bars {bar_days[0]}..{bar_days[-1]}, "
          f"forecasts and evaluations {forecast_days[0]}..{forecast_days[-1]}")

    deadline = time.monotonic() + args.timeout
    status = "REQUESTED"
    while time.monotonic() < deadline:
        state = _graphql(args.webserver, STATUS, {"id": backfill_id})["partitionBackfillOrError"]
        status = state.get("status", state["__typename"])
        if status not in ("REQUESTED", "CANCELING"):
            break
        time.sleep(3)
    print(f"backfill {backfill_id}: {status}")
    return 0 if status in ("COMPLETED", "COMPLETED_SUCCESS") else 1


if __name__ == "__main__":
    sys.exit(main())
