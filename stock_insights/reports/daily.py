"""A run of daily reports over trading days, without Dagster: the asset ``reports/daily``
(``defs/reports/assets.py``) reads its partition, calls ``write_daily_reports``, stores the rows and
reports the run's metadata from the ``DailyReports`` it gets back.

Kept apart from the asset so the run can be driven and tested without a Dagster context: the only
thing it needs from the orchestrator is a logger.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import Engine

from stock_insights.reports.facts import MARKET
from stock_insights.reports.store import DayFacts, gather_day
from stock_insights.reports.writer import ReportWriter, WrittenReport, configured_writer, template_report
from stock_insights.storage.db import session_scope
from stock_insights.storage.models import Report


class NoActiveStock(RuntimeError):
    """No tracked stock: reports need the universe (``universe/stocks``) materialized first."""


@dataclass
class DailyReports:
    """What a run wrote, in order, and which stock reports had no close yet (written anyway)."""

    writer_note: str  # which writer was configured, or why the template writes every report
    written: list[tuple[date, WrittenReport]] = field(default_factory=list)
    without_close: list[str] = field(default_factory=list)

    def rows(self) -> list[dict[str, Any]]:
        return [report.row(day) for day, report in self.written]

    def preview(self, limit: int = 10) -> list[dict[str, Any]]:
        """The last ``limit`` reports in brief, for the run's preview table."""
        return [
            {
                "date": day.isoformat(),
                "scope": r.scope,
                "generator": r.generator,
                "sources": len(r.sources),
                "chars": len(r.markdown),
                "replay": r.replay,
            }
            for day, r in self.written[-limit:]
        ]

    def generators(self) -> dict[str, int]:
        return dict(Counter(r.generator for _, r in self.written))

    def fallbacks(self) -> dict[str, str]:
        """Why the template stood in for the configured LLM, by ``"<day> <scope>"``."""
        return {f"{day} {r.scope}": r.fallback for day, r in self.written if r.fallback}

    @property
    def llm_calls(self) -> int:
        return sum(r.calls for _, r in self.written)

    @property
    def replays(self) -> int:
        return sum(1 for _, r in self.written if r.replay)

    @property
    def cost_usd(self) -> float:
        """Total LLM cost, rounded to a millionth of a dollar (float sums carry noise below that)."""
        return round(sum(r.cost_usd for _, r in self.written), 6)


def write_daily_reports(engine: Engine, days: Sequence[date], log: logging.Logger) -> DailyReports:
    """Every scope's report (the market and each tracked stock) for each day, by the writer
    ``REPORT_MODEL`` configures or else the template. Nothing is stored: the caller writes the rows.
    Raises ``NoActiveStock`` when a day has no tracked stock."""
    writer, writer_note = configured_writer(engine)
    log.info(f"report writer: {writer_note}")
    run = DailyReports(writer_note)
    for day in days:
        facts = _day_facts(engine, day)
        run.without_close += [f"{day} {s.scope}" for s in facts.stocks if s.move.close is None]
        _write_day(run, day, facts, writer, log)
    return run


def _day_facts(engine: Engine, day: date) -> DayFacts:
    """The day's facts, read in a transaction of their own: the LLM is called outside any database
    transaction, so none is held open while a model answers."""
    with session_scope(engine) as session:
        facts = gather_day(session, day)
    if not facts.stocks:
        raise NoActiveStock("no active stock: materialize universe/stocks first")
    return facts


def _write_day(run: DailyReports, day: date, facts: DayFacts, writer: ReportWriter | None, log: logging.Logger) -> None:
    """Each scope's report of ``day`` appended to ``run``; a template standing in for the LLM is
    logged as a warning, since the day's report then lacks the model's summary."""
    for f in facts.all():
        report = writer.write(f) if writer is not None else template_report(f)
        if report.fallback:
            log.warning(f"{day} {report.scope}: template instead of {run.writer_note}: {report.fallback}")
        run.written.append((day, report))


def day_markdown(reports: Sequence[Report]) -> tuple[str | None, str]:
    """(the market report's Markdown or None, the stock reports' Markdown joined by rules) of one
    day's stored reports, for showing the run's last day in full."""
    market = next((r for r in reports if r.scope == MARKET), None)
    stocks = "\n\n---\n\n".join(r.markdown for r in reports if r.scope != MARKET)
    return (market.markdown if market is not None else None), stocks
