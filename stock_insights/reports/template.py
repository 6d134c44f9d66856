"""The deterministic daily report: Markdown from the facts' view, the same for the same facts.

Every number comes from ``facts.view`` (already formatted); sources are cited as ``[n]`` and listed
with their links at the end. ``render`` also frames an LLM-written summary (``body``): the heading,
the forecast and standings tables and the sources stay deterministic around it.
"""

from __future__ import annotations

from typing import Any

from stock_insights.reports.facts import ReportFacts, Source, kst, title, view

TEMPLATE = "template"


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _link_text(text: str) -> str:
    return text.replace("[", "\\[").replace("]", "\\]").replace("\n", " ")


def _documents(v: dict[str, Any]) -> list[str]:
    lines = ["## Filings", ""]
    if v["filings"]:
        for f in v["filings"]:
            lines.append(
                f"- {f['title']} ({f['company']}; filed by {f['filer']}; first seen {f['first_seen']}) [{f['source']}]"
            )
        hidden = int(v["filings_in_window"]) - len(v["filings"])
        if hidden > 0:
            lines.append(f"- _{hidden} more not shown ({v['filings_in_window']} in the window)._")
    else:
        lines.append("None first seen in the window.")
    lines += ["", "## News", ""]
    if v["news"]:
        for a in v["news"]:
            stocks = f"; {', '.join(a['stocks'])}" if v["report"] == "market" and a["stocks"] else ""
            lines.append(
                f"- {a['title']} ({', '.join(a['outlets'])}{stocks}; first seen {a['first_seen']}) [{a['source']}]"
            )
        hidden = int(v["news_in_window"]) - len(v["news"])
        if hidden > 0:
            lines.append(
                f"- _{hidden} more not shown ({v['news_in_window']} in the window, the most widely carried first)._"
            )
    else:
        lines.append("None first seen in the window.")
    return lines


def _stock_day(v: dict[str, Any]) -> list[str]:
    stock, index = v["stock"], v["index"]
    if stock["close"] == "n/a":
        return ["## The day", "", f"No close for {v['trading_date']} yet: the day's bars are not in."]
    line = (
        f"{stock['name']} closed at **{stock['close']}** ({stock['change']}) from {stock['previous_close']} "
        f"on {v['previous_session']}."
    )
    if index is not None:
        line += (
            f" {index['name']}: {index['close']} ({index['change']}). Excess over the index: "
            f"**{v['excess_over_index']}**."
        )
    return ["## The day", "", line]


def _market_day(v: dict[str, Any]) -> list[str]:
    indices = [f"{i['name']} {i['close']} ({i['change']})" for i in v["indices"] if i is not None]
    lines = ["## The day", ""]
    lines.append(("Indices: " + ", ".join(indices) + ".") if indices else "No index close for the day yet.")
    lines.append("")
    lines.append(f"Of {v['stocks_tracked']} tracked stocks, {v['stocks_up']} rose and {v['stocks_down']} fell.")
    lines.append("")
    return lines + _table(
        ["stock", "close", "change", "excess over index"],
        [
            [f"{_cell(s['name'])} ({s['code']}, {s['market']})", s["close"], s["change"], s["excess_over_index"]]
            for s in v["stocks"]
        ],
    )


def _table(headers: list[str], rows: list[list[object]]) -> list[str]:
    """A Markdown table; cells are written as given (callers escape free text with ``_cell``)."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    return lines + ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]


def _forecasts(v: dict[str, Any]) -> list[str]:
    lines = ["## Forecasts", ""]
    if not v["forecasts"]:
        return [*lines, "No forecast for this day."]
    return lines + _table(
        ["model", "call", "P(up)", "expected", "outcome", "realized"],
        [
            [_cell(p["model"]), p["call"], p["prob_up"], p["expected_return"], p["outcome"], p["realized_return"]]
            for p in v["forecasts"]
        ],
    )


def _models_today(v: dict[str, Any]) -> list[str]:
    lines = ["## Models today", ""]
    if not v["models_today"]:
        return [*lines, "No forecast for this day."]
    return lines + _table(
        ["model", "forecasts", "hits", "misses", "pending", "hit rate"],
        [
            [_cell(m["model"]), m["forecasts"], m["hits"], m["misses"], m["pending"], m["hit_rate_today"]]
            for m in v["models_today"]
        ],
    )


def _standings(v: dict[str, Any]) -> list[str]:
    lines = ["## Standings", ""]
    board = v["standings"]
    if board is None:
        return [*lines, "No standings yet (evaluations/leaderboard has not run up to this day)."]
    late = board.get("late_forecasts_left_out", "0")
    lines += [
        f"Over {board['window_trading_days']} trading days to {board['as_of']} (evaluations/leaderboard, ranked by "
        f"Brier score), {board.get('forecasts', 'all forecasts')}"
        + (f"; {late} late forecasts left out:" if late != "0" else ":"),
        "",
    ]
    return lines + _table(
        ["rank", "model", "scored", "hit rate (95% CI)", "Brier"],
        [
            [m["rank"], _cell(m["model"]), m["forecasts_scored"], f"{m['hit_rate']} ({m['hit_rate_95ci']})", m["brier"]]
            for m in board["models"]
        ],
    )


def sources_section(sources: list[Source]) -> list[str]:
    lines = ["## Sources", ""]
    if not sources:
        return [*lines, "No news or filing in the window."]
    for s in sources:
        kind = "DART filing" if s.kind == "filing" else s.outlet
        lines.append(f"{s.n}. [{_link_text(s.title)}]({s.url}): {kind}, first seen {kst(s.first_seen_at)}")
    return lines


def render(facts: ReportFacts, *, body: str | None = None, writer: str = TEMPLATE) -> str:
    """The report's Markdown. Without ``body``: the template. With it: an LLM's summary, framed."""
    v = view(facts)
    by = (
        "deterministic template"
        if body is None
        else f"summary written by {writer} from these facts (numbers and citations checked against them)"
    )
    lines = [
        f"# {title(facts)}",
        "",
        f"_Daily report, {by}. As of the close; news and filings first seen {v['news_and_filings_first_seen']}._",
        "",
    ]
    if body is not None:
        lines += ["## Summary", "", body.strip(), ""]
    elif v["report"] == "stock":
        lines += [*_stock_day(v), "", *_documents(v), ""]
    else:
        lines += [*_market_day(v), "", *_documents(v), ""]
    lines += [*(_forecasts(v) if v["report"] == "stock" else _models_today(v)), ""]
    lines += [*_standings(v), ""]
    lines += sources_section(facts.sources())
    return "\n".join(lines) + "\n"
