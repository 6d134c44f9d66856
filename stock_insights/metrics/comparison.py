"""Paired comparison of two models on the same (stock, date) predictions, and the verdict of an A/B experiment.

Formulas from ``/work/shared/reference/forecasting-and-evaluation.md`` §5.7 (Diebold-Mariano with the
Harvey-Leybourne-Newbold correction), §5.8 (McNemar, exact below 25 discordant pairs; Holm across variants)
and §8.3 (the A/B protocol: McNemar on paired hits, DM on per-date averaged loss differentials, Holm).

Conventions:
- Pairs are the (code, date) keys both arms scored; each arm uses its own row for that key. Rows still
  pending (no realized return) are dropped before pairing.
- Hits follow ``stock_insights.metrics.outcome`` (one binary event: up iff realized_return > 0; a call is up
  iff direction is "up"), recomputed from ``direction`` and ``realized_return``, so a stale stored ``hit``
  cannot disagree with Brier.
- Loss per prediction: ``"brier"`` = (prob_up − o)² with o = 1 if realized_return > 0 (the stored Brier);
  ``"squared_error"`` = (expected_return − realized_return)². DM runs on dₜ = mean over the date's pairs of
  (loss of A − loss of B): positive dₜ means A lost more that day, so B was better.
- Hits are compared **clustered by date** (:func:`clustered_mcnemar`): stock-days of one date share the
  market's move, so the pooled McNemar over stock-days (:func:`mcnemar`, kept for its counts and as a
  reference) is too optimistic — on shuffled controls it rejected 7.1% at the 5% level. The clustered test
  works on per-date differences of hit rates, dates being the unit of independence, as DM does for losses.
- Holm runs across every p-value of the experiment (each pair's clustered McNemar and DM); an untestable
  comparison (p None) and a pair with fewer than ``MIN_DATES_FOR_VERDICT`` paired dates are not part of the
  family, and such a pair gets no winner: its verdict says there are too few dates.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Literal

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy import stats

from stock_insights.metrics.classification import as_binary, as_real, same_length
from stock_insights.metrics.outcome import hits as hits_of
from stock_insights.metrics.outcome import outcomes_up
from stock_insights.metrics.ranking import plain_label

Loss = Literal["brier", "squared_error"]
LOSSES: tuple[str, ...] = ("brier", "squared_error")
EXACT_BELOW = 25  # §5.8: exact binomial test when b + c < 25
ALPHA = 0.05
NO_DIFFERENCE = "no significant difference"
TOO_FEW_DATES = "too few paired dates for a verdict"
# A verdict (and a ranking) needs at least this many dates with paired scored predictions. The paired tests
# compare per-date differences with Student's t on T − 1 degrees of freedom: below ten dates the t reference of
# a discrete, zero-heavy differential is unreliable and a 5% test has almost no power, so a "no difference"
# would mean "not measured". Ten sessions are two trading weeks, half the shortest leaderboard window.
MIN_DATES_FOR_VERDICT = 10
LOSS_LABEL = {"brier": "Brier score", "squared_error": "squared error of expected return"}


# --------------------------------------------------------------------------------------------------
# §5.8 McNemar


@dataclass(frozen=True)
class McNemar:
    n_pairs: int
    both_hit: int
    a_only: int  # b: A hit, B missed
    b_only: int  # c: A missed, B hit
    neither: int
    method: Literal["exact", "chi2", "date_clustered"]
    # χ² with continuity correction; None for the exact test; HLN t for the date-clustered test
    statistic: float | None
    p_value: float | None  # two-sided; None when untestable (see reason)
    reason: str | None = None
    # Date-clustered test only: dates, mean per-date hit-rate difference A − B (> 0: A hits more), t's df.
    n_dates: int | None = None
    mean_differential: float | None = None
    df: int | None = None


def mcnemar(hit_a: ArrayLike, hit_b: ArrayLike, exact_below: int = EXACT_BELOW) -> McNemar:
    """McNemar's test on paired hits (§5.8).

    b + c < ``exact_below``: exact, b ~ Bin(b + c, ½) under H0, two-sided p = min(1, 2·P(X ≤ min(b, c))).
    Otherwise: χ² = (|b − c| − 1)²/(b + c) with 1 degree of freedom, p = P(χ²₁ ≥ χ²).
    No discordant pairs (b + c = 0): the arms agree on every pair, p = 1.
    """
    a = as_binary(hit_a, "hit_a")
    b_hits = as_binary(hit_b, "hit_b")
    n = same_length(hit_a=a, hit_b=b_hits)
    b = int(np.sum(a & ~b_hits))
    c = int(np.sum(~a & b_hits))
    counts = partial(
        McNemar, n_pairs=n, both_hit=int(np.sum(a & b_hits)), a_only=b, b_only=c, neither=int(np.sum(~a & ~b_hits))
    )
    discordant = b + c
    if discordant == 0:
        return counts(method="exact", statistic=None, p_value=1.0, reason="no discordant pairs")
    if discordant < exact_below:
        p = min(1.0, 2.0 * float(stats.binom.cdf(min(b, c), discordant, 0.5)))
        return counts(method="exact", statistic=None, p_value=p)
    statistic = (abs(b - c) - 1) ** 2 / discordant
    return counts(method="chi2", statistic=statistic, p_value=float(stats.chi2.sf(statistic, 1)))


def clustered_mcnemar(hit_a: ArrayLike, hit_b: ArrayLike, dates: ArrayLike, horizon: int = 1) -> McNemar:
    """McNemar's question (do A and B hit equally often?) asked with dates as the unit of independence.

    Per date t: dₜ = (bₜ − cₜ)/nₜ, the mean over the date's nₜ pairs of (hit_A − hit_B), i.e. the date's
    discordant pairs A-only minus B-only over its pairs. H0: E[dₜ] = 0. The test is Diebold-Mariano with the
    HLN correction (:func:`diebold_mariano`) on this 0-1-loss differential — DM allows any loss, the 0-1 loss
    of a directional call included (Diebold and Mariano 1995, J. Bus. Econ. Stat. 13(3), §1; Harvey, Leybourne
    and Newbold 1997, Int. J. Forecasting 13(2)). For ``horizon`` 1 it is exactly the one-sample t-test of
    the per-date differences (§5.1: "aggregate per date, then run a t-test over dates"); for a horizon h > 1
    the long-run variance adds autocovariances to lag h − 1, because forecasts exiting on consecutive days
    overlap. Its numerator Σₜ(bₜ − cₜ) is McNemar's b − c, and its variance is estimated across dates instead
    of assuming independent stock-days: the date-clustered McNemar of Durkalski, Palesch, Lipsitz and Rust
    (2003, Stat. Med. 22(15)) and Obuchowski (1998, Stat. Med. 17(13)), with a t reference on T − 1 df.

    ``b``/``c`` and the other counts are pooled over stock-days, as in :func:`mcnemar`. No discordant pair:
    p = 1. Fewer than 2 dates, T ≤ h, or a per-date difference that never varies: p None with the reason.
    """
    a = as_binary(hit_a, "hit_a")
    b_hits = as_binary(hit_b, "hit_b")
    n = same_length(hit_a=a, hit_b=b_hits)
    day = np.asarray(dates)
    if len(day) != n:
        raise ValueError("dates, hit_a and hit_b differ in length")
    b = int(np.sum(a & ~b_hits))
    c = int(np.sum(~a & b_hits))
    counts = partial(
        McNemar, n_pairs=n, both_hit=int(np.sum(a & b_hits)), a_only=b, b_only=c, neither=int(np.sum(~a & ~b_hits))
    )
    labels, differential = per_date_differential(day, a.astype(float), b_hits.astype(float))
    result = partial(
        counts, method="date_clustered", n_dates=len(labels), mean_differential=float(differential.mean())
    )
    if b + c == 0:
        return result(statistic=None, p_value=1.0, reason="no discordant pairs")
    dm = diebold_mariano(differential, horizon)
    return result(statistic=dm.statistic_hln, p_value=dm.p_value, df=dm.df, reason=dm.reason)


# --------------------------------------------------------------------------------------------------
# §5.7 Diebold-Mariano with the HLN correction


@dataclass(frozen=True)
class DieboldMariano:
    n_dates: int  # T
    horizon: int  # h
    mean_differential: float  # d̄; > 0: A's loss is higher
    long_run_variance: float  # V̂ = γ̂₀ + 2Σ_{k=1}^{h−1} γ̂ₖ
    statistic: float | None  # DM
    statistic_hln: float | None  # DM*, compared with t_{T−1}
    df: int
    p_value: float | None  # two-sided
    reason: str | None = None


def diebold_mariano(loss_differential: ArrayLike, horizon: int = 1) -> DieboldMariano:
    """Diebold-Mariano (1995) with the Harvey-Leybourne-Newbold (1997) small-sample correction (§5.7).

    dₜ = L(e_A,t) − L(e_B,t), one value per date, in date order;
    γ̂ₖ = (1/T)Σ_{t=k+1}^{T}(dₜ − d̄)(d_{t−k} − d̄);  V̂ = γ̂₀ + 2Σ_{k=1}^{h−1}γ̂ₖ;
    DM = d̄/√(V̂/T);  DM* = DM·√((T + 1 − 2h + h(h−1)/T)/T);  p = 2·P(t_{T−1} > |DM*|).

    The autocovariances run to lag h − 1 because h-step forecasts made on consecutive days overlap by
    h − 1 days. Needs T > h (the HLN factor equals (T−h)(T−h+1)/T²) and V̂ > 0.
    """
    if not (isinstance(horizon, int | np.integer) and horizon >= 1):
        raise ValueError("horizon must be a positive integer")
    d = as_real(loss_differential, "loss_differential")
    t_len, h = int(d.size), int(horizon)
    d_bar = float(d.mean())
    centred = d - d_bar
    gammas = [float(np.dot(centred[k:], centred[: t_len - k]) / t_len) for k in range(min(h, t_len))]
    variance = gammas[0] + 2.0 * sum(gammas[1:])
    result = partial(
        DieboldMariano, n_dates=t_len, horizon=h, mean_differential=d_bar, long_run_variance=variance, df=t_len - 1
    )
    if t_len < 2 or t_len <= h:
        reason = f"needs more dates than the horizon and at least 2 (T = {t_len}, h = {h})"
        return result(statistic=None, statistic_hln=None, p_value=None, reason=reason)
    if not variance > 0:
        reason = (
            "the loss differential is identical on every date"
            if gammas[0] == 0
            else "the autocovariance-corrected variance is not positive"
        )
        return result(statistic=None, statistic_hln=None, p_value=None, reason=reason)
    dm = d_bar / math.sqrt(variance / t_len)
    dm_hln = dm * math.sqrt((t_len + 1 - 2 * h + h * (h - 1) / t_len) / t_len)
    p = float(2.0 * stats.t.sf(abs(dm_hln), t_len - 1))
    return result(statistic=dm, statistic_hln=dm_hln, p_value=p)


def per_date_differential(dates: ArrayLike, loss_a: ArrayLike, loss_b: ArrayLike) -> tuple[list, np.ndarray]:
    """dₜ = mean over the date's pairs of (loss_a − loss_b), dates ascending (§5.7, panel of stocks)."""
    la = as_real(loss_a, "loss_a")
    lb = as_real(loss_b, "loss_b")
    d = np.asarray(dates)
    if not len(d) == len(la) == len(lb):
        raise ValueError("dates, loss_a and loss_b differ in length")
    group, labels = pd.factorize(d, sort=True)
    if (group < 0).any():
        raise ValueError("dates has missing values")
    diff = np.bincount(group, weights=la - lb) / np.bincount(group)
    return [plain_label(x) for x in labels], diff


def losses(
    prob_up: ArrayLike, expected_return: ArrayLike, realized_return: ArrayLike, loss: Loss = "brier"
) -> np.ndarray:
    """Per-prediction loss (module docstring)."""
    realized = as_real(realized_return, "realized_return")
    if loss == "brier":
        p = as_real(prob_up, "prob_up")
        return (p - outcomes_up(realized)) ** 2
    if loss == "squared_error":
        return (as_real(expected_return, "expected_return") - realized) ** 2
    raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}")


# --------------------------------------------------------------------------------------------------
# Holm


def holm(p_values: Sequence[float | None]) -> list[float | None]:
    """Holm (1979) step-down adjusted p-values (§5.8: control multiplicity across variants).

    Sort the m p-values ascending p₍₁₎ ≤ … ≤ p₍ₘ₎; adjusted p₍ᵢ₎ = max_{j ≤ i} min(1, (m − j + 1)·p₍ⱼ₎).
    Rejecting where the adjusted value is ≤ α keeps the family-wise error rate at α. ``None`` entries
    (untestable comparisons) stay ``None`` and do not count in m.
    """
    present = [(i, p) for i, p in enumerate(p_values) if p is not None]
    for i, p in present:
        if not (isinstance(p, int | float | np.floating) and 0.0 <= p <= 1.0):
            raise ValueError(f"p-value {i} is {p!r}; p-values must be in [0, 1]")
    m = len(present)
    adjusted: list[float | None] = [None] * len(p_values)
    running = 0.0
    for rank, (i, p) in enumerate(sorted(present, key=lambda item: item[1])):
        running = max(running, min(1.0, (m - rank) * float(p)))
        adjusted[i] = running
    return adjusted


# --------------------------------------------------------------------------------------------------
# Experiments


@dataclass(frozen=True)
class PairComparison:
    arm_a: str
    arm_b: str
    model_a: str
    model_b: str
    loss: str
    n_pairs: int
    n_dates: int
    hit_rate_a: float | None
    hit_rate_b: float | None
    mean_loss_a: float | None
    mean_loss_b: float | None
    mcnemar: McNemar | None
    diebold_mariano: DieboldMariano | None
    mcnemar_p_holm: float | None = None
    diebold_mariano_p_holm: float | None = None
    better_on_hits: str | None = None  # arm name, or None when not significant
    better_on_loss: str | None = None
    verdict: str = ""


@dataclass(frozen=True)
class ExperimentResults:
    alpha: float
    loss: str
    horizon: int
    n_tests: int  # size of the Holm family
    pairs: list[PairComparison] = field(default_factory=list)


REQUIRED = ("model", "code", "date", "direction", "prob_up", "expected_return", "realized_return")


def _arm_rows(rows: pd.DataFrame, model: str, loss: Loss) -> pd.DataFrame:
    own = rows.loc[
        rows["model"] == model, ["code", "date", "direction", "prob_up", "expected_return", "realized_return"]
    ]
    own = own[own["realized_return"].notna()]
    if own.duplicated(["code", "date"]).any():
        raise ValueError(f"model {model!r} has more than one scored row for some (code, date)")
    out = own[["code", "date"]].copy()
    realized = own["realized_return"].to_numpy(dtype=float)
    out["hit"] = hits_of(own["direction"].to_numpy(), as_real(realized, "realized_return")) if len(own) else (
        np.zeros(0, dtype=bool)
    )
    out["loss"] = (
        losses(own["prob_up"].to_numpy(), own["expected_return"].to_numpy(), realized, loss)
        if len(own)
        else np.zeros(0)
    )
    return out


def compare_arms(
    rows: pd.DataFrame,
    arm_a: str,
    model_a: str,
    arm_b: str,
    model_b: str,
    loss: Loss = "brier",
    horizon: int = 1,
) -> PairComparison:
    """McNemar and Diebold-Mariano for one pair of arms on the (code, date) pairs both scored.

    No Holm adjustment and no verdict here; :func:`experiment_verdicts` adds both across the family.
    """
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}")
    paired = _arm_rows(rows, model_a, loss).merge(
        _arm_rows(rows, model_b, loss), on=["code", "date"], suffixes=("_a", "_b"), validate="one_to_one"
    )
    base = partial(PairComparison, arm_a=arm_a, arm_b=arm_b, model_a=model_a, model_b=model_b, loss=loss)
    if paired.empty:
        return base(
            hit_rate_a=None, hit_rate_b=None, mean_loss_a=None, mean_loss_b=None,
            n_pairs=0, n_dates=0, mcnemar=None, diebold_mariano=None,
        )
    hit_a = paired["hit_a"].to_numpy(dtype=bool)
    hit_b = paired["hit_b"].to_numpy(dtype=bool)
    dates, differential = per_date_differential(
        paired["date"].to_numpy(), paired["loss_a"].to_numpy(), paired["loss_b"].to_numpy()
    )
    return base(
        n_pairs=len(paired),
        n_dates=len(dates),
        hit_rate_a=float(hit_a.mean()),
        hit_rate_b=float(hit_b.mean()),
        mean_loss_a=float(paired["loss_a"].mean()),
        mean_loss_b=float(paired["loss_b"].mean()),
        mcnemar=clustered_mcnemar(hit_a, hit_b, paired["date"].to_numpy(), horizon),
        diebold_mariano=diebold_mariano(differential, horizon),
    )


def _p_text(p: float | None, reason: str | None) -> str:
    return f"Holm-adjusted p={p:.4g}" if p is not None else f"untestable ({reason})"


def _verdict(pair: PairComparison, alpha: float) -> PairComparison:
    mc, dm = pair.mcnemar, pair.diebold_mariano
    if mc is None or dm is None:
        text = f"{NO_DIFFERENCE} between {pair.arm_a} and {pair.arm_b}: untestable, no paired scored predictions"
        return replace(pair, verdict=text)
    if pair.n_dates < MIN_DATES_FOR_VERDICT:
        text = (
            f"{TOO_FEW_DATES} between {pair.arm_a} and {pair.arm_b}: {pair.n_dates} paired dates, at least "
            f"{MIN_DATES_FOR_VERDICT} needed; not ranked and not part of the Holm family"
        )
        return replace(pair, verdict=text)
    hits_winner = loss_winner = None
    if pair.mcnemar_p_holm is not None and pair.mcnemar_p_holm <= alpha and mc.mean_differential:
        hits_winner = pair.arm_a if mc.mean_differential > 0 else pair.arm_b
    if pair.diebold_mariano_p_holm is not None and pair.diebold_mariano_p_holm <= alpha:
        loss_winner = pair.arm_b if dm.mean_differential > 0 else pair.arm_a
    loss_name = LOSS_LABEL[pair.loss]
    hits_p = _p_text(pair.mcnemar_p_holm, mc.reason)
    loss_p = _p_text(pair.diebold_mariano_p_holm, dm.reason)
    scope = f"{pair.n_pairs} paired predictions over {pair.n_dates} dates, alpha={alpha:g} after Holm"
    if hits_winner is None and loss_winner is None:
        text = (
            f"{NO_DIFFERENCE} between {pair.arm_a} and {pair.arm_b} "
            f"(hits: McNemar clustered by date {hits_p}; {loss_name}: Diebold-Mariano {loss_p}; {scope})"
        )
    else:
        parts = []
        if hits_winner is not None:
            loser = pair.arm_b if hits_winner == pair.arm_a else pair.arm_a
            parts.append(f"{hits_winner} is better than {loser} on hits (McNemar clustered by date, {hits_p})")
        else:
            parts.append(f"{NO_DIFFERENCE} on hits (McNemar clustered by date, {hits_p})")
        if loss_winner is not None:
            loser = pair.arm_b if loss_winner == pair.arm_a else pair.arm_a
            parts.append(f"{loss_winner} is better than {loser} on {loss_name} (Diebold-Mariano HLN, {loss_p})")
        else:
            parts.append(f"{NO_DIFFERENCE} on {loss_name} (Diebold-Mariano HLN, {loss_p})")
        text = "; ".join(parts) + f" ({scope})"
    return replace(pair, better_on_hits=hits_winner, better_on_loss=loss_winner, verdict=text)


def experiment_verdicts(
    rows: pd.DataFrame,
    arms: Mapping[str, str] | Sequence[str],
    loss: Loss = "brier",
    horizon: int = 1,
    alpha: float = ALPHA,
) -> ExperimentResults:
    """Every pair of arms compared on their common (code, date) predictions, Holm across the family.

    ``rows``: one row per scored prediction with columns model, code, date, prob_up, expected_return,
    realized_return, hit (pending rows, with realized_return NaN, are ignored). ``arms``: arm name → model,
    or a list of models (each its own arm). The verdict of a pair starts with "no significant difference"
    when neither test is significant at ``alpha`` after Holm; otherwise it names the better arm and the
    test (hits by McNemar, loss by Diebold-Mariano), and says "no significant difference" on the other.
    """
    missing = [c for c in REQUIRED if c not in rows.columns]
    if missing:
        raise ValueError(f"rows lack columns {missing}")
    if not 0 < alpha < 1:
        raise ValueError("alpha must be in (0, 1)")
    arm_models = dict(arms) if isinstance(arms, Mapping) else {m: m for m in arms}
    if len(arm_models) < 2:
        raise ValueError("an experiment needs at least two arms to compare")
    compared = [
        compare_arms(rows, a, arm_models[a], b, arm_models[b], loss=loss, horizon=horizon)
        for a, b in itertools.combinations(sorted(arm_models), 2)
    ]
    return _family(compared, loss, horizon, alpha)


@dataclass(frozen=True)
class ArmArrays:
    """One arm's scored predictions as arrays (the leaderboard's path, built once per model and window).

    ``key``: one integer per (code, date), unique within the arm; ``date``: the row's date label (any
    sortable value; the leaderboard passes integer codes in date order); ``hit`` and ``loss`` as
    :func:`compare_arms` computes them from ``direction``, ``prob_up``/``expected_return`` and
    ``realized_return``.
    """

    key: np.ndarray
    date: np.ndarray
    hit: np.ndarray
    loss: np.ndarray


def _pair_arrays(
    a: ArmArrays | None,
    b: ArmArrays | None,
    arm_a: str,
    model_a: str,
    arm_b: str,
    model_b: str,
    loss: Loss,
    horizon: int,
) -> PairComparison:
    """:func:`compare_arms` on prepared arrays: pairs in A's row order, as the inner merge there keeps them."""
    base = partial(PairComparison, arm_a=arm_a, arm_b=arm_b, model_a=model_a, model_b=model_b, loss=loss)
    if a is None or b is None or not len(a.key) or not len(b.key):
        return base(
            hit_rate_a=None, hit_rate_b=None, mean_loss_a=None, mean_loss_b=None,
            n_pairs=0, n_dates=0, mcnemar=None, diebold_mariano=None,
        )
    sorter = np.argsort(b.key, kind="stable")
    position = np.minimum(np.searchsorted(b.key, a.key, sorter=sorter), len(b.key) - 1)
    candidate = sorter[position]
    match = b.key[candidate] == a.key
    in_a, in_b = np.flatnonzero(match), candidate[match]
    if not len(in_a):
        return base(
            hit_rate_a=None, hit_rate_b=None, mean_loss_a=None, mean_loss_b=None,
            n_pairs=0, n_dates=0, mcnemar=None, diebold_mariano=None,
        )
    hit_a, hit_b = a.hit[in_a], b.hit[in_b]
    loss_a, loss_b = a.loss[in_a], b.loss[in_b]
    paired_dates = a.date[in_a]
    dates, differential = per_date_differential(paired_dates, loss_a, loss_b)
    return base(
        n_pairs=len(in_a),
        n_dates=len(dates),
        hit_rate_a=float(hit_a.mean()),
        hit_rate_b=float(hit_b.mean()),
        mean_loss_a=float(loss_a.mean()),
        mean_loss_b=float(loss_b.mean()),
        mcnemar=clustered_mcnemar(hit_a, hit_b, paired_dates, horizon),
        diebold_mariano=diebold_mariano(differential, horizon),
    )


def arm_verdicts(
    arms: Mapping[str, ArmArrays | None],
    loss: Loss = "brier",
    horizon: int = 1,
    alpha: float = ALPHA,
) -> ExperimentResults:
    """:func:`experiment_verdicts` with each arm's rows prepared once as :class:`ArmArrays` (arm name → its
    arrays, None for an arm without rows): the same pairs, tests, Holm family and verdicts."""
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}")
    if not 0 < alpha < 1:
        raise ValueError("alpha must be in (0, 1)")
    if len(arms) < 2:
        raise ValueError("an experiment needs at least two arms to compare")
    compared = [
        _pair_arrays(arms[a], arms[b], a, a, b, b, loss, horizon) for a, b in itertools.combinations(sorted(arms), 2)
    ]
    return _family(compared, loss, horizon, alpha)


def _family(compared: list[PairComparison], loss: Loss, horizon: int, alpha: float) -> ExperimentResults:
    """Holm across every pair's tests, then each pair's verdict."""
    family: list[float | None] = []
    for pair in compared:
        enough = pair.n_dates >= MIN_DATES_FOR_VERDICT
        family.append(pair.mcnemar.p_value if pair.mcnemar and enough else None)
        family.append(pair.diebold_mariano.p_value if pair.diebold_mariano and enough else None)
    adjusted = holm(family)
    results = [
        _verdict(replace(pair, mcnemar_p_holm=adjusted[2 * i], diebold_mariano_p_holm=adjusted[2 * i + 1]), alpha)
        for i, pair in enumerate(compared)
    ]
    return ExperimentResults(
        alpha=alpha, loss=loss, horizon=horizon, n_tests=sum(p is not None for p in family), pairs=results
    )
