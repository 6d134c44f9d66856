#!/usr/bin/env bash
# Make sure Redis answers on 127.0.0.1:6379 for the tests, starting it if it does not.
# A Redis started here writes its pid to $STARTED_REDIS_PIDFILE (when set) so that the caller stops it.
# PostgreSQL is handled by the tests themselves: they use the server on 127.0.0.1:5432 when one
# answers and otherwise start their own with `pgserver` (from PyPI), so no root is needed for it.
set -euo pipefail

redis_up() { python - <<'PY'
import socket, sys
s = socket.socket(); s.settimeout(1)
try:
    s.connect(("127.0.0.1", 6379)); s.sendall(b"PING\r\n"); sys.exit(0 if s.recv(16).startswith(b"+PONG") else 1)
except OSError:
    sys.exit(1)
PY
}

if ! redis_up; then
  if ! command -v redis-server >/dev/null 2>&1; then
    echo "Redis is not running and not installed: installing Debian's redis-server" >&2
    apt-get update -qq && apt-get install -y -qq redis-server >/dev/null
  fi
  mkdir -p /tmp/stock_insights-redis
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
    --dir /tmp/stock_insights-redis --logfile /tmp/stock_insights-redis/redis.log \
    --pidfile "${STARTED_REDIS_PIDFILE:-/tmp/stock_insights-redis/redis.pid}"
  for _ in $(seq 1 50); do redis_up && break; sleep 0.1; done
  redis_up || { echo "could not start Redis" >&2; exit 1; }
fi
