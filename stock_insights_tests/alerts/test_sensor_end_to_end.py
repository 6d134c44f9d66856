"""A filing lands, the sensor fires, the watcher is alerted once: against the sandbox over HTTP, on SQLite and
PostgreSQL, with the run request executed in process as Dagster would, and a local webhook receiver.

The sandbox replays 2026-10-15 with a simulated clock; the sensor, ``dart/disclosures`` (its fetch time)
and ``alerts/notifications`` (its ``now``) read that clock, so the filing is a live sighting of that day.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from stock_insights.defs.alerts import assets as alerts_assets
from stock_insights.defs.dart import assets as dart_assets
from stock_insights.defs.dart import sensors
from stock_insights.defs.dart.resources import DartResource
from stock_insights.defs.resources import DatabaseResource
from stock_insights.sandbox.dart import DartSandbox, Filing
from stock_insights.sandbox.market import KST, SimulatedMarket
from stock_insights.settings import get_settings, reset_settings_cache
from stock_insights.storage.db import make_engine, session_scope
from stock_insights.storage.models import Notification, User, WatchlistItem, WebhookDelivery
from stock_insights_tests.alerts.conftest import Receiver, Reply
from stock_insights_tests.conftest import SANDBOX_APP_KEY, SANDBOX_APP_SECRET, ServerThread, rebuild_definitions
from stock_insights_tests.news.conftest import DART_KEY, Clock
from stock_insights_tests.test_slice_end_to_end import materialize

DAY = date(2026, 10, 15)
UNIVERSE = ["005930", "000660", "035420", "035720"]
ALERTS = dg.AssetKey(["alerts", "notifications"])
HOOK_PATH = "/services/T0ALERTS/B0ALERTS/n0tf0rl0gs"
WATCHING_SINCE = datetime(2026, 10, 1, 9, 0, tzinfo=KST)


def first_lone_filing() -> tuple[Filing, datetime]:
    """A tracked stock's filing of DAY and a moment when it is that stock's only filing published so far."""
    filings = DartSandbox(SimulatedMarket()).filings(DAY)
    candidates = []
    for code in UNIVERSE:
        own = sorted((f for f in filings if f.stock_code == code), key=lambda f: f.published_at)
        if own:
            moment = own[0].published_at + timedelta(minutes=1)
            if len(own) == 1 or own[1].published_at > moment:
                candidates.append((own[0], moment))
    assert candidates, "the simulated day has no tracked filing"
    return min(candidates, key=lambda c: c[1])


@pytest.fixture
def day_env(monkeypatch: pytest.MonkeyPatch, database_url: str, tmp_path: Path) -> Iterator[tuple[Clock, str]]:
    """The sandbox on a simulated clock, settings pointing at it, and every clock of the run on it."""
    clock = Clock(datetime(2026, 10, 15, 7, 0, tzinfo=KST))
    from stock_insights.sandbox.app import create_app

    # DART replays the simulated day; KIS serves the closes before it on the real clock (its token
    # lifetimes follow its clock), so that the filing-triggered forecasts have prices to read.
    with ServerThread(create_app(now=clock)) as sandbox, ServerThread(create_app()) as market:
        env = {
            "DATA_MODE": "simulated",
            "DATABASE_URL": database_url,
            "DART_BASE_URL": sandbox.url,
            "DART_API_KEY": DART_KEY,
            "KIS_BASE_URL": market.url,
            "KIS_APP_KEY": SANDBOX_APP_KEY,
            "KIS_APP_SECRET": SANDBOX_APP_SECRET,
            "KIS_RATE_LIMIT_PER_SEC": "50",
            "STOCK_UNIVERSE": ",".join(UNIVERSE),
            "REDIS_URL": "",
            "HISTORY_START": "2024-01-02",
            "DATA_DIR": str(tmp_path / "data"),
            "WEBHOOK_MAX_ATTEMPTS": "3",
        }
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        monkeypatch.delenv("OPENAI_API_KEY", raising=False)
        monkeypatch.delenv("OPENROUTER_API_KEY", raising=False)
        reset_settings_cache()
        rebuild_definitions(monkeypatch)
        monkeypatch.setattr(sensors, "kst_now", lambda: clock.moment)
        monkeypatch.setattr(dart_assets, "utcnow", lambda: clock.moment.astimezone(UTC))
        monkeypatch.setattr(dart_assets, "_kst_today", lambda: clock.moment.date())
        # The alerts run a little after the filing run fetched.
        monkeypatch.setattr(alerts_assets, "now_utc", lambda: clock.moment.astimezone(UTC) + timedelta(seconds=30))
        yield clock, database_url
    reset_settings_cache()


def load_market(instance: dg.DagsterInstance) -> None:
    """The tracked stocks and their closes up to the session before the replayed day."""
    assert materialize([["universe", "stocks"]], instance=instance).success
    assert materialize([["kis", "daily_bars"]], date(2026, 9, 1), date(2026, 10, 14), instance).success


def tick(instance: dg.DagsterInstance, cursor: str | None) -> dg.SensorResult | dg.SkipReason:
    settings = get_settings()  # day_env's: the replayed day's sandbox and this test's database
    database = DatabaseResource(url=settings.DATABASE_URL)
    dart = DartResource(base_url=settings.DART_BASE_URL, api_key=DART_KEY, requests_per_second=50)
    resources = {"database": database, "dart": dart}
    with dg.build_sensor_context(instance=instance, cursor=cursor, resources=resources) as context:
        return sensors.dart_new_filings(context)


def execute(request: dg.RunRequest, instance: dg.DagsterInstance) -> dg.ExecuteInProcessResult:
    """The sensor's run request, executed in process with the code location's own definitions."""
    from stock_insights.definitions import defs

    job = defs.resolve_implicit_global_asset_job_def()
    return job.execute_in_process(
        asset_selection=list(request.asset_selection or []),
        partition_key=request.partition_key,
        tags=dict(request.tags),
        instance=instance,
    )


def alerts_metadata(instance: dg.DagsterInstance) -> dict:
    event = instance.get_latest_materialization_event(ALERTS)
    assert event is not None and event.asset_materialization is not None
    return {k: v.value for k, v in event.asset_materialization.metadata.items()}


def notifications_of(url: str, user_id: int) -> list[Notification]:
    engine = make_engine(url)
    with session_scope(engine) as session:
        rows = list(session.execute(select(Notification).where(Notification.user_id == user_id)).scalars())
    engine.dispose()
    return rows


def delivery_of(url: str, notification_id: int) -> WebhookDelivery | None:
    engine = make_engine(url)
    with session_scope(engine) as session:
        row = session.get(WebhookDelivery, notification_id)
    engine.dispose()
    return row


def backdate_watchlist(url: str) -> None:
    """The simulated day is weeks before the real one: the user has watched the stock since October 1st."""
    engine = make_engine(url)
    with session_scope(engine) as session:
        session.execute(update(WatchlistItem).values(added_at=WATCHING_SINCE))
    engine.dispose()


def fire_sensor(instance: dg.DagsterInstance, clock: Clock, moment: datetime) -> tuple[dg.RunRequest, str | None]:
    clock.moment = moment
    result = tick(instance, None)
    assert isinstance(result, dg.SensorResult), result
    (request,) = result.run_requests or []
    assert request.partition_key == DAY.isoformat()
    assert ALERTS in list(request.asset_selection or [])
    return request, result.cursor


def test_a_filing_alerts_the_watcher_once_through_the_sensor(day_env: tuple[Clock, str], receiver: Receiver) -> None:
    clock, url = day_env
    filing, moment = first_lone_filing()
    code = filing.stock_code
    instance = dg.DagsterInstance.ephemeral()
    load_market(instance)

    # The user signs up, watches the stock and sets a webhook through the API.
    from api.main import create_app

    with TestClient(create_app()) as api:
        account = {"email": "watcher@example.com", "password": "alerts-test-password"}
        assert api.post("/api/v1/auth/register", json=account).status_code == 201
        token = api.post("/api/v1/auth/token", data={"username": account["email"], "password": account["password"]})
        api.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
        assert api.put("/api/v1/users/me/webhook", json={"url": receiver.url + HOOK_PATH}).status_code == 200
        assert api.put(f"/api/v1/users/me/watchlist/{code}").status_code == 200
        user_id = api.get("/api/v1/users/me").json()["id"]
        backdate_watchlist(url)

        # The filing lands; the sensor fires within the minute; its run alerts the watcher.
        request, cursor = fire_sensor(instance, clock, moment)
        assert code in request.tags["stock_insights/filing_codes"].split(",")
        assert execute(request, instance).success

        (notification,) = notifications_of(url, user_id)
        assert notification.event_key == f"filing:{filing.rcept_no}" and notification.kind == "disclosure"
        assert notification.code == code and filing.report_nm.strip() in notification.title
        assert (request_paths := receiver.paths()) == [HOOK_PATH]
        payload = receiver.requests[0].payload
        assert set(payload) == {"text", "blocks"} and filing.rcept_no in payload["text"]
        assert [b["type"] for b in payload["blocks"]] == ["header", "section", "context"]
        assert payload["blocks"][2]["elements"][0]["text"].endswith("simulated data")
        delivery = delivery_of(url, notification.id)
        assert delivery is not None and (delivery.status, delivery.attempts) == ("delivered", 1)
        metadata = alerts_metadata(instance)
        assert (metadata["created"], metadata["delivered"], metadata["failed"]) == (1, 1, 0)
        assert metadata["data_mode"] == "simulated"

        # The API serves it; the user reads it.
        listed = api.get("/api/v1/notifications").json()["items"]
        assert [n["id"] for n in listed] == [notification.id] and listed[0]["title"] == notification.title
        assert api.post(f"/api/v1/notifications/{notification.id}/read").status_code == 200

        # A minute later nothing is new; re-running the same request (a re-materialization) adds nothing,
        # sends nothing, and leaves the read notification read.
        clock.moment = moment + timedelta(minutes=1)
        quiet = tick(instance, cursor)
        assert not getattr(quiet, "run_requests", None)
        assert execute(request, instance).success
        assert alerts_metadata(instance)["created"] == 0
        (again,) = notifications_of(url, user_id)
        assert again.id == notification.id and again.read_at is not None
        assert receiver.paths() == request_paths
        assert api.get("/api/v1/notifications", params={"unread": True}).json()["items"] == []


def test_a_webhook_answering_500_is_retried_then_recorded_failed(
    day_env: tuple[Clock, str], receiver: Receiver
) -> None:
    clock, url = day_env
    filing, moment = first_lone_filing()
    instance = dg.DagsterInstance.ephemeral()
    load_market(instance)
    engine = make_engine(url)
    with session_scope(engine) as session:
        user = User(
            email="hook@example.com",
            password_hash="x",
            role="user",
            webhook_url=receiver.url + HOOK_PATH,
            created_at=WATCHING_SINCE,
        )
        session.add(user)
        session.flush()
        session.add(WatchlistItem(user_id=user.id, code=filing.stock_code, added_at=WATCHING_SINCE))
        user_id = user.id
    engine.dispose()
    receiver.default = Reply(500, "rollup_error")

    request, _ = fire_sensor(instance, clock, moment)
    result = execute(request, instance)
    assert result.success  # a dead webhook never fails the run

    (notification,) = notifications_of(url, user_id)
    delivery = delivery_of(url, notification.id)
    assert delivery is not None
    assert (delivery.status, delivery.attempts, delivery.last_error) == ("failed", 3, "HTTP 500: rollup_error")
    assert receiver.paths() == [HOOK_PATH] * 3
    metadata = alerts_metadata(instance)
    assert (metadata["created"], metadata["delivered"], metadata["failed"]) == (1, 0, 1)
    host = receiver.url.removeprefix("http://")
    assert metadata["failed_hosts"] == {host: 1}
    # The run's logs name the host, never the webhook's secret path.
    logs = " ".join(str(e.message) for e in instance.all_logs(result.run_id))
    assert host in logs and "n0tf0rl0gs" not in logs

    # A re-run neither re-creates nor re-sends.
    assert execute(request, instance).success
    assert receiver.paths() == [HOOK_PATH] * 3
    assert len(notifications_of(url, user_id)) == 1
