"""Launch a Dagster asset backfill of the slice over the last trading days, and wait for it.

It goes through the running webserver's GraphQL API, exactly as the UI's "Materialize" dialog does,
so the daemon runs it, the UI shows it under Backfills, and single-run backfill policies apply.

Besides the daily graph it materializes what a new user opens first and no daily schedule fills before the
next session: the last session's minute bars, an order-book snapshot (the last session's closing book
outside trading hours) and the financial statements from KIS and OpenDART, so that no page is empty.

    python scripts/backfill.py --days 20 --webserver http://127.0.0.1:3000
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, date, datetime

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


def _by_range(path: list[str], days: list[date]) -> dict:
    return {"assetKey": {"path": path}, "partitions": {"range": {"start": days[0].isoformat(),
                                                                 "end": days[-1].isoformat()}}}


def backfill_params(days: int, now: datetime) -> dict:
    """The backfill's GraphQL parameters: which assets, which partitions."""
    last = calendar.last_closed_session(now)
    first_bar_window = calendar.sessions(datetime(last.year - 1, 1, 1).date(), last)
    bar_days = first_bar_window[-(days + EXTRA_BAR_SESSIONS) :]
    forecast_days = bar_days[-days:]
    return {
        "title": f"Slice over the last {days} trading days",
        "partitionsByAssets": [
            {"assetKey": {"path": ["universe", "stocks"]}},
            {"assetKey": {"path": ["dart", "corp_codes"]}},
            {"assetKey": {"path": ["dart", "financials"]}},
            {"assetKey": {"path": ["kis", "financials"]}},
            {"assetKey": {"path": ["kis", "orderbook"]}},
            _by_range(["kis", "minute_bars"], [last]),
            *({"assetKey": {"path": ["news", source]}} for source in ("naver", "hankyung", "maeil", "reddit")),
            _by_range(["kis", "daily_bars"], bar_days),
            _by_range(["kis", "index_bars"], bar_days),
            _by_range(["dart", "disclosures"], forecast_days),
            _by_range(["embeddings", "documents"], forecast_days),
            _by_range(["predictions", "daily"], forecast_days),
            _by_range(["evaluations", "daily"], forecast_days),
            _by_range(["evaluations", "leaderboard"], forecast_days),
            _by_range(["reports", "daily"], forecast_days),
        ],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--days", type=int, default=20)
    parser.add_argument("--webserver", default="http://127.0.0.1:3000")
    parser.add_argument("--timeout", type=int, default=900, help="seconds to wait for the backfill")
    args = parser.parse_args()

    params = backfill_params(args.days, datetime.now(UTC))
    ranges = {"/".join(p["assetKey"]["path"]): p["partitions"]["range"] for p in params["partitionsByAssets"]
              if "partitions" in p}
    result = _graphql(args.webserver, LAUNCH, {"params": params})["launchPartitionBackfill"]
    if result["__typename"] != "LaunchBackfillSuccess":
        print(f"backfill was not launched: {result}", file=sys.stderr)
        return 1
    backfill_id = result["backfillId"]
    bars, forecasts, minutes = ranges["kis/daily_bars"], ranges["predictions/daily"], ranges["kis/minute_bars"]
    print(f"backfill {backfill_id}: bars {bars['start']}..{bars['end']}, forecasts and evaluations "
          f"{forecasts['start']}..{forecasts['end']}, minute bars {minutes['end']}, an order book, "
          "financial statements (KIS, DART)")

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
