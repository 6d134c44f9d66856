#!/usr/bin/env bash
# The test command: set-up on a fresh machine, then lint and the whole suite on SQLite and PostgreSQL.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_env.sh
# shellcheck disable=SC1091
. .venv/bin/activate
# A Redis this command had to start is stopped when it ends (the machine's own is left alone).
export STARTED_REDIS_PIDFILE
STARTED_REDIS_PIDFILE=$(mktemp -u /tmp/stock_insights-redis-XXXXXX.pid)
stop_started_redis() {
  if [ -s "$STARTED_REDIS_PIDFILE" ]; then
    kill "$(cat "$STARTED_REDIS_PIDFILE")" 2>/dev/null || true
    rm -f "$STARTED_REDIS_PIDFILE"
  fi
}
trap stop_started_redis EXIT
bash scripts/ensure_services.sh
ruff check .
mypy stock_insights api  # the type check ([tool.mypy] in pyproject.toml)
lint-imports  # the layers of .importlinter: every import points down
python -m pytest "$@"
