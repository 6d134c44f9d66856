"""Every 10 minutes (Asia/Seoul), news runs around the clock: news does not keep market hours.

One schedule per source so that a failing source never holds the others back. The Reddit schedule
skips its tick with a message when no credentials are set, so an unconfigured Reddit never shows
as a failed run.
"""


import dagster as dg

from stock_insights.clock import KST_NAME
from stock_insights.defs.news.resources import RedditResource

EVERY_10_MINUTES = "*/10 * * * *"
TIMEZONE = KST_NAME

news_naver_every_10_minutes = dg.ScheduleDefinition(
    name="news_naver_every_10_minutes",
    cron_schedule=EVERY_10_MINUTES,
    execution_timezone=TIMEZONE,
    target=dg.AssetSelection.assets(["news", "naver"]),
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Naver news search for the tracked stocks, every 10 minutes.",
)
news_hankyung_every_10_minutes = dg.ScheduleDefinition(
    name="news_hankyung_every_10_minutes",
    cron_schedule=EVERY_10_MINUTES,
    execution_timezone=TIMEZONE,
    target=dg.AssetSelection.assets(["news", "hankyung"]),
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Hankyung RSS feeds, every 10 minutes.",
)
news_maeil_every_10_minutes = dg.ScheduleDefinition(
    name="news_maeil_every_10_minutes",
    cron_schedule=EVERY_10_MINUTES,
    execution_timezone=TIMEZONE,
    target=dg.AssetSelection.assets(["news", "maeil"]),
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Maeil Business RSS feeds, every 10 minutes.",
)


@dg.schedule(
    name="news_reddit_every_10_minutes",
    cron_schedule=EVERY_10_MINUTES,
    execution_timezone=TIMEZONE,
    target=dg.AssetSelection.assets(["news", "reddit"]),
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Reddit /new listings every 10 minutes; skipped (with the reason) without credentials.",
)
def news_reddit_every_10_minutes(
    context: dg.ScheduleEvaluationContext, reddit: RedditResource
) -> dg.RunRequest | dg.SkipReason:
    if not reddit.configured:
        return dg.SkipReason("Reddit skipped: REDDIT_CLIENT_ID and REDDIT_CLIENT_SECRET are not set")
    return dg.RunRequest()
