"""Paired comparison of two models on the same (stock, date) predictions, and the verdict of an A/B experiment.

Formulas from ``/work/shared/reference/forecasting-and-evaluation.md`` §5.7 (Diebold-Mariano with the
Harvey-Leybourne-Newbold correction), §5.8 (McNemar, exact below 25 discordant pairs; Holm across variants)
and §8.3 (the A/B protocol: McNemar on paired hits, DM on per-date averaged loss differentials, Holm).

Conventions:
- Pairs are the (code, date) keys both arms scored; each arm uses its own row for that key. Rows still
  pending (no realized return) are dropped before pairing.
- Loss per prediction: ``"brier"`` = (prob_up − o)² with o = 1 if realized_return > 0 (the stored Brier);
  ``"squared_error"`` = (expected_return − realized_return)². DM runs on dₜ = mean over the date's pairs of
  (loss of A − loss of B): positive dₜ means A lost more that day, so B was better.
- McNemar: b = #(A hit, B missed), c = #(A missed, B hit); b > c means A hits more often.
- Holm runs across every p-value of the experiment (each pair's McNemar and DM); an untestable comparison
  (p None) is not part of the family.
- McNemar treats pairs as independent; same-day predictions share the market's move, so its p-value is
  optimistic when both arms' calls move together within a day. DM works on per-date means, where dates
  are the unit of independence (§5.7: "average dₜ across stocks per date first").
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy import stats

from stock_insights.metrics.classification import as_binary, as_real, same_length
from stock_insights.metrics.ranking import plain_label

Loss = Literal["brier", "squared_error"]
LOSSES: tuple[str, ...] = ("brier", "squared_error")
EXACT_BELOW = 25  # §5.8: exact binomial test when b + c < 25
ALPHA = 0.05
NO_DIFFERENCE = "no significant difference"
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
    method: Literal["exact", "chi2"]
    statistic: float | None  # χ² with continuity correction; None for the exact test
    p_value: float  # two-sided
    reason: str | None = None


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
    counts = dict(n_pairs=n, both_hit=int(np.sum(a & b_hits)), a_only=b, b_only=c, neither=int(np.sum(~a & ~b_hits)))
    discordant = b + c
    if discordant == 0:
        return McNemar(**counts, method="exact", statistic=None, p_value=1.0, reason="no discordant pairs")
    if discordant < exact_below:
        p = min(1.0, 2.0 * float(stats.binom.cdf(min(b, c), discordant, 0.5)))
        return McNemar(**counts, method="exact", statistic=None, p_value=p)
    statistic = (abs(b - c) - 1) ** 2 / discordant
    return McNemar(**counts, method="chi2", statistic=statistic, p_value=float(stats.chi2.sf(statistic, 1)))


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
    common = dict(n_dates=t_len, horizon=h, mean_differential=d_bar, long_run_variance=variance, df=t_len - 1)
    if t_len < 2 or t_len <= h:
        reason = f"needs more dates than the horizon and at least 2 (T = {t_len}, h = {h})"
        return DieboldMariano(**common, statistic=None, statistic_hln=None, p_value=None, reason=reason)
    if not variance > 0:
        reason = (
            "the loss differential is identical on every date"
            if gammas[0] == 0
            else "the autocovariance-corrected variance is not positive"
        )
        return DieboldMariano(**common, statistic=None, statistic_hln=None, p_value=None, reason=reason)
    dm = d_bar / math.sqrt(variance / t_len)
    dm_hln = dm * math.sqrt((t_len + 1 - 2 * h + h * (h - 1) / t_len) / t_len)
    p = float(2.0 * stats.t.sf(abs(dm_hln), t_len - 1))
    return DieboldMariano(**common, statistic=dm, statistic_hln=dm_hln, p_value=p)


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
        return (p - (realized > 0)) ** 2
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
    present = [i for i, p in enumerate(p_values) if p is not None]
    for i in present:
        p = p_values[i]
        if not (isinstance(p, int | float | np.floating) and 0.0 <= p <= 1.0):
            raise ValueError(f"p-value {i} is {p!r}; p-values must be in [0, 1]")
    m = len(present)
    adjusted: list[float | None] = [None] * len(p_values)
    running = 0.0
    for rank, i in enumerate(sorted(present, key=lambda j: p_values[j])):  # type: ignore[arg-type,return-value]
        running = max(running, min(1.0, (m - rank) * float(p_values[i])))  # type: ignore[arg-type]
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


REQUIRED = ("model", "code", "date", "prob_up", "expected_return", "realized_return", "hit")


def _arm_rows(rows: pd.DataFrame, model: str, loss: Loss) -> pd.DataFrame:
    own = rows.loc[rows["model"] == model, ["code", "date", "prob_up", "expected_return", "realized_return", "hit"]]
    own = own[own["realized_return"].notna() & own["hit"].notna()]
    if own.duplicated(["code", "date"]).any():
        raise ValueError(f"model {model!r} has more than one scored row for some (code, date)")
    out = own[["code", "date"]].copy()
    out["hit"] = as_binary(own["hit"].to_numpy(), f"hit of {model}") if len(own) else np.zeros(0, dtype=bool)
    out["loss"] = (
        losses(own["prob_up"].to_numpy(), own["expected_return"].to_numpy(), own["realized_return"].to_numpy(), loss)
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
    base = dict(arm_a=arm_a, arm_b=arm_b, model_a=model_a, model_b=model_b, loss=loss)
    if paired.empty:
        empty = dict(hit_rate_a=None, hit_rate_b=None, mean_loss_a=None, mean_loss_b=None)
        return PairComparison(**base, **empty, n_pairs=0, n_dates=0, mcnemar=None, diebold_mariano=None)
    hit_a = paired["hit_a"].to_numpy(dtype=bool)
    hit_b = paired["hit_b"].to_numpy(dtype=bool)
    dates, differential = per_date_differential(
        paired["date"].to_numpy(), paired["loss_a"].to_numpy(), paired["loss_b"].to_numpy()
    )
    return PairComparison(
        **base,
        n_pairs=len(paired),
        n_dates=len(dates),
        hit_rate_a=float(hit_a.mean()),
        hit_rate_b=float(hit_b.mean()),
        mean_loss_a=float(paired["loss_a"].mean()),
        mean_loss_b=float(paired["loss_b"].mean()),
        mcnemar=mcnemar(hit_a, hit_b),
        diebold_mariano=diebold_mariano(differential, horizon),
    )


def _p_text(p: float | None, reason: str | None) -> str:
    return f"Holm-adjusted p={p:.4g}" if p is not None else f"untestable ({reason})"


def _verdict(pair: PairComparison, alpha: float) -> PairComparison:
    mc, dm = pair.mcnemar, pair.diebold_mariano
    if mc is None or dm is None:
        text = f"{NO_DIFFERENCE} between {pair.arm_a} and {pair.arm_b}: untestable, no paired scored predictions"
        return replace(pair, verdict=text)
    hits_winner = loss_winner = None
    if pair.mcnemar_p_holm is not None and pair.mcnemar_p_holm <= alpha and mc.a_only != mc.b_only:
        hits_winner = pair.arm_a if mc.a_only > mc.b_only else pair.arm_b
    if pair.diebold_mariano_p_holm is not None and pair.diebold_mariano_p_holm <= alpha:
        loss_winner = pair.arm_b if dm.mean_differential > 0 else pair.arm_a
    loss_name = LOSS_LABEL[pair.loss]
    hits_p = _p_text(pair.mcnemar_p_holm, mc.reason)
    loss_p = _p_text(pair.diebold_mariano_p_holm, dm.reason)
    scope = f"{pair.n_pairs} paired predictions over {pair.n_dates} dates, alpha={alpha:g} after Holm"
    if hits_winner is None and loss_winner is None:
        text = (
            f"{NO_DIFFERENCE} between {pair.arm_a} and {pair.arm_b} "
            f"(hits: McNemar {hits_p}; {loss_name}: Diebold-Mariano {loss_p}; {scope})"
        )
    else:
        parts = []
        if hits_winner is not None:
            loser = pair.arm_b if hits_winner == pair.arm_a else pair.arm_a
            parts.append(f"{hits_winner} is better than {loser} on hits (McNemar, {hits_p})")
        else:
            parts.append(f"{NO_DIFFERENCE} on hits (McNemar, {hits_p})")
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
    family: list[float | None] = []
    for pair in compared:
        family.append(pair.mcnemar.p_value if pair.mcnemar else None)
        family.append(pair.diebold_mariano.p_value if pair.diebold_mariano else None)
    adjusted = holm(family)
    results = [
        _verdict(replace(pair, mcnemar_p_holm=adjusted[2 * i], diebold_mariano_p_holm=adjusted[2 * i + 1]), alpha)
        for i, pair in enumerate(compared)
    ]
    return ExperimentResults(
        alpha=alpha, loss=loss, horizon=horizon, n_tests=sum(p is not None for p in family), pairs=results
    )
