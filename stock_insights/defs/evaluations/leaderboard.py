"""``evaluations/leaderboard``: model standings over 20, 60 and 250 trading days, and A/B verdicts.

The standings are the horizon-1 forecasts'. Horizon-5 forecasts get their own boards in the same snapshot
(``payload["horizon_5"]``, and a second table in the Markdown): the same windows of exit days, the same
statistics except the long-short portfolio (five-day returns of consecutive days overlap, so a daily book of
them means nothing), and A/B verdicts whose Diebold-Mariano test allows for the overlap (lags up to 4).

Live versus late, and the training cutoffs (``stock_insights.metrics.honesty``): the snapshot holds the board of
every forecast (the top level, ``forecasts: "all"``) and, under ``variants``, the live board (the ledger's rule),
and both restricted to target days after each model's training cutoff. The scored versions are read once per
horizon, and a variant whose rows are another's is stored as a reference, not computed again: on a normal day
(every forecast live, every target after the cutoffs) the run computes what it computed before.
"""

import base64
from collections.abc import Mapping
from datetime import date, timedelta
from typing import Any

import dagster as dg
import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from stock_insights import calendar
from stock_insights.defs.metadata import definition_metadata, run_metadata
from stock_insights.defs.partitions import partition_days, trading_days
from stock_insights.defs.resources import DatabaseResource
from stock_insights.metrics import honesty
from stock_insights.metrics.comparison import experiment_verdicts
from stock_insights.metrics.leaderboard import Leaderboard, build_leaderboards, to_jsonable
from stock_insights.metrics.leaderboard import Settings as MetricSettings
from stock_insights.metrics.plots import reliability_svg
from stock_insights.predictors.config import load_registry
from stock_insights.predictors.store import scored_versions, upsert_leaderboard_snapshots
from stock_insights.settings import get_settings
from stock_insights.storage.db import session_scope, utcnow
from stock_insights.storage.models import Experiment, ExperimentArm

WINDOWS = (20, 60, 250)
HORIZON_5 = 5


def _fmt(value: object, pattern: str = "{:.3f}") -> str:
    return "–" if value is None else pattern.format(value)


def markdown_table(board: dict, horizon: int = 1) -> str:
    title = f"**Window {board['window']} trading days** ({board['from_date']} .. {board['to_date']})"
    if horizon != 1:
        title += f", horizon {horizon} sessions (by exit day; no long-short book: the returns overlap)"
    lines = [
        title,
        "",
        "| rank | model | n | hit rate [95% CI] | PT p | MCC | Brier | BSS | log loss | ECE | Rank IC (ICIR) "
        "| L/S IR | max DD | after training cutoff: n, hit rate, Brier |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for m in board["models"]:
        hr, brier, pt = m["hit_rate"], m["brier"], m["pesaran_timmermann"]
        ic = (m["ic"].get("expected_return") or {}).get("rank_ic") or {}
        net = (m.get("portfolio") or {}).get("net") or {}
        cells = [
            "–" if m["rank"] is None else str(m["rank"]),
            m["model"],
            str(m["n_predictions"]),
            f"{_fmt(hr['rate'])} [{_fmt(hr['ci_low'])}, {_fmt(hr['ci_high'])}]",
            _fmt(pt.get("p_value")),
            _fmt(m["confusion"].get("mcc")),
            _fmt(brier.get("brier"), "{:.4f}"),
            _fmt(brier.get("skill")),
            _fmt(m["log_loss"], "{:.4f}"),
            _fmt(m["calibration"].get("ece")),
            f"{_fmt(ic.get('mean'))} ({_fmt(ic.get('ir'), '{:.2f}')})",
            _fmt(net.get("information_ratio"), "{:.2f}"),
            _fmt(net.get("max_drawdown"), "{:.1%}"),
            _after_cutoff_cell(m),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _after_cutoff_cell(m: dict) -> str:
    after = m.get("after_cutoff")
    if after is None:
        return "–"
    cutoff = m.get("training_cutoff") or "none (learns nothing)"
    return f"{after['n_predictions']}, {_fmt(after['hit_rate'])}, {_fmt(after['brier'], '{:.4f}')} (cutoff {cutoff})"


@dg.asset(
    key=["evaluations", "leaderboard"],
    group_name="evaluations",
    kinds={"python", "sql"},
    description="Model standings as of each trading day over rolling windows of 20, 60 and 250 trading days: hit "
    "rate with Wilson interval, Pesaran-Timmermann, MCC, Brier and skill score, log loss, ECE with reliability "
    "curves, daily IC and Rank IC with ICIR and t, and a daily top-k long-short portfolio after fees and sell tax "
    "(IR, max drawdown). Per-date figures first, then across dates. Also every running experiment's paired A/B "
    "verdicts (McNemar, Diebold-Mariano with HLN, Holm). Four variants from one load: live forecasts (the "
    "ledger's rule: cut off and stored before 09:00 KST on their day), all forecasts (late ones included, "
    "counted), and each restricted to target days after the model's training cutoff.",
    partitions_def=trading_days,
    backfill_policy=dg.BackfillPolicy.single_run(),
    deps=[dg.AssetDep(["evaluations", "daily"], partition_mapping=dg.TimeWindowPartitionMapping(start_offset=-249))],
    metadata=definition_metadata(table="leaderboards", windows=list(WINDOWS)),
    automation_condition=dg.AutomationCondition.eager(),
)
def leaderboard(context: dg.AssetExecutionContext, database: DatabaseResource) -> dg.MaterializeResult:
    settings = get_settings()
    # A date needs both legs of the portfolio (2k stocks) to count for IC and the portfolio; with the
    # default eight tracked stocks and k = 3 that is six.
    metric_settings = MetricSettings(
        top_k=settings.EVAL_TOP_K,
        fee_per_side=settings.EVAL_FEE_PER_SIDE,
        sell_tax=settings.EVAL_SELL_TAX,
        min_stocks=2 * settings.EVAL_TOP_K,
    )
    days = partition_days(context)
    plots_dir = settings.DATA_DIR / "plots"
    plots_dir.mkdir(parents=True, exist_ok=True)
    last_tables, last_svg, last_path = "", "", None
    with session_scope(database.engine) as session:
        experiments = [
            (e, session.execute(select(ExperimentArm).where(ExperimentArm.experiment_id == e.id)).scalars().all())
            for e in session.execute(select(Experiment).where(Experiment.status == "running")).scalars()
        ]
        for day in days:
            built = snapshot_rows(session, day, metric_settings, experiments)
            if built is None:
                context.log.warning(f"no scored prediction up to {day}: no leaderboard")
                continue
            variant_boards, rows = built
            upsert_leaderboard_snapshots(session, rows)
            last_tables = "\n\n".join(r["markdown"] for r in rows)
            # The live board's curves; all forecasts' when none is live (a backfill), and the title says which.
            kind = honesty.LIVE if honesty.LIVE in variant_boards else honesty.ALL
            if not any(b.models for b in variant_boards[kind].values()):
                kind = honesty.ALL
            boards = variant_boards[kind]
            board = boards[
                max(b for b in boards if boards[b].models) if any(boards[b].models for b in boards) else WINDOWS[0]
            ]
            label = "live forecasts" if kind == honesty.LIVE or honesty.LIVE not in variant_boards else "all forecasts"
            last_svg = reliability_svg(
                {m.model: m.calibration for m in board.models},
                f"Reliability, {label}, {board.window} trading days to {day}",
            )
            last_path = plots_dir / f"reliability_{day.isoformat()}_{board.window}.svg"
            last_path.write_text(last_svg)
    image = base64.b64encode(last_svg.encode()).decode() if last_svg else ""
    metadata = run_metadata(len(days), [], leaderboard=dg.MetadataValue.md(last_tables or "_no scored predictions_"))
    if last_path is not None:
        metadata["reliability_plot"] = dg.MetadataValue.path(str(last_path))
        metadata["reliability"] = dg.MetadataValue.md(f"![reliability](data:image/svg+xml;base64,{image})")
    metadata.pop("preview", None)
    return dg.MaterializeResult(metadata=metadata)


def snapshot_rows(
    session: Session,
    day: date,
    metric_settings: MetricSettings,
    experiments: list,
    cutoffs: Mapping[str, str | None] | None = None,
) -> tuple[dict[str, dict[int, Leaderboard]], list[dict[str, Any]]] | None:
    """(the horizon-1 boards of each computed variant, the ``leaderboards`` rows of ``day``: one per window) or None
    without scored rows.

    What the asset stores and the API serves: ``payload`` is ``to_jsonable`` of the horizon-1 board of **every**
    forecast (``forecasts: "all"``), with ``horizon``, the running experiments' verdicts and the horizon-5 board of
    the same window (``horizon_5``); ``variants`` holds the ``live``, ``all_after_cutoff`` and
    ``live_after_cutoff`` boards in the same shape, or ``{"same_as": ...}`` when their rows are another's
    (``metrics.honesty``). Every model row carries ``training_cutoff``, ``n_late`` and, on full boards, its
    ``after_cutoff`` figures. The scored versions are loaded once per horizon; a board is computed once per
    variant whose rows differ. ``cutoffs``: training cutoffs by model (default: the registry's).
    """
    cutoffs = load_registry().training_cutoffs() if cutoffs is None else cutoffs
    sessions = calendar.sessions(day - timedelta(days=max(WINDOWS) * 2), day)[-max(WINDOWS) :]
    versions = pd.DataFrame(scored_versions(session, sessions[0], day))
    if versions.empty:
        return None
    daily = honesty.variants(versions, cutoffs)
    weekly = honesty.variants(pd.DataFrame(scored_versions(session, sessions[0], day, horizon=HORIZON_5)), cutoffs)
    boards = {name: build_leaderboards(f, windows=WINDOWS, end=day, settings=metric_settings) for name, f in
              daily.frames.items()}  # fmt: skip
    long_boards = {
        name: build_leaderboards(f, WINDOWS, end=day, settings=metric_settings, horizon=HORIZON_5)
        for name, f in weekly.frames.items()
        if not f.empty
    }
    verdicts_of = {(1, n): verdicts(f, experiments, horizon=1) for n, f in daily.frames.items()}
    verdicts_of |= {(HORIZON_5, n): verdicts(f, experiments, horizon=HORIZON_5) for n, f in weekly.frames.items()}
    build = _VariantBuilder(daily, weekly, boards, long_boards, verdicts_of, cutoffs)
    rows = []
    for window in WINDOWS:
        payload = build.payload(honesty.ALL, window)
        payload["variants"] = {name: build.stored(name, window) for name in honesty.VARIANTS if name != honesty.ALL}
        live, _, _ = honesty.resolve(payload, honesty.LIVE, False)
        table = "**Live forecasts** (cut off and stored before 09:00 KST on their day)\n\n" + _tables(live)
        if live is not payload:
            n_late = sum(m["n_late"] for m in payload["models"])
            table += f"\n\n**All forecasts, late included** ({n_late} late)\n\n" + _tables(payload)
        rows.append(
            {"as_of_date": day, "window": window, "payload": payload, "markdown": table, "created_at": utcnow()}
        )
    return boards, rows


def _tables(payload: Mapping[str, Any]) -> str:
    table = markdown_table(dict(payload))
    if payload.get("horizon_5") is not None:
        table += "\n\n" + markdown_table(payload["horizon_5"], HORIZON_5)
    return table


class _VariantBuilder:
    """The stored form of each variant of one day from the boards computed once per distinct variant."""

    def __init__(
        self,
        daily: honesty.Variants,
        weekly: honesty.Variants,
        boards: dict[str, dict[int, Leaderboard]],
        long_boards: dict[str, dict[int, Leaderboard]],
        verdicts_of: dict[tuple[int, str], dict],
        cutoffs: Mapping[str, str | None],
    ) -> None:
        self.daily, self.weekly = daily, weekly
        self.boards, self.long_boards = boards, long_boards
        self.verdicts_of, self.cutoffs = verdicts_of, cutoffs

    def stored(self, name: str, window: int) -> dict[str, Any]:
        """A reference when both horizons' rows of ``name`` are those of one other variant, else its payload."""
        same = self.daily.same_as.get(name)
        if same is not None and same == self.weekly.same_as.get(name):
            return {"same_as": same}
        return self.payload(name, window)

    def payload(self, name: str, window: int) -> dict[str, Any]:
        forecasts = honesty.ALL if name.startswith(honesty.ALL) else honesty.LIVE
        after = name.endswith("after_cutoff")
        restricted = None if after else honesty.variant_name(forecasts, True)
        board = self._board(self.daily, self.boards, name, window)
        assert board is not None  # the horizon-1 frames always have every window
        self._annotate(board, self.daily, self.boards, name, restricted, window, forecasts, after)
        board["horizon"] = 1
        board["experiments"] = self.verdicts_of[(1, self.daily.source(name))]
        week = self._board(self.weekly, self.long_boards, name, window)
        if week is not None:
            self._annotate(week, self.weekly, self.long_boards, name, restricted, window, forecasts, after)
            week["horizon"] = HORIZON_5
            week["experiments"] = self.verdicts_of[(HORIZON_5, self.weekly.source(name))]
            for model in week["models"]:
                model["portfolio"] = None
            board["horizon_5"] = week
        return board

    @staticmethod
    def _board(
        rows: honesty.Variants, computed: dict[str, dict[int, Leaderboard]], name: str, window: int
    ) -> dict[str, Any] | None:
        found = computed.get(rows.source(name), {}).get(window)
        return None if found is None else to_jsonable(found)

    def _annotate(
        self,
        board: dict[str, Any],
        rows: honesty.Variants,
        computed: dict[str, dict[int, Leaderboard]],
        name: str,
        restricted: str | None,
        window: int,
        forecasts: str,
        after: bool,
    ) -> None:
        source = computed[rows.source(name)][window]
        honesty.annotate(
            board,
            forecasts=forecasts,
            after_cutoff=after,
            cutoffs=self.cutoffs,
            n_late=rows.late_counts(name, source.from_date, source.to_date),
            restricted=None if restricted is None else self._board(rows, computed, restricted, window),
        )


def verdicts(frame: pd.DataFrame, experiments: list, horizon: int) -> dict:
    """Each running experiment's paired verdicts on ``frame`` (arms whose model has rows)."""
    out: dict[str, Any] = {}
    if frame.empty:
        return out
    for experiment, arms in experiments:
        arm_models = {a.name: a.model for a in arms if a.model in set(frame["model"])}
        if len(arm_models) >= 2:
            out[experiment.name] = to_jsonable(experiment_verdicts(frame, arm_models, horizon=horizon))
    return out
