"""The evaluation tests' pipeline: the real asset graph against a sandbox whose clock the test moves.

A long window of news history needs a sandbox clock: Naver serves the last 90 days before "now", so the
news asset is run at a series of past moments, as a deployment polling the whole time would have done
(items fetched later than 15 minutes after publication get ``first_seen_at = published + 15 min``).
Everything else runs on the real clock: the window is in the past, and KIS tokens live by the real clock.
"""

from __future__ import annotations

import time as wallclock
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from stock_insights import calendar, clock
from stock_insights.sandbox.market import KST
from stock_insights.sandbox.naver import NaverConfig
from stock_insights.settings import DEFAULT_UNIVERSE, reset_settings_cache
from stock_insights_tests.conftest import SANDBOX_APP_KEY, SANDBOX_APP_SECRET, ServerThread, rebuild_definitions

BASELINES = ["momentum", "news_tone"]
# How often the news asset polls Naver while the clock walks through the window (Naver keeps 90 days).
NEWS_POLL_EVERY = timedelta(days=80)


class Clock:
    """The sandbox's ``now``: a KST moment the test moves, or the project's clock (``None``)."""

    def __init__(self, moment: datetime | None = None) -> None:
        self.moment = moment

    def __call__(self) -> datetime:
        return clock.now_kst() if self.moment is None else self.moment


@dataclass
class Pipeline:
    """A sandbox with a movable clock, settings pointing at it, and the run helpers."""

    url: str  # the database
    sandbox_url: str
    clock: Clock
    instance: dg.DagsterInstance = field(default_factory=dg.DagsterInstance.ephemeral)
    timings: dict[str, float] = field(default_factory=dict)
    results: dict[str, dg.ExecuteInProcessResult] = field(default_factory=dict)

    def materialize(
        self,
        keys: list[list[str]],
        start: date | None = None,
        end: date | None = None,
        run_config: dict[str, Any] | None = None,
        raise_on_error: bool = True,
    ) -> dg.ExecuteInProcessResult:
        """Run assets (and their checks) as Dagster does; a range of partitions is one run."""
        from stock_insights.definitions import defs

        tags = {}
        if start is not None:
            tags = {
                "dagster/asset_partition_range_start": start.isoformat(),
                "dagster/asset_partition_range_end": (end or start).isoformat(),
            }
        job = defs.resolve_implicit_global_asset_job_def()
        began = wallclock.perf_counter()
        result = job.execute_in_process(
            asset_selection=[dg.AssetKey(k) for k in keys], tags=tags, instance=self.instance,
            run_config=run_config, raise_on_error=raise_on_error,
        )
        name = "+".join("/".join(k) for k in keys)
        self.timings[name] = self.timings.get(name, 0.0) + wallclock.perf_counter() - began
        self.results[name] = result
        return result

    def run_check(self, start: date, end: date) -> dg.AssetCheckEvaluation:
        """Only the point-in-time check of ``evaluations/daily`` over [start, end], as Dagster runs it."""
        from stock_insights.definitions import defs

        tags = {
            "dagster/asset_partition_range_start": start.isoformat(),
            "dagster/asset_partition_range_end": end.isoformat(),
        }
        job = defs.resolve_implicit_global_asset_job_def()
        result = job.execute_in_process(
            op_selection=["evaluations__daily_no_price_after_horizon"], tags=tags, instance=self.instance,
            raise_on_error=False,  # the check blocks: a failure fails the run, and its result is what we want
        )
        (evaluation,) = result.get_asset_check_evaluations()
        return evaluation

    def run_window(self, first: date, last: date, models: list[str] | None = None, bars_before: int = 10) -> None:
        """The graph over [first, last]: universe, daily and index bars (from ``bars_before`` sessions
        earlier), Naver news polled through the window, predictions of ``models``, evaluations.

        Market data is fetched on the real clock (past sessions are what they are; KIS tokens live by the
        real clock), news on the moving one."""
        end_of_window = datetime.combine(last, time(18, 0), tzinfo=KST)
        self.clock.moment = None
        bar_start = calendar.sessions(first - timedelta(days=3 * bars_before), first)[-bars_before - 1]
        assert self.materialize([["universe", "stocks"]]).success
        assert self.materialize([["kis", "daily_bars"], ["kis", "index_bars"]], bar_start, last).success
        # News since the day before the first forecast's previous session, polled as time goes by.
        moment = datetime.combine(calendar.previous_session(first) - timedelta(days=1), time(8, 30), tzinfo=KST)
        while True:
            self.clock.moment = min(moment, end_of_window)
            assert self.materialize([["news", "naver"]]).success
            if moment >= end_of_window:
                break
            moment += NEWS_POLL_EVERY
        self.clock.moment = None
        config = {"ops": {"predictions__daily": {"config": {"models": models or BASELINES}}}}
        assert self.materialize([["predictions", "daily"]], first, last, run_config=config).success
        assert self.materialize([["evaluations", "daily"]], first, last).success


@contextmanager
def running_pipeline(mp: pytest.MonkeyPatch, database_url: str, data_dir: Path) -> Iterator[Pipeline]:
    """A sandbox with a movable clock (started here) and every setting pointing at it and ``database_url``."""
    from stock_insights.sandbox.app import create_app

    clock = Clock()
    mp.setenv("SANDBOX_KIS_RATE_LIMIT_PER_SEC", "1000")
    app = create_app(now=clock)
    app.state.news["naver"].config = NaverConfig(per_second=1000)
    with ServerThread(app) as server:
        env = {
            "DATA_MODE": "simulated",
            "DATABASE_URL": database_url,
            "KIS_BASE_URL": server.url,
            "KIS_APP_KEY": SANDBOX_APP_KEY,
            "KIS_APP_SECRET": SANDBOX_APP_SECRET,
            "KIS_RATE_LIMIT_PER_SEC": "1000",
            "NAVER_BASE_URL": server.url,
            "NAVER_CLIENT_ID": "naver-test-client-id",
            "NAVER_CLIENT_SECRET": "naver-test-client-secret",
            "REDIS_URL": "",
            "HISTORY_START": "2024-01-02",
            "OPENAI_API_KEY": "",
            "OPENROUTER_API_KEY": "",
            "DATA_DIR": str(data_dir),
        }
        for key, value in env.items():
            mp.setenv(key, value)
        mp.setenv("STOCK_UNIVERSE", DEFAULT_UNIVERSE)  # eight stocks (the default is the whole market)
        reset_settings_cache()
        rebuild_definitions(mp)
        try:
            yield Pipeline(url=database_url, sandbox_url=server.url, clock=clock)
        finally:
            reset_settings_cache()


@pytest.fixture
def pipeline(monkeypatch: pytest.MonkeyPatch, database_url: str, tmp_path: Path) -> Iterator[Pipeline]:
    with running_pipeline(monkeypatch, database_url, tmp_path / "data") as running:
        yield running
