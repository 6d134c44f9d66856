"""Shuffled controls of the paired tests: their false-positive rate at alpha 5% on correlated, sandbox-like data.

    python -m benchmarks.paired_test_control [--shuffles 1000] [--stocks 8] [--sessions 250] [--seed 0]

Data: the simulated market's daily returns (``stock_insights.sandbox.market.SimulatedMarket``, seed 7, the
sandbox's), ``--stocks`` codes over the ``--sessions`` sessions to 2026-10-30, read as of a fixed instant (no
wall clock). Its returns share a market factor, so the stock-days of one date are correlated: the case where
McNemar over stock-days is too optimistic (issue 13 §6).

Two controls, ``--shuffles`` runs each; every run is one A/B comparison
(``stock_insights.metrics.comparison.experiment_verdicts``, horizon 1, Brier loss):

- ``shuffled``: the sandbox test's control. Two real forecasters, momentum (sign of the 5-session return to
  the previous close) and news tone (sign of the previous session's planted tone), meet outcomes permuted
  across dates in whole-date blocks: each date keeps its cross-section (the shared market move), every
  relation between forecasts and outcomes is broken. It is not an exact null: a forecaster that calls "up"
  less often in a year with more down days keeps a slightly higher expected hit rate, (p_A − p_B)(2u − 1)
  with p the arms' up-call rates and u the up-rate (printed), so its rejection rate may sit a little above 5%.
- ``equal_skill``: two forecasters that read each stock-day's realized move through independent noise of
  the same size (the same skill by construction): H0 holds exactly, and the arms are exchangeable. This is
  the control of the tests' size.

For each control it prints, at alpha 5%: the rejection rate of the date-clustered McNemar (what the verdicts
use), of Diebold-Mariano with HLN, of the verdict (either test significant after Holm), and, for reference,
of the pooled McNemar over stock-days that the clustered test replaced; each with its Clopper-Pearson 95%
interval. A rate passes when the interval's lower end is at or below 5% (not significantly above alpha).
Wall time and the load average (1 min) are printed beside it.
"""

from __future__ import annotations

import argparse
import os
import time
from datetime import UTC, date, datetime

import numpy as np
import pandas as pd
from scipy import stats

from stock_insights.metrics.comparison import NO_DIFFERENCE, experiment_verdicts, mcnemar
from stock_insights.metrics.outcome import hits
from stock_insights.sandbox.market import SimulatedMarket
from stock_insights.universe import KNOWN_LISTINGS

ALPHA = 0.05
LAST = date(2026, 10, 30)
AS_OF = datetime(2027, 1, 4, tzinfo=UTC)  # fixed: every session to LAST has closed
LOOKBACK = 5
EDGE = 0.2  # probit units per call, as the sandbox baselines claim


def load() -> str:
    return f"{os.getloadavg()[0]:.2f}" if hasattr(os, "getloadavg") else "?"


def market_panel(n_stocks: int, n_sessions: int) -> tuple[list[date], list[str], np.ndarray, np.ndarray, np.ndarray]:
    """(dates, codes, returns T×S, momentum calls T×S, tone calls T×S); a call is +1 up, -1 down, 0 no view."""
    market = SimulatedMarket(seed=7)
    codes = sorted(KNOWN_LISTINGS)[:n_stocks]
    start = date(LAST.year - 2, 1, 1)
    series = [market.daily_arrays(code, start, LAST, now=AS_OF) for code in codes]
    close = np.column_stack([s.close.astype(float) for s in series])
    tone = np.column_stack([s.tone.astype(float) for s in series])
    days = [d.astype("datetime64[D]").item() for d in series[0].days]
    returns = close[1:] / close[:-1] - 1.0
    momentum = np.sign(close[LOOKBACK - 1 : -1] / close[: -LOOKBACK] - 1.0)  # to the previous close
    returns, tone_call = returns[LOOKBACK - 1 :], np.sign(tone[LOOKBACK - 1 : -1])
    days = days[LOOKBACK:]
    return days[-n_sessions:], codes, returns[-n_sessions:], momentum[-n_sessions:], tone_call[-n_sessions:]


def forecaster_rows(
    model: str, days: list[date], codes: list[str], call: np.ndarray, returns: np.ndarray
) -> pd.DataFrame:
    prob = stats.norm.cdf(call * EDGE)
    direction = np.where(call > 0, "up", np.where(call < 0, "down", "flat"))
    return pd.DataFrame(
        {
            "model": model,
            "code": np.tile(codes, len(days)),
            "date": np.repeat(np.array(days, dtype=object), len(codes)),
            "direction": direction.ravel(),
            "prob_up": prob.ravel(),
            "expected_return": (0.001 * call).ravel(),
            "realized_return": returns.ravel(),
        }
    )


def one_run(days, codes, returns, call_a, call_b) -> dict[str, bool]:  # type: ignore[no-untyped-def]
    rows = pd.concat(
        [forecaster_rows("a", days, codes, call_a, returns), forecaster_rows("b", days, codes, call_b, returns)]
    )
    (pair,) = experiment_verdicts(rows, ["a", "b"]).pairs
    pooled = mcnemar(hits(rows["direction"][rows["model"] == "a"], returns.ravel()),
                     hits(rows["direction"][rows["model"] == "b"], returns.ravel()))
    clustered_p = pair.mcnemar.p_value if pair.mcnemar else None
    dm_p = pair.diebold_mariano.p_value if pair.diebold_mariano else None
    return {
        "McNemar clustered by date": clustered_p is not None and clustered_p <= ALPHA,
        "Diebold-Mariano HLN (Brier)": dm_p is not None and dm_p <= ALPHA,
        "verdict (either test, Holm)": not pair.verdict.startswith(NO_DIFFERENCE),
        "pooled McNemar over stock-days (reference, not used)": pooled.p_value <= ALPHA,
    }


def report(name: str, outcomes: list[dict[str, bool]], seconds: float) -> bool:
    n = len(outcomes)
    print(f"\n{name}: {n} runs in {seconds:.1f} s (load average {load()})")
    passed = True
    for test in outcomes[0]:
        k = sum(o[test] for o in outcomes)
        ci = stats.binomtest(k, n).proportion_ci(confidence_level=0.95, method="exact")
        ok = ci.low <= ALPHA
        if "reference" not in test:
            passed &= ok
        verdict = "" if "reference" in test else ("  PASS" if ok else "  FAIL: above 5%")
        print(f"  {test:<55} {k:5d}/{n} = {k / n:6.2%}  95% CI [{ci.low:6.2%}, {ci.high:6.2%}]{verdict}")
    return passed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shuffles", type=int, default=1000)
    parser.add_argument("--stocks", type=int, default=8)
    parser.add_argument("--sessions", type=int, default=250)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    started = time.perf_counter()
    days, codes, returns, momentum, tone = market_panel(args.stocks, args.sessions)
    cross = np.corrcoef(returns.T)[np.triu_indices(len(codes), 1)].mean()
    print(
        f"simulated market: {len(days)} sessions ({days[0]}..{days[-1]}) x {len(codes)} stocks, mean pairwise "
        f"correlation of daily returns {cross:.2f}; built in {time.perf_counter() - started:.1f} s (load {load()})"
    )
    up, a_up, b_up = float((returns > 0).mean()), float((momentum > 0).mean()), float((tone > 0).mean())
    print(
        f"shuffled control: up-rate {up:.3f}, momentum calls up {a_up:.3f}, tone calls up {b_up:.3f}; the shuffle "
        f"keeps a small true hit-rate difference (p_A - p_B)(2u - 1) = {(a_up - b_up) * (2 * up - 1):+.4f}"
    )
    rng = np.random.default_rng(args.seed)

    started = time.perf_counter()
    shuffled = [
        one_run(days, codes, returns[rng.permutation(len(days))], momentum, tone) for _ in range(args.shuffles)
    ]
    ok = report("shuffled (momentum vs news tone, outcomes permuted across dates)", shuffled,
                time.perf_counter() - started)

    started = time.perf_counter()
    scale = returns.std()
    equal = []
    for _ in range(args.shuffles):
        read_a = np.sign(returns + rng.normal(0, 2 * scale, returns.shape))
        read_b = np.sign(returns + rng.normal(0, 2 * scale, returns.shape))
        equal.append(one_run(days, codes, returns, read_a, read_b))
    ok &= report("equal_skill (two readers of the same moves, independent noise of the same size)", equal,
                 time.perf_counter() - started)
    print("\nresult:", "every clustered test within 5% (PASS)" if ok else "a clustered test is above 5% (FAIL)")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
