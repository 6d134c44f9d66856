"""Without Reddit credentials, news/reddit is skipped with a message: no failed run, no materialization."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from stock_insights.settings import reset_settings_cache


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'reddit.db'}"


def test_reddit_without_credentials_is_skipped(news_env: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDDIT_CLIENT_ID", "")
    monkeypatch.setenv("REDDIT_CLIENT_SECRET", "")
    reset_settings_cache()
    from stock_insights.definitions import defs
    from stock_insights.defs.news.schedules import news_reddit_every_10_minutes

    tick = news_reddit_every_10_minutes(dg.build_schedule_context())
    assert isinstance(tick, dg.SkipReason) and "REDDIT_CLIENT_ID" in (tick.skip_message or "")

    instance = dg.DagsterInstance.ephemeral()
    job = defs.resolve_implicit_global_asset_job_def()
    result = job.execute_in_process(asset_selection=[dg.AssetKey(["news", "reddit"])], instance=instance)
    assert result.success
    assert instance.get_latest_materialization_event(dg.AssetKey(["news", "reddit"])) is None
    logs = [e.message for e in instance.all_logs(result.run_id) if e.message]
    assert any("Reddit skipped" in m for m in logs)
