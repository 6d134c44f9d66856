"""One alerts run: read the facts of each day's window, find events, store notifications, send the new ones.

Delivery: only the notifications *this run created* are sent (the insert returns them; a concurrent run
that met the same event created nothing and sends nothing), so a delivered notification is never sent
again and a re-run sends nothing. A failed delivery is final after its ``WEBHOOK_MAX_ATTEMPTS`` tries in
the run (recorded ``failed`` with the attempts and the last error, host-only); it is not retried by
later runs, which could otherwise post a stale alert hours late. If the process dies between storing a
notification and sending it, the notification stays in the API without a delivery record: at most once.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from stock_insights.alerts import store
from stock_insights.alerts.rules import (
    KINDS,
    Event,
    Thresholds,
    Window,
    burst_events,
    filing_events,
    flip_events,
    move_events,
    recipients,
    window_for,
)
from stock_insights.alerts.webhook import (
    DeliveryJob,
    DeliveryResult,
    WebhookSender,
    deliver_all,
    host_of,
    slack_message,
)
from stock_insights.storage.db import session_scope

LINK_LABELS = {"disclosure": "View on DART"}


@dataclass
class Created:
    id: int
    user_id: int
    event: Event


@dataclass
class AlertRun:
    windows: list[Window] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    matched: int = 0  # (user, event) pairs: notifications that exist after the run
    created: list[Created] = field(default_factory=list)
    deliveries: dict[int, DeliveryResult] = field(default_factory=dict)
    without_webhook: int = 0
    failed_hosts: Counter[str] = field(default_factory=Counter)

    @property
    def events_by_rule(self) -> dict[str, int]:
        counts = Counter(e.kind for e in self.events)
        return {kind: counts.get(kind, 0) for kind in KINDS}

    @property
    def created_by_rule(self) -> dict[str, int]:
        counts = Counter(c.event.kind for c in self.created)
        return {kind: counts.get(kind, 0) for kind in KINDS}

    @property
    def delivered(self) -> int:
        return sum(1 for r in self.deliveries.values() if r.delivered)

    @property
    def failed(self) -> int:
        return sum(1 for r in self.deliveries.values() if not r.delivered)


def day_events(
    session: Session, day: date, now: datetime, codes: Sequence[str], thresholds: Thresholds
) -> tuple[Window, list[Event]]:
    """(window, events) of trading day ``day`` at ``now`` for the stocks ``codes``."""
    window = window_for(day, now)
    events: list[Event] = []
    events += filing_events(store.live_filings(session, codes, window.start, window.bound))
    events += move_events(store.price_points(session, codes, day, window.bound), thresholds.move)
    events += flip_events(store.forecasts(session, codes, day, window.bound), day)
    names = store.stock_names(session, codes)
    sightings = store.live_news_sightings(
        session, codes, store.burst_lookback(window.start, thresholds.burst_minutes), window.bound
    )
    for code in sorted(sightings):
        events += burst_events(
            code, names.get(code, code), sightings[code], window, thresholds.burst_count, thresholds.burst_minutes
        )
    return window, events


def run_alerts(
    engine: Engine,
    days: Sequence[date],
    *,
    now: datetime,
    thresholds: Thresholds,
    sender: WebhookSender | None = None,
    simulated: bool = False,
) -> AlertRun:
    run = AlertRun()
    with session_scope(engine) as session:
        watched = store.watchers(session)
        codes = sorted(watched)
        for day in sorted(set(days)):
            window, events = day_events(session, day, now, codes, thresholds)
            run.windows.append(window)
            run.events += events
        pairs = recipients(run.events, watched)
        urls = store.webhook_urls(session, [user_id for user_id, _ in pairs])
    run.matched = len(pairs)
    by_key = {(user_id, event.key): event for user_id, event in pairs}
    rows = [
        {
            "user_id": user_id,
            "event_key": event.key,
            "kind": event.kind,
            "code": event.code,
            "title": event.title,
            "body": event.text,
            "created_at": now,
            "read_at": None,
        }
        for user_id, event in pairs
    ]
    # A short transaction of its own: on SQLite a write that follows reads in one transaction can fail
    # to take the lock while another run writes.
    with session_scope(engine) as session:
        created = store.insert_notifications(session, rows)
    run.created = [Created(c.id, c.user_id, by_key[(c.user_id, c.event_key)]) for c in created]

    jobs: list[DeliveryJob] = []
    for c in run.created:
        url = urls.get(c.user_id)
        if url is None:
            run.without_webhook += 1
            continue
        e = c.event
        payload = slack_message(
            title=e.title,
            body=e.body,
            kind=e.kind,
            code=e.code,
            occurred_at=e.occurred_at,
            link=e.link,
            link_label=LINK_LABELS.get(e.kind, "Open"),
            simulated=simulated,
        )
        jobs.append(DeliveryJob(key=c.id, url=url, payload=payload))
    if jobs:
        results = deliver_all(jobs, sender)
        for job in jobs:
            result = run.deliveries[job.key] = results[job.key]
            if not result.delivered:
                run.failed_hosts[host_of(job.url)] += 1
        with session_scope(engine) as session:
            store.record_deliveries(
                session, {nid: (r.status, r.attempts, r.last_error) for nid, r in run.deliveries.items()}
            )
    return run
