"""News clients as Dagster resources. Keys and secrets are read from the settings when a client is
built, never held as Dagster config (they would show in the UI and run config).
"""


import dagster as dg

from stock_insights.clients.naver import NaverClient
from stock_insights.clients.reddit import RedditClient
from stock_insights.clients.rss import FeedSource, RssClient
from stock_insights.settings import get_settings


class NaverResource(dg.ConfigurableResource):
    """Naver Search API (news) with the configured base URL, path and header names."""

    def client(self) -> NaverClient:
        settings = get_settings()
        return NaverClient(
            settings.NAVER_BASE_URL,
            settings.NAVER_CLIENT_ID,
            settings.NAVER_CLIENT_SECRET,
            path=settings.NAVER_NEWS_PATH,
            id_header=settings.NAVER_CLIENT_ID_HEADER,
            secret_header=settings.NAVER_CLIENT_SECRET_HEADER,
        )


class NewsFeedsResource(dg.ConfigurableResource):
    """Hankyung and Maeil RSS feeds (HANKYUNG_FEED_URLS, MAEIL_FEED_URLS)."""

    def urls(self, source: FeedSource) -> list[str]:
        settings = get_settings()
        return list(settings.HANKYUNG_FEED_URLS if source == "hankyung" else settings.MAEIL_FEED_URLS)

    def client(self, source: FeedSource) -> RssClient:
        return RssClient(source)


class RedditResource(dg.ConfigurableResource):
    """Reddit application-only OAuth client; ``configured`` is False without credentials."""

    def client(self) -> RedditClient:
        settings = get_settings()
        return RedditClient(
            settings.REDDIT_AUTH_URL,
            settings.REDDIT_BASE_URL,
            settings.REDDIT_CLIENT_ID,
            settings.REDDIT_CLIENT_SECRET,
            settings.REDDIT_USER_AGENT,
        )

    def subreddits(self) -> list[str]:
        return list(get_settings().REDDIT_SUBREDDITS)

    @property
    def configured(self) -> bool:
        settings = get_settings()
        return bool(settings.REDDIT_CLIENT_ID.get_secret_value() and settings.REDDIT_CLIENT_SECRET.get_secret_value())


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(
        resources={"naver": NaverResource(), "news_feeds": NewsFeedsResource(), "reddit": RedditResource()}
    )
