"""``python -m stock_insights.ledger verify [--from D1] [--to D2] [--database-url URL] [--json]``

Recomputes every sealed day's digest and the chain from the database (``stock_insights.ledger.verify``) and
names the first day that does not match. Exit code 0: every seal verifies; 1: a mismatch (the first day and
why on standard output); 2: the database cannot be read.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from datetime import date

from sqlalchemy.exc import SQLAlchemyError

from stock_insights.ledger.verify import verify
from stock_insights.settings import get_settings
from stock_insights.storage.db import make_engine, redact_url, session_scope


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date YYYY-MM-DD: {text!r}") from None


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m stock_insights.ledger",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser("verify", help="recompute every digest and the chain; name the first mismatch")
    check.add_argument("--from", dest="first", type=_day, help="first sealed day to verify (default: the first)")
    check.add_argument("--to", dest="last", type=_day, help="last sealed day to verify (default: the last)")
    check.add_argument("--database-url", help="SQLAlchemy URL (default: DATABASE_URL)")
    check.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args(argv)

    url = args.database_url or get_settings().DATABASE_URL
    engine = make_engine(url)
    try:
        with session_scope(engine) as session:
            report = verify(session, args.first, args.last)
    except SQLAlchemyError as exc:
        print(f"cannot read the ledger from {redact_url(url)}: {type(exc).__name__}", file=sys.stderr)
        return 2
    finally:
        engine.dispose()

    if args.json:
        print(json.dumps(report.as_dict(), indent=2))
    else:
        span = f"{report.checked[0]}..{report.checked[-1]}" if report.checked else "no sealed day"
        print(f"checked {len(report.checked)} sealed day(s) ({span}), {report.links} chain link(s)")
        if report.unsealed_sessions:
            print(f"sessions without a seal in between: {', '.join(d.isoformat() for d in report.unsealed_sessions)}")
        first = report.first_mismatch
        if first is None:
            print(f"OK: every digest and link verifies; chain head {report.chain_head}")
        else:
            print(f"MISMATCH: first day that does not verify: {first.day.isoformat()}: {first.reason}")
            for problem in report.problems[1:]:
                print(f"  also {problem.day.isoformat()}: {problem.reason}")
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
