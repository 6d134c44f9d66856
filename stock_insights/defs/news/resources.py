"""News clients as Dagster resources. Client ids and secrets are ``dg.EnvVar`` in the definitions, so the
UI and the run config show the variables' names only."""

import dagster as dg
from pydantic import Field, SecretStr

from stock_insights.clients.naver import NaverClient
from stock_insights.clients.reddit import RedditClient
from stock_insights.clients.rss import FeedSource, RssClient
from stock_insights.defs.resources import from_env, secret
from stock_insights.settings import Settings, get_settings


class NaverResource(dg.ConfigurableResource):
    """Naver Search API (news) at ``base_url``, with the path and header names of the plan in use."""

    base_url: str = Field(default="https://openapi.naver.com", description="NAVER_BASE_URL.")
    client_id: str = secret("NAVER_CLIENT_ID.")
    client_secret: str = secret("NAVER_CLIENT_SECRET.")
    news_path: str = Field(default="/v1/search/news.json", description="NAVER_NEWS_PATH.")
    client_id_header: str = Field(default="X-Naver-Client-Id", description="NAVER_CLIENT_ID_HEADER.")
    client_secret_header: str = Field(default="X-Naver-Client-Secret", description="NAVER_CLIENT_SECRET_HEADER.")

    def client(self) -> NaverClient:
        return NaverClient(
            self.base_url,
            SecretStr(self.client_id),
            SecretStr(self.client_secret),
            path=self.news_path,
            id_header=self.client_id_header,
            secret_header=self.client_secret_header,
        )


class NewsFeedsResource(dg.ConfigurableResource):
    """Hankyung and Maeil RSS feeds (full feed URLs, used exactly as written)."""

    hankyung_feed_urls: list[str] = Field(
        default=["https://www.hankyung.com/feed/finance", "https://www.hankyung.com/feed/economy"],
        description="HANKYUNG_FEED_URLS.",
    )
    maeil_feed_urls: list[str] = Field(
        default=["https://www.mk.co.kr/rss/50200011/", "https://www.mk.co.kr/rss/30100041/"],
        description="MAEIL_FEED_URLS.",
    )

    def urls(self, source: FeedSource) -> list[str]:
        return list(self.hankyung_feed_urls if source == "hankyung" else self.maeil_feed_urls)

    def client(self, source: FeedSource) -> RssClient:
        return RssClient(source)


class RedditResource(dg.ConfigurableResource):
    """Reddit application-only OAuth client; ``configured`` is False without credentials."""

    auth_url: str = Field(default="https://www.reddit.com/api/v1/access_token", description="REDDIT_AUTH_URL.")
    base_url: str = Field(default="https://oauth.reddit.com", description="REDDIT_BASE_URL.")
    client_id: str = secret("REDDIT_CLIENT_ID.")
    client_secret: str = secret("REDDIT_CLIENT_SECRET.")
    user_agent: str = Field(
        default="python:stock_insights:v0.1.0 (by /u/stock_insights)", description="REDDIT_USER_AGENT."
    )
    subreddit_names: list[str] = Field(default=["korea", "stocks", "investing"], description="REDDIT_SUBREDDITS.")

    def client(self) -> RedditClient:
        return RedditClient(
            self.auth_url, self.base_url, SecretStr(self.client_id), SecretStr(self.client_secret), self.user_agent
        )

    def subreddits(self) -> list[str]:
        return list(self.subreddit_names)

    @property
    def configured(self) -> bool:
        return bool(self.client_id and self.client_secret)


def naver_resource(settings: Settings) -> NaverResource:
    return NaverResource(
        base_url=settings.NAVER_BASE_URL,
        client_id=from_env(settings, "NAVER_CLIENT_ID"),
        client_secret=from_env(settings, "NAVER_CLIENT_SECRET"),
        news_path=settings.NAVER_NEWS_PATH,
        client_id_header=settings.NAVER_CLIENT_ID_HEADER,
        client_secret_header=settings.NAVER_CLIENT_SECRET_HEADER,
    )


def reddit_resource(settings: Settings) -> RedditResource:
    return RedditResource(
        auth_url=settings.REDDIT_AUTH_URL,
        base_url=settings.REDDIT_BASE_URL,
        client_id=from_env(settings, "REDDIT_CLIENT_ID"),
        client_secret=from_env(settings, "REDDIT_CLIENT_SECRET"),
        user_agent=settings.REDDIT_USER_AGENT,
        subreddit_names=settings.REDDIT_SUBREDDITS,
    )


@dg.definitions
def defs() -> dg.Definitions:
    settings = get_settings()
    feeds = NewsFeedsResource(hankyung_feed_urls=settings.HANKYUNG_FEED_URLS, maeil_feed_urls=settings.MAEIL_FEED_URLS)
    return dg.Definitions(
        resources={"naver": naver_resource(settings), "news_feeds": feeds, "reddit": reddit_resource(settings)}
    )
