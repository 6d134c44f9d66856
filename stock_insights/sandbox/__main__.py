"""``python -m stock_insights.sandbox --host 127.0.0.1 --port 8900``: serve the sandbox."""

from __future__ import annotations

import argparse
import logging
from datetime import date

import uvicorn

from stock_insights.sandbox.app import create_app
from stock_insights.sandbox.logs import MaskSecretsFilter, log_config
from stock_insights.sandbox.market import SimulatedMarket


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m stock_insights.sandbox", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8900)
    parser.add_argument("--seed", type=int, default=7, help="seed of the simulated market")
    parser.add_argument("--history-start", type=date.fromisoformat, default=date(2020, 1, 2),
                        help="first simulated session (YYYY-MM-DD)")
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args(argv)

    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for handler in logging.getLogger().handlers:
        handler.addFilter(MaskSecretsFilter())
    app = create_app(SimulatedMarket(seed=args.seed, history_start=args.history_start))
    # uvicorn's access log with credentials in query strings (OpenDART's crtfc_key) masked.
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level.lower(), log_config=log_config())


if __name__ == "__main__":
    main()
