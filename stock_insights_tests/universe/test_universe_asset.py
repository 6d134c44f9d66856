"""``universe/stocks`` against the sandbox's master over HTTP: history, policy, override, bad input."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from typing import Any

import dagster as dg
import pytest
from fastapi import FastAPI, Response
from sqlalchemy import select

from stock_insights import clock
from stock_insights.clients.kis.master import make_zip
from stock_insights.defs.universe.resources import KisMasterResource
from stock_insights.market.store import listing_states_as_of
from stock_insights.sandbox.listings import collisions, listed_on, listings_by_code
from stock_insights.sandbox.master import master_file
from stock_insights.settings import reset_settings_cache
from stock_insights.storage.db import make_engine, session_scope
from stock_insights.storage.models import ListingState, Stock
from stock_insights_tests.conftest import ServerThread
from stock_insights_tests.test_slice_end_to_end import materialize


def run_on(day: date, resources: dict[str, Any], raise_on_error: bool = True) -> dg.ExecuteInProcessResult:
    with clock.frozen(datetime(day.year, day.month, day.day, 7, 0, tzinfo=clock.KST)):
        return materialize([["universe", "stocks"]], raise_on_error=raise_on_error, resources=resources)


def snapshot(url: str) -> dict[str, list[tuple]]:
    engine = make_engine(url)
    with session_scope(engine) as session:
        out = {
            "states": sorted(tuple(r) for r in session.execute(
                select(*[c for c in ListingState.__table__.columns if c.name != "recorded_at"]))),
            "stocks": sorted(tuple(r) for r in session.execute(
                select(Stock.code, Stock.name, Stock.market, Stock.aliases, Stock.active))),
        }
    engine.dispose()
    return out


@pytest.fixture
def market_env(sandbox_env: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The default universe: no STOCK_UNIVERSE override, the policy over the sandbox's master."""
    monkeypatch.delenv("STOCK_UNIVERSE")
    reset_settings_cache()
    yield sandbox_env
    reset_settings_cache()


def test_history_delisting_rename_and_reruns(market_env: str, resources: dict[str, Any]) -> None:
    url = market_env
    gone, reuser = collisions()["reused_name"]
    renamed, taker = collisions()["renamed_then_reused"]
    by_code = listings_by_code()
    before, delisting_day = date(2026, 4, 14), date(2026, 4, 15)

    assert run_on(before, resources).success
    first = snapshot(url)
    tracked = {row[0] for row in first["stocks"] if row[4]}
    assert tracked == {x.code for x in listed_on(before) if x.security_type == "common"}
    assert len(first["states"]) == len(listed_on(before))

    assert run_on(delisting_day, resources).success
    engine = make_engine(url)
    with session_scope(engine) as session:
        rows = session.execute(select(ListingState).where(ListingState.code == gone)
                               .order_by(ListingState.valid_from)).scalars().all()
        assert [(r.status, r.valid_from, r.valid_to) for r in rows] == [
            ("listed", before, delisting_day), ("delisted", delisting_day, None)]
        assert session.get(Stock, gone).active is False  # kept, not deleted
        as_of_before = {s.code for s in listing_states_as_of(session, before)}
        as_of_after = {s.code for s in listing_states_as_of(session, delisting_day)}
    assert gone in as_of_before and gone not in as_of_after
    assert as_of_after == {x.code for x in listed_on(delisting_day)}

    again = snapshot(url)
    assert run_on(delisting_day, resources).success  # the same day again changes nothing
    assert snapshot(url) == again

    # June 1: a rename; the former name becomes an alias until another listing takes it (October 5).
    assert run_on(date(2026, 6, 1), resources).success
    with session_scope(engine) as session:
        stock = session.get(Stock, renamed)
        assert stock.name == by_code[renamed].name_on(date(2026, 6, 1)) != by_code[renamed].name
        assert by_code[renamed].name in stock.aliases
    assert run_on(date(2026, 10, 5), resources).success
    with session_scope(engine) as session:
        assert by_code[renamed].name not in session.get(Stock, renamed).aliases
        assert session.get(Stock, taker).name == by_code[renamed].name
        names = [r.name for r in session.execute(select(ListingState).where(ListingState.code == renamed)
                                                 .order_by(ListingState.valid_from)).scalars()]
        assert names[0] == by_code[renamed].name and names[-1] == by_code[renamed].name_on(date(2026, 10, 5))
        # A past day is still answered as it was: the September listing did not exist on April 15.
        assert reuser not in {s.code for s in listing_states_as_of(session, delisting_day)}
    engine.dispose()


def test_policy_all_and_override(market_env: str, resources: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    day = date(2026, 12, 4)
    monkeypatch.setenv("UNIVERSE_POLICY", "all")
    reset_settings_cache()
    assert run_on(day, resources).success
    active = {row[0] for row in snapshot(market_env)["stocks"] if row[4]}
    assert active == {x.code for x in listed_on(day)}
    monkeypatch.setenv("STOCK_UNIVERSE", "005930,000660")
    reset_settings_cache()
    assert run_on(day, resources).success
    after = snapshot(market_env)
    assert {row[0] for row in after["stocks"] if row[4]} == {"005930", "000660"}
    assert len(after["states"]) == len(listed_on(day))  # the history is recorded whatever is tracked


@pytest.mark.parametrize("damage", ["truncated", "duplicate", "utf8", "no_member"])
def test_bad_master_fails_clearly_and_yesterdays_universe_stays(
    market_env: str, resources: dict[str, Any], damage: str
) -> None:
    day = date(2026, 12, 3)
    assert run_on(day, resources).success
    good = snapshot(market_env)
    content = master_file("KOSDAQ", date(2026, 12, 4))
    lines = content.split(b"\n")[:-1]
    if damage == "truncated":
        lines[99] = lines[99][:-3]
    elif damage == "duplicate":
        lines.append(lines[99])
    elif damage == "utf8":
        lines = [line[:21] + line[21:-221].decode("cp949").encode("utf-8") + line[-221:] for line in lines]
    first_korean = next(i for i, line in enumerate(lines, 1) if not line[21:-221].isascii())
    bad = b"\n".join(lines) + b"\n"
    archive = make_zip("KOSPI" if damage == "no_member" else "KOSDAQ", bad)
    app = FastAPI()

    @app.get("/common/master/kospi_code.mst.zip")
    def kospi() -> Response:
        return Response(make_zip("KOSPI", master_file("KOSPI", date(2026, 12, 4))), media_type="application/zip")

    @app.get("/common/master/kosdaq_code.mst.zip")
    def kosdaq() -> Response:
        return Response(archive, media_type="application/zip")

    with ServerThread(app) as server:
        damaged = {**resources, "kis_master": KisMasterResource(base_url=server.url)}
        result = run_on(date(2026, 12, 4), damaged, raise_on_error=False)
    assert not result.success
    message = str(result.get_step_failure_events()[0].event_specific_data.error)
    expected = {"truncated": "kosdaq_code.mst line 100:", "duplicate": f"line {len(lines)}: duplicated code",
                "utf8": f"line {first_korean}: the name is UTF-8", "no_member": "no member 'kosdaq_code.mst'"}[damage]
    assert "yesterday's universe stays in force" in message and expected in message
    assert snapshot(market_env) == good
