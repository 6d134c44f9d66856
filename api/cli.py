"""Administration commands, and the API server.

``python -m api.cli serve [--host H] [--port P] [--workers N]`` runs the API under uvicorn with the
forwarded-header trust of ``FORWARDED_ALLOW_IPS`` (empty by default: ``X-Forwarded-For`` is ignored and the
client address is the TCP peer). uvicorn's own default would trust 127.0.0.1, so that anyone who reaches
the port from the same host (or through a local tunnel) could pick the address the login limit counts.

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

import uvicorn
from pydantic import ValidationError
from sqlalchemy import select

from api.core.revocation import revoke_access_tokens_sync
from api.core.security import hash_password_sync
from api.schemas import RegisterIn
from stock_insights.settings import Settings, get_settings
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
            if not created:  # a password (and maybe role) change: tokens issued before stop working
                revoke_access_tokens_sync(session, user.id)
            return user.id, created
    finally:
        engine.dispose()


def forwarding_options(settings: Settings | None = None) -> dict[str, object]:
    """uvicorn's proxy-header options from ``FORWARDED_ALLOW_IPS``: off without trusted proxies (uvicorn then
    reads no X-Forwarded-* header at all), else honoured from those addresses only."""
    trusted = list((settings or get_settings()).FORWARDED_ALLOW_IPS)
    return {"proxy_headers": bool(trusted), "forwarded_allow_ips": trusted}


def uvicorn_config(
    app: object = "api.main:app", *, host: str, port: int, settings: Settings | None = None, **options: object
) -> uvicorn.Config:
    """The uvicorn configuration the API runs with (``serve`` and the tests start it the same way)."""
    return uvicorn.Config(app, host=host, port=port, **forwarding_options(settings), **options)  # type: ignore[arg-type]


def serve(host: str, port: int, workers: int = 1) -> None:
    forwarding = forwarding_options()
    log.info(
        "API on %s:%d; X-Forwarded-For trusted from: %s",
        host,
        port,
        ", ".join(forwarding["forwarded_allow_ips"]) or "nobody",  # type: ignore[arg-type]
    )
    uvicorn.run("api.main:app", host=host, port=port, workers=workers, **forwarding)  # type: ignore[arg-type]


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    parser = argparse.ArgumentParser(prog="python -m api.cli", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    admin = commands.add_parser("create-admin", help="create or promote an admin (password from env or stdin)")
    admin.add_argument("email")
    server = commands.add_parser("serve", help="run the API under uvicorn (forwarded headers: FORWARDED_ALLOW_IPS)")
    server.add_argument("--host", default="127.0.0.1")
    server.add_argument("--port", type=int, default=8000)
    server.add_argument("--workers", type=int, default=1)
    args = parser.parse_args(argv)

    if args.command == "serve":
        serve(args.host, args.port, args.workers)
        return 0

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
