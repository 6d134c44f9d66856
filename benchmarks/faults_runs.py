"""The fault suite's Dagster scenarios: PostgreSQL stopped during a run, kill -9 mid-run, upstream 5xx / rate limit /
malformed answers, LLM down. Every run is a real run of the code location's assets (``benchmarks.faults_worker``)
against the sandbox, for one past trading day ``DAY``, on a database of the suite's own PostgreSQL.

A *clean run* first: a database copied from the template (migrated, the universe, DART corp codes and a month of
daily bars before ``DAY``), then the market run (``kis/daily_bars``, ``kis/index_bars``, ``dart/disclosures`` for
``DAY``), ``news/naver`` and ``predictions/daily`` for ``DAY``. Its rows, less the columns a run stamps with its own
time or sequence (``fetched_at``, ``first_seen_at``, ``created_at``, surrogate ids), are the reference. Each
scenario runs on a fresh copy of the template, breaks something, re-runs after recovery, and counts the rows
*lost* (in the clean run, not here) and *duplicated* (here more often than in the clean run, or not in it).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import count
from typing import Any

import psycopg

from benchmarks.faults_api import Outcome
from benchmarks.faults_services import Postgres, RunWorker, Sandbox
from stock_insights_tests.conftest import free_port

DAY = "2026-12-03"
HISTORY = ("2026-11-02", "2026-12-02")
MARKET = {"assets": ["kis/daily_bars", "kis/index_bars", "dart/disclosures"], "start": DAY}
NEWS = {"assets": ["news/naver"]}
PREDICTIONS = {"assets": ["predictions/daily"], "start": DAY}
LLM_MODELS = ("gpt-4o", "deepseek-v3")

SNAPSHOT_SQL = {
    "daily_bars": "SELECT code, trading_date, adjusted, open, high, low, close, volume, trade_value, revised, source "
    "FROM daily_bars",
    "index_bars": "SELECT index_code, trading_date, open, high, low, close, volume, trade_value, source "
    "FROM index_bars",
    "disclosures": "SELECT rcept_no, corp_code, corp_name, code, corp_cls, report_name, filer_name, receipt_date, "
    "remarks, viewer_url, is_correction, version, original_rcept_no, amends_rcept_no FROM disclosures",
    "news_articles": "SELECT canonical_url, title, body, summary, language, published_at, content_hash "
    "FROM news_articles",
    "news_article_sources": "SELECT a.canonical_url, s.source, s.source_url, s.source_item_id, s.published_at, "
    "s.title FROM news_article_sources s JOIN news_articles a ON a.id = s.article_id",
    "news_stock_links": "SELECT a.canonical_url, l.code, l.method FROM news_stock_links l "
    "JOIN news_articles a ON a.id = l.article_id",
    "predictions": "SELECT model, code, target_date, horizon, as_of, direction, prob_up, expected_return, "
    "prompt_version FROM predictions",
}
TABLES = {
    "kis": ("daily_bars", "index_bars"),
    "dart": ("disclosures",),
    "market": ("daily_bars", "index_bars", "disclosures"),
    "news": ("news_articles", "news_article_sources", "news_stock_links"),
    "predictions": ("predictions",),
}
WRITING = (
    "SELECT left(query, 60) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid() "
    "AND state IN ('active', 'idle in transaction') "
    "AND (query ILIKE 'INSERT%%' OR query ILIKE 'COPY%%' OR query ILIKE 'UPDATE%%' OR query ILIKE 'DELETE%%')"
)

Snapshot = dict[str, Counter[tuple[Any, ...]]]


@dataclass
class Diff:
    lost: int = 0
    duplicated: int = 0
    rows: int = 0  # rows of the clean run compared
    by_table: dict[str, tuple[int, int]] = field(default_factory=dict)

    def __str__(self) -> str:
        bad = {t: v for t, v in self.by_table.items() if v != (0, 0)}
        return f"{self.rows} rows: {self.lost} lost, {self.duplicated} duplicated" + (f" {bad}" if bad else "")


@dataclass
class RunRig:
    pg: Postgres
    sandbox: Sandbox
    worker: RunWorker
    env: dict[str, str]
    clean: Snapshot = field(default_factory=dict)
    clean_seconds: dict[str, float] = field(default_factory=dict)
    _names: Iterator[int] = field(default_factory=count)

    def database(self, label: str) -> str:
        """A fresh copy of the template database; returns its name."""
        name = f"faults_{label}_{next(self._names)}"
        for attempt in range(20):  # the template may not be copied while a connection to it closes
            try:
                self.pg.create_database(name, template="faults_template")
                return name
            except psycopg.errors.ObjectInUse:
                if attempt == 19:
                    raise
                time.sleep(0.25)
        raise AssertionError("unreachable")

    def command(self, base: dict[str, Any], database: str) -> dict[str, Any]:
        return {**base, "env": {**self.env, "DATABASE_URL": self.pg.url_of(database)}}

    def run(self, base: dict[str, Any], database: str, worker: RunWorker | None = None) -> dict[str, Any]:
        return (worker or self.worker).run(self.command(base, database))

    def snapshot(self, database: str, tables: tuple[str, ...]) -> Snapshot:
        return {t: Counter(self.pg.execute(SNAPSHOT_SQL[t], database)) for t in tables}

    def compare(self, database: str, group: str) -> Diff:
        got = self.snapshot(database, TABLES[group])
        diff = Diff()
        for table, rows in got.items():
            clean = self.clean[table]
            lost, extra = sum((clean - rows).values()), sum((rows - clean).values())
            diff.lost += lost
            diff.duplicated += extra
            diff.rows += sum(clean.values())
            diff.by_table[table] = (lost, extra)
        return diff


def _check(answer: dict[str, Any], what: str) -> dict[str, Any]:
    if not answer.get("ok"):
        raise RuntimeError(f"{what} failed: {answer.get('error')}")
    return answer


def prepare(pg: Postgres, sandbox: Sandbox, worker: RunWorker, root_env: dict[str, str]) -> RunRig:
    """The template database and the clean run."""
    env = {**sandbox.pipeline_env(), **root_env, "MILVUS_URI": f"http://127.0.0.1:{free_port()}"}
    rig = RunRig(pg, sandbox, worker, env)
    pg.create_database("faults_template")
    for setup in ({"assets": ["universe/stocks"]}, {"assets": ["dart/corp_codes"]},
                  {"assets": ["kis/daily_bars"], "start": HISTORY[0], "end": HISTORY[1]}):
        _check(rig.run(setup, "faults_template"), f"setting up the template ({setup['assets'][0]})")
    clean = rig.database("clean")
    for name, base in (("market", MARKET), ("news", NEWS), ("predictions", PREDICTIONS)):
        rig.clean_seconds[name] = _check(rig.run(base, clean), f"the clean {name} run")["seconds"]
    rig.clean = rig.snapshot(clean, tuple(SNAPSHOT_SQL))
    return rig


def _wait_taken(sandbox: Sandbox, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while sandbox.pending():
        if time.monotonic() > deadline:
            raise TimeoutError("the run never reached the delayed request")
        time.sleep(0.02)


def _rerun(rig: RunRig, database: str, groups: tuple[dict[str, Any], ...]) -> tuple[float, str]:
    """Runs the commands again; (seconds until all succeeded, errors seen)."""
    t0 = time.monotonic()
    errors = [a["error"] for a in (rig.run(base, database) for base in groups) if not a.get("ok")]
    return time.monotonic() - t0, "; ".join(errors)


def pg_during_run(rig: RunRig, outage: float = 5.0) -> Outcome:
    """PostgreSQL stopped while the market run fetches (a DART answer is held 4 s), started ``outage`` s later."""
    database = rig.database("pgrun")
    rig.sandbox.fault("/api/list.json", "delay", count=1, seconds=4)
    rig.worker.send(rig.command(MARKET, database))
    _wait_taken(rig.sandbox)
    rig.pg.stop()
    stopped = time.monotonic()
    answer = rig.worker.answer()
    failed_after = time.monotonic() - stopped
    time.sleep(max(0.0, outage - (time.monotonic() - stopped)))
    rig.pg.start()
    partial = rig.compare(database, "market")
    seconds, errors = _rerun(rig, database, (MARKET,))
    diff = rig.compare(database, "market")
    outcome = "succeeded (wrote nothing while PostgreSQL was away?)" if answer.get("ok") else \
        f"failed after {failed_after:.1f} s: {answer.get('error')}"
    return Outcome("PostgreSQL stopped during a run", "2 runs", "-", "-", "-", diff.lost, diff.duplicated,
                   None if errors else seconds,
                   [f"run {outcome}", f"before the re-run: {partial.rows - partial.lost} of {partial.rows} rows",
                    f"re-run after restart: {diff}" + (f"; errors: {errors}" if errors else "")])


def _kill_when_writing(rig: RunRig, victim: RunWorker, database: str, timeout: float = 120) -> str:
    """Polls for a write statement of the victim's on ``database``; SIGKILLs it at the first one seen."""
    conninfo = f"host=127.0.0.1 port={rig.pg.port} user=postgres dbname=postgres"
    with psycopg.connect(conninfo, autocommit=True) as conn:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and victim.popen.poll() is None:
            row = conn.execute(WRITING, (database,)).fetchone()
            if row is not None:
                victim.kill9()
                return str(row[0]).split("(")[0].strip()
            time.sleep(0.002)
    return ""


def kill9_mid_run(rig: RunRig, victim: RunWorker) -> Outcome:
    """A run process killed with SIGKILL while a write transaction of its run is open, then the re-run."""
    database = rig.database("kill9")
    victim.wait_ready()
    statement = ""
    done: list[str] = []
    runs = (MARKET, NEWS)
    killed = len(runs) - 1
    for n, base in enumerate(runs):
        victim.send(rig.command(base, database))
        statement = _kill_when_writing(rig, victim, database)
        if statement:
            killed = n
            break
        done.append(base["assets"][-1] if victim.answer().get("ok") else f"{base['assets'][-1]} (failed)")
    partial = rig.compare(database, "market"), rig.compare(database, "news")
    # Recovery: the killed run again. Then the runs it never reached, so that every row can be compared.
    seconds, errors = _rerun(rig, database, runs[killed : killed + 1])
    _rerun(rig, database, runs[killed + 1 :])
    market, news = rig.compare(database, "market"), rig.compare(database, "news")
    killed = f"killed -9 during {statement!r}" if statement else "the runs ended before a write was seen"
    present = sum(d.rows - d.lost for d in partial)
    return Outcome("kill -9 mid-run, re-run", "3 runs", "-", "-", "-", market.lost + news.lost,
                   market.duplicated + news.duplicated, None if errors else seconds,
                   [f"{killed} (runs finished before: {', '.join(done) or 'none'})",
                    f"rows present after the kill: {present} of {sum(d.rows for d in partial)}",
                    f"re-run: market {market}; news {news}" + (f"; errors: {errors}" if errors else "")])


# (upstream, path the faults apply to, command, tables, {label: sandbox fault kind})
UPSTREAMS = (
    ("KIS", "/uapi/", MARKET, "kis",
     {"5xx": "html_error", "rate limit (EGW00201, HTTP 500)": "rate_limit", "malformed JSON": "malformed_json"}),
    ("DART", "/api/list.json", MARKET, "dart",
     {"5xx": "html_error", "rate limit (status 020)": "daily_quota", "malformed JSON": "malformed_json"}),
    ("Naver", "/v1/search/news.json", NEWS, "news",
     {"5xx": "html_error", "429 (errorCode 012)": "rate_limit", "malformed JSON": "malformed_json"}),
)


def upstream_faults(rig: RunRig, faults: int = 3) -> list[Outcome]:
    """Each upstream answering ``faults`` consecutive 5xx, rate-limit or malformed answers, then the re-run."""
    rows = []
    for upstream, path, base, group, kinds in UPSTREAMS:
        for label, kind in kinds.items():
            database = rig.database(f"up{group}")
            rig.sandbox.clear()
            rig.sandbox.fault(path, kind, count=faults)
            answer = rig.run(base, database)
            left = sum(f["remaining"] for f in rig.sandbox.pending())
            rig.sandbox.clear()
            first = rig.compare(database, group)
            silent = first.lost + first.duplicated if answer.get("ok") else 0
            seconds, errors = _rerun(rig, database, (base,))
            diff = rig.compare(database, group)
            verdict = "succeeded (retried)" if answer.get("ok") else f"failed clearly: {answer.get('error')}"
            rows.append(Outcome(
                f"{upstream} {label}", f"{faults - left} faulted", "-", "-", silent, diff.lost, diff.duplicated,
                None if errors else seconds,
                [f"run {verdict}; rows then: {first}", f"re-run: {diff}" + (f"; errors: {errors}" if errors else "")],
            ))
    return rows


def llm_down(rig: RunRig) -> Outcome:
    """Every chat call failing (HTTP 500): the breaker stops each model, the coverage check fails."""
    database = rig.database("llm")
    rig.sandbox.clear()
    for base in (MARKET, NEWS):  # the day's inputs, as in the clean run
        _check(rig.run(base, database), f"the LLM scenario's {base['assets'][0]} run")
    many = 100_000
    rig.sandbox.fault("/chat/completions", "openai_500", count=many)
    answer = rig.run(PREDICTIONS, database)
    calls = many - sum(f["remaining"] for f in rig.sandbox.pending())
    rig.sandbox.clear()
    got = rig.snapshot(database, ("predictions",))["predictions"]
    due = Counter(r for r in rig.clean["predictions"].elements() if r[0] in LLM_MODELS)
    missing = sum((due - got).values())
    coverage = answer.get("checks", {}).get("forecast_coverage")
    seconds, errors = _rerun(rig, database, (PREDICTIONS,))
    diff = rig.compare(database, "predictions")
    return Outcome(
        "LLM down", f"{calls} chat calls", "-", "-", "-", diff.lost, diff.duplicated, None if errors else seconds,
        [f"run {'succeeded' if answer.get('ok') else 'failed: ' + str(answer.get('error'))} in "
         f"{answer.get('seconds', 0):.1f} s (healthy: {rig.clean_seconds['predictions']:.1f} s); "
         f"{calls} HTTP calls to the chat API for {sum(due.values())} LLM forecasts due",
         f"forecasts missing: {missing} of {sum(due.values())}; forecast_coverage check "
         f"{'passed' if coverage else 'FAILED (as it should)' if coverage is False else 'not run'}",
         f"re-run after recovery: {diff}" + (f"; errors: {errors}" if errors else "")],
    )
