"""``dart_new_filings``: poll OpenDART's ``list.json`` every minute and, when a tracked stock files,
request the downstream work at once (a material filing should reach predictions and alerts in
minutes, not at the next cron tick).

Cursor (JSON, small): the KST day, the day's ``total_count`` at the last poll, the ``rcept_no`` of the
tracked stocks' filings already requested that day, the time of the last full sweep, and whether 020
(daily limit) stopped polling. A poll reads page 1 (100 newest filings); when ``total_count`` grew it
also reads as many pages as it grew, plus one. DART does not document the order *within* a day
(exchange filings, ``rcept_no`` …80…, may sort above a newer DART filing, …00…), so every
``FULL_SWEEP`` the sensor reads all of the day's pages: a filing is seen within a minute in the usual
case and within ``FULL_SWEEP`` at worst. A quiet minute costs one request (~600 a day); sweeps cost
about a day's page count every 15 minutes — well inside the 20,000-request budget.

Run requests target ``DOWNSTREAM_ON_FILING`` for today's trading-day partition, tagged with the stock
codes and receipt numbers; predictions and alerts join by adding their asset keys to that list (they
must be partitioned by trading day too). The ``run_key`` encodes the receipt numbers, so a reset
cursor never launches the same work twice.
"""

import hashlib
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import dagster as dg
from pydantic import BaseModel, Field, ValidationError

from stock_insights import calendar, clock
from stock_insights.clients.dart import PAGE_COUNT, DartClient, DartQuotaExceeded, DisclosureBatch, DisclosureRow
from stock_insights.clients.errors import SourceError
from stock_insights.defs import keys
from stock_insights.defs.dart.assets import FILING_CODES_TAG, FILING_RCEPT_NOS_TAG
from stock_insights.defs.dart.resources import DartResource
from stock_insights.defs.resources import DatabaseResource
from stock_insights.market.store import active_stocks
from stock_insights.settings import get_settings
from stock_insights.storage.db import session_scope

# What a tracked stock's new filing sets off: the filing itself, refreshed forecasts, and the alerts of
# the watchers (which see the filing, and any forecast it flipped, in the same run).
DOWNSTREAM_ON_FILING: list[dg.AssetKey] = [
    keys.DART_DISCLOSURES,
    keys.PREDICTIONS,
    keys.ALERTS,
]
MAX_TAGGED = 20  # receipt numbers listed in a run tag
FULL_SWEEP = timedelta(minutes=15)


def kst_now() -> datetime:
    """The sensor's clock (tests replace it to poll a simulated day)."""
    return clock.now_kst()


class FilingCursor(BaseModel):
    day: str = ""
    total: int = 0
    seen: list[str] = Field(default_factory=list)
    last_sweep: str = ""  # ISO time of the last read of every page of the day
    stopped_for_day: bool = False


def _load(raw: str | None, today: str) -> FilingCursor:
    try:
        cursor = FilingCursor.model_validate_json(raw) if raw else FilingCursor()
    except ValidationError:
        cursor = FilingCursor()
    return cursor if cursor.day == today else FilingCursor(day=today)


def _tracked(database: DatabaseResource) -> set[str]:
    try:
        with session_scope(database.engine) as session:
            codes = {s.code for s in active_stocks(session)}
    except Exception:  # a sensor must keep polling while the database is unavailable or migrating
        codes = set()
    return codes or set(get_settings().STOCK_UNIVERSE)


@dataclass
class _Poll:
    """One poll of the day's filings."""

    first: DisclosureBatch  # page 1: the day's total_count and the newest filings
    batch: DisclosureBatch  # what to scan: page 1, or the pages the day grew by, or every page on a sweep
    quiet: bool  # nothing moved since the last poll and no sweep is due


def _sweep_due(cursor: FilingCursor, now: datetime) -> bool:
    return not cursor.last_sweep or now - datetime.fromisoformat(cursor.last_sweep) >= FULL_SWEEP


def _poll(client: DartClient, cursor: FilingCursor, now: datetime) -> _Poll:
    """Read page 1, then only as many further pages as the day grew by (plus one, since DART's order within
    a day is undocumented), or every page when a sweep is due. A completed sweep is noted in the cursor."""
    today = now.date()
    first = client.list_filings(today, today, max_pages=1)
    grown = first.total_count - cursor.total
    sweep = _sweep_due(cursor, now)
    if not first.partial and cursor.total and grown <= 0 and not sweep:
        return _Poll(first, first, quiet=True)
    batch = first
    if not first.partial and first.total_count > PAGE_COUNT and (sweep or grown > 0):
        batch = client.list_filings(today, today, max_pages=None if sweep else grown // PAGE_COUNT + 2)
    if sweep and not batch.partial:
        cursor.last_sweep = now.isoformat()
    return _Poll(first, batch, quiet=False)


def _poll_or_skip(dart: DartResource, cursor: FilingCursor, now: datetime) -> _Poll | dg.SensorResult | dg.SkipReason:
    """The poll, or the sensor's answer when there is nothing to scan: a quiet minute, the daily limit
    (020: polling stops until tomorrow, kept in the cursor) or a failed request (retried next minute)."""
    try:
        with dart.client() as client:
            poll = _poll(client, cursor, now)
    except DartQuotaExceeded:
        cursor.stopped_for_day = True
        return dg.SensorResult(
            skip_reason="OpenDART daily request limit (020) reached", cursor=cursor.model_dump_json()
        )
    except SourceError as exc:
        return dg.SkipReason(f"list.json failed, will retry next minute: {exc}")
    if poll.quiet:
        return dg.SensorResult(
            skip_reason=f"no new filing today (total {poll.first.total_count})", cursor=cursor.model_dump_json()
        )
    if poll.batch.partial:
        cursor.stopped_for_day = True
        return dg.SensorResult(
            skip_reason=f"OpenDART stopped the poll: {poll.batch.message}", cursor=cursor.model_dump_json()
        )
    return poll


def _unseen_tracked(batch: DisclosureBatch, tracked: set[str], seen: set[str]) -> list[DisclosureRow]:
    """The tracked stocks' filings not requested yet today, in receipt order (the run key hashes them)."""
    return sorted(
        (r for r in batch.rows if r.stock_code in tracked and r.rcept_no not in seen), key=lambda r: r.rcept_no
    )


def _filing_run_request(context: dg.SensorEvaluationContext, today: date, new: list[DisclosureRow]) -> dg.RunRequest:
    """Today's partition of ``DOWNSTREAM_ON_FILING``, tagged with the filings; the run key is derived from
    the receipt numbers, so a reset cursor never launches the same work twice."""
    rcept_nos = [r.rcept_no for r in new]
    codes = sorted({r.stock_code for r in new if r.stock_code})
    digest = hashlib.sha1(",".join(rcept_nos).encode()).hexdigest()[:12]
    targets = [key.to_user_string() for key in DOWNSTREAM_ON_FILING]
    context.log.info(f"{len(new)} new filing(s) of {codes}: requesting {targets}")
    return dg.RunRequest(
        run_key=f"dart-filings-{today.isoformat()}-{digest}",
        partition_key=today.isoformat(),
        asset_selection=list(DOWNSTREAM_ON_FILING),
        tags={FILING_CODES_TAG: ",".join(codes), FILING_RCEPT_NOS_TAG: ",".join(rcept_nos[:MAX_TAGGED])},
    )


@dg.sensor(
    name="dart_new_filings",
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    target=dg.AssetSelection.assets(*DOWNSTREAM_ON_FILING),
    description="Polls OpenDART list.json every minute; when a tracked stock files, runs today's partition of "
    "dart/disclosures, predictions/daily and alerts/notifications, tagged with the filing stocks.",
)
def dart_new_filings(
    context: dg.SensorEvaluationContext, database: DatabaseResource, dart: DartResource
) -> dg.SensorResult | dg.SkipReason:
    now = kst_now()
    today = now.date()
    cursor = _load(context.cursor, today.isoformat())
    if cursor.stopped_for_day:
        return dg.SkipReason("OpenDART daily request limit (020) reached; polling resumes tomorrow (KST)")
    tracked = _tracked(database)
    poll = _poll_or_skip(dart, cursor, now)
    if not isinstance(poll, _Poll):
        return poll

    seen = set(cursor.seen)
    new = _unseen_tracked(poll.batch, tracked, seen)
    cursor.total = max(cursor.total, poll.first.total_count)
    if not new:
        return dg.SensorResult(
            skip_reason=f"no new filing of a tracked stock (total {poll.first.total_count})",
            cursor=cursor.model_dump_json(),
        )
    cursor.seen = sorted(seen | {r.rcept_no for r in new})
    if not calendar.is_session(today):
        return dg.SensorResult(
            skip_reason=f"{len(new)} filing(s) on {today}, not a KRX session: the next session's partition takes them",
            cursor=cursor.model_dump_json(),
        )
    return dg.SensorResult(run_requests=[_filing_run_request(context, today, new)], cursor=cursor.model_dump_json())
