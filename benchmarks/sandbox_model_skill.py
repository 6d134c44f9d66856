"""Simulated LLMs of planted skill (issue 13 §5): does the A/B machinery recover the sandbox's ordering?

    python benchmarks/sandbox_model_skill.py [--sessions 250] [--save rows.csv]

Runs the real graph in process against the sandbox (started here, with a movable clock) and a fresh SQLite
file, as ``stock_insights_tests/evaluations/test_sandbox_significance.py`` does: universe, KIS bars, Naver
news polled through the window, ``predictions/daily`` with the three simulated LLMs (gpt-4o: no reading
noise; gpt-4o-mini and deepseek-v3: the same larger noise, 3.0, see ``stock_insights/sandbox/openai_api.py``),
``evaluations/daily``. Prints every pair's verdict (``metrics.comparison.experiment_verdicts``: date-clustered
McNemar on hits, Diebold-Mariano with HLN on Brier, Holm across the family), the ordering by Brier score,
the citations removed in the run and the wall times. A year of three LLMs is about 6,000 chat calls: about
two minutes on a 2-core machine, too slow for the test suite, which runs a shorter window of the same.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sessions", type=int, default=250)
    parser.add_argument("--save", type=Path, help="write the scored horizon-1 rows to this CSV")
    args = parser.parse_args()

    from stock_insights_tests.evaluations.test_sandbox_significance import LLM_ARMS, run_llm_window, summarize

    began = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="model-skill-") as tmp:
        pipeline, rows, removed = run_llm_window(Path(tmp), args.sessions)
    if args.save:
        rows.to_csv(args.save, index=False)
    print(f"{args.sessions} sessions, {len(rows)} scored rows, arms {LLM_ARMS}")
    print(summarize(rows))
    print(f"citations removed in the predictions run: {removed}")
    print("wall times (s):", {k: round(v, 1) for k, v in pipeline.timings.items()},
          f"total {time.perf_counter() - began:.0f}")


if __name__ == "__main__":
    main()
