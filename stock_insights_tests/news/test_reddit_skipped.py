"""Without Reddit credentials, news/reddit is skipped with a message: no failed run, no materialization."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from stock_insights.defs.news.resources import RedditResource
from stock_insights_tests.conftest import sandbox_resources
from stock_insights_tests.test_slice_end_to_end import materialize


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'reddit.db'}"


def test_reddit_without_credentials_is_skipped(news_env: str, sandbox_url: str, tmp_path: Path) -> None:
    from stock_insights.defs.news.schedules import news_reddit_every_10_minutes

    # The sandbox answers, but the resource has no credentials (the definitions' default when unset).
    reddit = RedditResource(auth_url=f"{sandbox_url}/api/v1/access_token", base_url=sandbox_url)
    assert not reddit.configured
    with dg.build_schedule_context(resources={"reddit": reddit}) as context:
        tick = news_reddit_every_10_minutes(context)
    assert isinstance(tick, dg.SkipReason) and "REDDIT_CLIENT_ID" in (tick.skip_message or "")

    instance = dg.DagsterInstance.ephemeral()
    resources = sandbox_resources(sandbox_url, news_env, tmp_path, reddit=reddit)
    result = materialize([["news", "reddit"]], instance=instance, resources=resources)
    assert result.success
    assert instance.get_latest_materialization_event(dg.AssetKey(["news", "reddit"])) is None
    logs = [e.message for e in instance.all_logs(result.run_id) if e.message]
    assert any("Reddit skipped" in m for m in logs)


def test_the_schedule_runs_reddit_with_credentials(news_env: str, sandbox_url: str) -> None:
    from stock_insights.defs.news.schedules import news_reddit_every_10_minutes

    reddit = RedditResource(client_id="an-id", client_secret="a-secret")
    with dg.build_schedule_context(resources={"reddit": reddit}) as context:
        assert isinstance(news_reddit_every_10_minutes(context), dg.RunRequest)
