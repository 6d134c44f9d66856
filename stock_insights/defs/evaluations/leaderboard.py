"""``evaluations/leaderboard``: model standings over 20, 60 and 250 trading days, and A/B verdicts.

The standings are the horizon-1 forecasts'. Horizon-5 forecasts get their own boards in the same snapshot
(``payload["horizon_5"]``, and a second table in the Markdown): the same windows of exit days, the same
statistics except the long-short portfolio (five-day returns of consecutive days overlap, so a daily book of
them means nothing), and A/B verdicts whose Diebold-Mariano test allows for the overlap (lags up to 4).
"""

import base64
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
from stock_insights.metrics.comparison import experiment_verdicts
from stock_insights.metrics.leaderboard import Leaderboard, build_leaderboards, to_jsonable
from stock_insights.metrics.leaderboard import Settings as MetricSettings
from stock_insights.metrics.plots import reliability_svg
from stock_insights.predictors.store import scored_rows, upsert_leaderboard_snapshots
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
        "| L/S IR | max DD |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
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
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


@dg.asset(
    key=["evaluations", "leaderboard"],
    group_name="evaluations",
    kinds={"python", "sql"},
    description="Model standings as of each trading day over rolling windows of 20, 60 and 250 trading days: hit "
    "rate with Wilson interval, Pesaran-Timmermann, MCC, Brier and skill score, log loss, ECE with reliability "
    "curves, daily IC and Rank IC with ICIR and t, and a daily top-k long-short portfolio after fees and sell tax "
    "(IR, max drawdown). Per-date figures first, then across dates. Also every running experiment's paired A/B "
    "verdicts (McNemar, Diebold-Mariano with HLN, Holm).",
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
            boards, rows = built
            upsert_leaderboard_snapshots(session, rows)
            last_tables = "\n\n".join(r["markdown"] for r in rows)
            board = boards[
                max(b for b in boards if boards[b].models) if any(boards[b].models for b in boards) else WINDOWS[0]
            ]
            last_svg = reliability_svg(
                {m.model: m.calibration for m in board.models}, f"Reliability, {board.window} trading days to {day}"
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
    session: Session, day: date, metric_settings: MetricSettings, experiments: list
) -> tuple[dict[int, Leaderboard], list[dict[str, Any]]] | None:
    """(the horizon-1 boards, the ``leaderboards`` rows of ``day``: one per window) or None without scored rows.

    What the asset stores and the API serves: ``payload`` is ``to_jsonable`` of the horizon-1 board, with
    ``horizon``, the running experiments' verdicts and the horizon-5 board of the same window (``horizon_5``).
    """
    sessions = calendar.sessions(day - timedelta(days=max(WINDOWS) * 2), day)[-max(WINDOWS) :]
    frame = pd.DataFrame(scored_rows(session, sessions[0], day))
    if frame.empty:
        return None
    boards = build_leaderboards(frame, windows=WINDOWS, end=day, settings=metric_settings)
    payloads = {w: to_jsonable(b) for w, b in boards.items()}
    ab = verdicts(frame, experiments, horizon=1)
    long_boards = horizon_5_boards(session, sessions[0], day, metric_settings, experiments)
    rows = []
    for window, payload in payloads.items():
        payload["horizon"] = 1
        payload["experiments"] = ab
        table = markdown_table(payload)
        if window in long_boards:
            payload["horizon_5"] = long_boards[window]
            table += "\n\n" + markdown_table(long_boards[window], HORIZON_5)
        rows.append(
            {"as_of_date": day, "window": window, "payload": payload, "markdown": table, "created_at": utcnow()}
        )
    return boards, rows


def verdicts(frame: pd.DataFrame, experiments: list, horizon: int) -> dict:
    """Each running experiment's paired verdicts on ``frame`` (arms whose model has rows)."""
    out = {}
    for experiment, arms in experiments:
        arm_models = {a.name: a.model for a in arms if a.model in set(frame["model"])}
        if len(arm_models) >= 2:
            out[experiment.name] = to_jsonable(experiment_verdicts(frame, arm_models, horizon=horizon))
    return out


def horizon_5_boards(
    session: Session, first: date, day: date, metric_settings: MetricSettings, experiments: list
) -> dict[int, dict]:
    """The horizon-5 boards by window (empty without scored horizon-5 forecasts), portfolio left out."""
    frame = pd.DataFrame(scored_rows(session, first, day, horizon=HORIZON_5))
    if frame.empty:
        return {}
    boards = {
        w: to_jsonable(b)
        for w, b in build_leaderboards(frame, WINDOWS, end=day, settings=metric_settings, horizon=HORIZON_5).items()
    }
    ab = verdicts(frame, experiments, horizon=HORIZON_5)
    for board in boards.values():
        board["horizon"] = HORIZON_5
        board["experiments"] = ab
        for model in board["models"]:
            model["portfolio"] = None
    return boards
