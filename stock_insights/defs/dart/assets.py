"""``dart/corp_codes``, ``dart/disclosures`` and ``dart/financials`` from OpenDART.

Partitions of ``dart/disclosures``: the trading-day partition ``P`` holds the filings *received* after
the previous session and up to ``P`` (a filing of a Saturday or a KRX-only holiday belongs to the next
session, the first one it can move). So every receipt date has exactly one partition, and a
single-run backfill over any range asks ``list.json`` for one contiguous range (cut into three-month
windows by the client).
"""

from datetime import date, timedelta
from typing import cast

import dagster as dg
from pydantic import Field
from sqlalchemy.orm import Session

from stock_insights import calendar, clock
from stock_insights.clients.dart import DartQuotaExceeded
from stock_insights.clients.errors import SourceAuthError, SourceError
from stock_insights.corpus.store import (
    future_dated_disclosures,
    set_dart_corp_codes,
    stocks_without_corp_code,
    tracked_corp_codes,
    upsert_dart_financials,
    upsert_disclosures,
)
from stock_insights.defs import keys
from stock_insights.defs.dart.resources import DartResource
from stock_insights.defs.metadata import data_mode, definition_metadata, run_metadata
from stock_insights.defs.partitions import partition_days, trading_days
from stock_insights.defs.resources import DatabaseResource
from stock_insights.market.store import active_stocks
from stock_insights.storage.db import session_scope, utcnow

UNIVERSE = keys.UNIVERSE
CORP_CODES = keys.DART_CORP_CODES
# Run tags a filing-triggered run carries (set by the dart_new_filings sensor).
FILING_CODES_TAG = "stock_insights/filing_codes"
FILING_RCEPT_NOS_TAG = "stock_insights/rcept_nos"


def receipt_range(days: list[date]) -> tuple[date, date]:
    """Receipt dates covered by the trading-day partitions ``days`` (see the module docstring)."""
    return calendar.previous_session(min(days)) + timedelta(days=1), max(days)


def corp_code_check(session: Session) -> dg.AssetCheckResult:
    """Every active stock has a stored corp code (a warning: the others' DART data is out of reach)."""
    missing = stocks_without_corp_code(session)
    return dg.AssetCheckResult(
        check_name="every_tracked_stock_has_corp_code",
        passed=not missing,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"missing": dg.MetadataValue.json(missing)},
    )


def future_filings_check(session: Session, today: date) -> dg.AssetCheckResult:
    """No stored filing is received after ``today`` (KST)."""
    future = future_dated_disclosures(session, today)
    return dg.AssetCheckResult(
        check_name="no_future_dated_items", passed=future == 0, metadata={"future_dated": future}
    )


def _kst_today() -> date:
    return clock.today_kst()


@dg.asset(
    key=["dart", "corp_codes"],
    group_name="disclosures",
    kinds={"python", "sql"},
    description="OpenDART corpCode.xml (a ZIP of every company's 8-digit corp code, or an XML error body) "
    "mapped onto the tracked stocks: fills stocks.dart_corp_code, the key of DART's per-company endpoints. "
    "Corp codes keep their leading zeros.",
    deps=[UNIVERSE],
    pool="dart",
    metadata=definition_metadata(table="stocks.dart_corp_code", source="OpenDART corpCode.xml"),
    check_specs=[
        dg.AssetCheckSpec(
            "every_tracked_stock_has_corp_code",
            asset=["dart", "corp_codes"],
            description="Every active stock found its corp code in corpCode.xml.",
        ),
    ],
)
def corp_codes(
    context: dg.AssetExecutionContext, database: DatabaseResource, dart: DartResource
) -> dg.MaterializeResult:
    try:
        with dart.client() as client:
            batch = client.corp_codes()
    except SourceError as exc:
        raise dg.Failure(f"OpenDART corpCode.xml failed, nothing written: {exc}") from None
    with session_scope(database.engine) as session:
        active = {s.code for s in active_stocks(session)}
        update = set_dart_corp_codes(session, batch.rows)
    with session_scope(database.engine) as session:
        # What is stored, not what this answer held: a stock left without a corp code fails the check.
        check = corp_code_check(session)
    missing = cast(list[str], check.metadata["missing"].value)  # corp_code_check's list of codes
    if missing:
        context.log.warning(f"no corp code in corpCode.xml for tracked stocks {missing}")
    listed = sum(1 for row in batch.rows if row.stock_code)
    preview = [
        {"code": row.stock_code, "corp_code": row.corp_code, "name": row.corp_name}
        for row in batch.rows
        if row.stock_code in active
    ]
    context.log.info(f"{len(batch.rows)} corp codes ({listed} listed); {update.changed} stock(s) updated")
    return dg.MaterializeResult(
        metadata=run_metadata(
            update.matched,
            preview,
            corp_codes=len(batch.rows),
            listed=listed,
            matched=update.matched,
            changed=update.changed,
            missing=dg.MetadataValue.json(missing),
            skipped=sum(batch.skipped.values()),
            skipped_by_reason=dg.MetadataValue.json(batch.skipped),
        ),
        check_results=[check],
    )


@dg.asset(
    key=["dart", "disclosures"],
    group_name="disclosures",
    kinds={"python", "sql"},
    description="Every DART filing (list.json, market-wide, 100 a page, three-month windows) received in the "
    "partition's trading day (and the non-trading days just before it), upserted by rcept_no with its viewer URL; "
    "blank stock codes are unlisted filers. first_seen_at is the fetch time on the receipt day, an estimate "
    "(end of that day, flagged) for backfills. A correction ([기재정정], [첨부추가], ...) is a new version linked to "
    "the filing it amends (the latest earlier one of the same company and report name), never an overwrite. The "
    "dart_new_filings sensor runs today's partition within a minute of a tracked stock's filing.",
    partitions_def=trading_days,
    backfill_policy=dg.BackfillPolicy.single_run(),
    deps=[UNIVERSE],
    pool="dart",
    metadata=definition_metadata(table="disclosures", source="OpenDART list.json"),
    check_specs=[
        dg.AssetCheckSpec(
            "no_future_dated_items",
            asset=["dart", "disclosures"],
            description="No filing has a receipt date after today (KST).",
        ),
    ],
)
def disclosures(
    context: dg.AssetExecutionContext, database: DatabaseResource, dart: DartResource
) -> dg.MaterializeResult:
    start, end = receipt_range(partition_days(context))
    today = _kst_today()
    if start > today:
        raise dg.Failure(f"the partition's receipt dates start {start}, after today {today}")
    end = min(end, today)
    requested_for = context.run.tags.get(FILING_CODES_TAG, "")
    try:
        with dart.client() as client:
            batch = client.list_filings(start, end)
    except SourceError as exc:
        raise dg.Failure(f"OpenDART list.json failed for {start}..{end}, nothing written: {exc}") from None
    rows = [row for row in batch.rows if start <= row.receipt_date <= end]
    with session_scope(database.engine) as session:
        tracked = {s.code for s in active_stocks(session)}
        result = upsert_disclosures(session, rows, fetched_at=utcnow())
    with session_scope(database.engine) as session:
        check = future_filings_check(session, today)
    new = set(result.new_rcept_nos)
    tracked_new = [r for r in rows if r.rcept_no in new and r.stock_code in tracked]
    if batch.partial:
        raise dg.Failure(
            f"OpenDART daily request limit (020) reached for {start}..{end}: {result.new} new filing(s) written "
            f"from {batch.pages} page(s), the rest is missing; re-run this range tomorrow ({batch.message})"
        )
    preview = [
        {
            "rcept_no": r.rcept_no,
            "date": r.receipt_date.isoformat(),
            "code": r.stock_code or "(unlisted)",
            "corp": r.corp_name,
            "report": r.report_name[:40],
        }
        for r in sorted(tracked_new or rows, key=lambda r: r.rcept_no, reverse=True)[:10]
    ]
    context.log.info(
        f"{len(rows)} filings {start}..{end}: {result.new} new ({len(tracked_new)} of tracked stocks), "
        f"{result.updated} known, {sum(batch.skipped.values())} skipped ({data_mode()} data)"
    )
    return dg.MaterializeResult(
        metadata=run_metadata(
            len(rows),
            preview,
            new=result.new,
            duplicates=result.updated + result.duplicates_in_batch,
            new_estimated_first_seen=result.new_estimated,
            # Corrections are new versions linked to the filing they amend (clients.dart.link_versions).
            corrections=sum(1 for r in rows if r.is_correction),
            versions_relinked=result.relinked,
            tracked_new=len(tracked_new),
            unlisted=sum(1 for r in rows if r.stock_code is None),
            skipped=sum(batch.skipped.values()),
            skipped_by_reason=dg.MetadataValue.json(batch.skipped),
            skip_examples=dg.MetadataValue.json(batch.skip_examples),
            partial=False,
            pages=batch.pages,
            receipt_dates=f"{start.isoformat()}..{end.isoformat()}",
            requested_for=requested_for,
        ),
        check_results=[check],
    )


class FinancialsConfig(dg.Config):
    years_back: int = Field(default=1, ge=0, le=10, description="Business years before the current one to fetch.")


@dg.asset(
    key=["dart", "financials"],
    group_name="disclosures",
    kinds={"python", "sql"},
    description="Full financial statements (fnlttSinglAcntAll.json) of every tracked stock with a corp code: all "
    "four report codes (Q1, half, Q3, annual) × consolidated and separate, for the current and previous business "
    "years, into financial_statements with source='dart'. A restated line takes a new first_seen_at.",
    deps=[CORP_CODES],
    pool="dart",
    metadata=definition_metadata(table="financial_statements", source="OpenDART fnlttSinglAcntAll.json"),
)
def financials(
    context: dg.AssetExecutionContext, config: FinancialsConfig, database: DatabaseResource, dart: DartResource
) -> dg.MaterializeResult:
    this_year = _kst_today().year
    years = list(range(this_year - config.years_back, this_year + 1))
    with session_scope(database.engine) as session:
        corp = tracked_corp_codes(session)
        active = [s.code for s in active_stocks(session)]
    missing = [code for code in active if code not in corp]
    if not corp:
        raise dg.Failure("no tracked stock has a DART corp code: materialize dart/corp_codes first")
    written, calls, empty, skipped, failures, preview = 0, 0, 0, 0, {}, []
    stopped: str | None = None
    with dart.client() as client:
        for code, corp_code in sorted(corp.items()):
            try:
                batch = client.financials_all(corp_code, years)
            except (DartQuotaExceeded, SourceAuthError) as exc:
                stopped = str(exc)
                break
            except SourceError as exc:
                failures[code] = str(exc)
                continue
            with session_scope(database.engine) as session:
                result = upsert_dart_financials(session, code, batch.rows, fetched_at=utcnow())
            written += result.rows
            calls += batch.calls
            empty += batch.empty_calls
            skipped += sum(batch.skipped.values()) + result.duplicates
            latest = max(
                (r for r in batch.rows if r.account_id == "ifrs-full_Revenue" and r.fs_div == "CFS"),
                key=lambda r: r.period,
                default=None,
            )
            if latest is not None:
                preview.append(
                    {"code": code, "period": latest.period, "report": latest.reprt_code, "revenue": latest.amount}
                )
    if stopped:
        raise dg.Failure(f"OpenDART stopped the run after {written} rows were written: {stopped}")
    if failures and len(failures) == len(corp):
        raise dg.Failure(f"fnlttSinglAcntAll failed for every stock: {failures}")
    if missing:
        context.log.warning(f"no corp code for {missing}: materialize dart/corp_codes")
    context.log.info(f"{written} statement lines for {len(corp)} stock(s), years {years} ({data_mode()} data)")
    return dg.MaterializeResult(
        metadata=run_metadata(
            written,
            preview,
            years=dg.MetadataValue.json(years),
            calls=calls,
            empty_answers=empty,
            skipped=skipped,
            stocks_without_corp_code=dg.MetadataValue.json(missing),
            failed=dg.MetadataValue.json(failures),
        )
    )
