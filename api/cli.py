"""Administration commands.

``python -m api.cli create-admin EMAIL`` makes EMAIL an admin (creating the account if needed, and
setting its password). The password comes from ``API_ADMIN_PASSWORD`` if set, otherwise from
standard input (a prompt on a terminal, the first line of a pipe): never from the command line,
where it would land in the shell history and the process list.
"""

from __future__ import annotations

import argparse
import getpass
import logging
import os
import sys

from pydantic import ValidationError
from sqlalchemy import select

from api.core.security import hash_password_sync
from api.schemas import RegisterIn
from stock_insights.settings import get_settings
from stock_insights.storage.db import make_engine, redact_url, session_scope, utcnow
from stock_insights.storage.migrate import upgrade
from stock_insights.storage.models import User

log = logging.getLogger("api.cli")


class AdminIn(RegisterIn):
    """Same rules as registration."""


def _read_password() -> str:
    from_env = os.environ.get("API_ADMIN_PASSWORD")
    if from_env:
        return from_env
    if sys.stdin.isatty():
        first = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != first:
            raise SystemExit("passwords do not match")
        return first
    return sys.stdin.readline().rstrip("\r\n")


def create_admin(email: str, password: str, database_url: str | None = None) -> tuple[int, bool]:
    """Make ``email`` an admin with this password. Returns (user id, whether the account is new)."""
    valid = AdminIn(email=email, password=password)
    url = database_url or get_settings().DATABASE_URL
    upgrade(url)
    engine = make_engine(url)
    try:
        with session_scope(engine) as session:
            user = session.execute(select(User).where(User.email == valid.email)).scalar_one_or_none()
            created = user is None
            if user is None:
                user = User(email=valid.email, password_hash="", role="admin", created_at=utcnow())
                session.add(user)
            user.password_hash = hash_password_sync(valid.password)
            user.role = "admin"
            session.flush()
            return user.id, created
    finally:
        engine.dispose()


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    parser = argparse.ArgumentParser(prog="python -m api.cli", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    admin = commands.add_parser("create-admin", help="create or promote an admin (password from env or stdin)")
    admin.add_argument("email")
    args = parser.parse_args(argv)

    if args.command == "create-admin":
        try:
            user_id, created = create_admin(args.email, _read_password())
        except ValidationError as exc:
            # The messages name the field and rule, never the value.
            problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            log.error("not created: %s", problems)
            return 2
        verb = "created" if created else "promoted (password reset)"
        log.info(
            "admin %s %s (id %d) in %s",
            args.email.strip().lower(),
            verb,
            user_id,
            redact_url(get_settings().DATABASE_URL),
        )
        return 0
    return 1  # pragma: no cover - argparse rejects unknown commands


if __name__ == "__main__":
    sys.exit(main())
