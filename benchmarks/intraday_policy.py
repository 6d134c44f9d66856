"""What fits in a 5-minute window of one KIS app key, and the freshness the intraday policy gives each tier.

    python benchmarks/intraday_policy.py [--stocks 2700] [--limit 20] [--watched 100] [--hot-top-n 300]
                                         [--budget-share 0.8] [--orderbook-share 0.5]

Pure computation (stock_insights/collection.py, the same code the kis/minute_bars and kis/orderbook assets run):
no request is made, so there is no timing and no load average to report. Prints the window's slots, what the
whole market would need, and per dataset the hot tier, the rotation and the freshness of each tier, for the
given settings and for a few alternatives (the baseline: everything every window).
"""

from __future__ import annotations

import argparse

from stock_insights.collection import IntradayPolicy, plan_window


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stocks", type=int, default=2700)
    parser.add_argument("--limit", type=float, default=20.0)
    parser.add_argument("--watched", type=int, default=100)
    parser.add_argument("--hot-top-n", type=int, default=300)
    parser.add_argument("--budget-share", type=float, default=0.8)
    parser.add_argument("--orderbook-share", type=float, default=0.5)
    args = parser.parse_args()
    market = [f"{900000 + i:06d}" for i in range(args.stocks)]
    watched = market[: args.watched]
    ranked = list(reversed(market))
    base = IntradayPolicy(rate_limit_per_sec=args.limit, budget_share=args.budget_share,
                          orderbook_share=args.orderbook_share, hot_top_n=args.hot_top_n)
    need = 2 * args.stocks
    print(f"{args.stocks} stocks, {args.limit:g} req/s x {base.headroom} headroom x {base.window_seconds} s = "
          f"{base.window_slots} slots a window; minute bars + order book for every stock every window needs "
          f"{need} = {need / base.window_slots:.2f} of them")
    print(f"daily bars after the close: {args.stocks} requests = {args.stocks / (args.limit * base.headroom):.0f} s;"
          f" a one-year daily backfill ({-(-250 // 100)} pages a stock): "
          f"{args.stocks * 3 / (args.limit * base.headroom) / 60:.1f} min")
    print(f"{'settings':<44}{'dataset':<13}{'budget':>7}{'hot':>6}{'hot fresh':>10}{'rest':>6}{'groups':>7}"
          f"{'rest fresh':>11}{'req/window':>11}")
    variants = [("as given", base),
                ("budget_share 0.95, no hot tier", base.model_copy(update={"budget_share": 0.95, "hot_top_n": 0})),
                ("hot_top_n 1000", base.model_copy(update={"hot_top_n": 1000})),
                ("paper account (2 req/s)", base.model_copy(update={"rate_limit_per_sec": 2.0}))]
    for label, policy in variants:
        for dataset in ("minute_bars", "orderbook"):
            plan = plan_window(policy, dataset, market, watched=watched, by_traded_value=ranked, window=0)
            rest = f"{plan.rest_freshness_seconds // 60} min" if plan.rest_freshness_seconds else "close"
            print(f"{label:<44}{dataset:<13}{plan.budget:>7}{len(plan.hot):>6}{plan.hot_freshness_seconds // 60:>8} m"
                  f"{plan.rest_total:>6}{plan.groups or '-':>7}{rest:>11}{plan.estimated_requests:>11}")


if __name__ == "__main__":
    main()
