#!/usr/bin/env bash
# The main job on the embedded defaults: set up, migrate, start the simulated market, Milvus Lite,
# Dagster (webserver :3000 and daemon) and the API (:8000), then backfill the last trading days
# through Dagster. Stays in the foreground; Ctrl-C stops everything it started.
#
#   DAYS=20 bash scripts/run.sh          # how many trading days to materialize (default 20)
#   DATABASE_URL=postgresql+psycopg://... bash scripts/run.sh   # any setting can be overridden
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
started=$(date +%s)

bash scripts/setup_env.sh
# shellcheck disable=SC1091
. .venv/bin/activate

DATA=${DATA_DIR:-$ROOT/data}
LOGS=$DATA/logs
mkdir -p "$LOGS" "$DATA/milvus" "$DATA/dagster_home"

SANDBOX_PORT=${SANDBOX_PORT:-8900}
SANDBOX=http://127.0.0.1:$SANDBOX_PORT

# The simulated market answers every upstream's real wire format; the real clients talk to it.
export DATA_MODE=simulated
export DATA_DIR=$DATA
export DATABASE_URL=${DATABASE_URL:-sqlite:///$DATA/stock_insights.db}
export MILVUS_URI=${MILVUS_URI:-http://127.0.0.1:19530}
export KIS_BASE_URL=$SANDBOX
export KIS_APP_KEY=${SANDBOX_KIS_APP_KEY:-PSsandboxAppKey0000000000000000000000}
export KIS_APP_SECRET=${SANDBOX_KIS_APP_SECRET:-sandbox-app-secret}
export DART_BASE_URL=$SANDBOX
export DART_API_KEY=sandbox0dart0key000000000000000000000000
export NAVER_BASE_URL=$SANDBOX
export NAVER_CLIENT_ID=sandbox-naver-id
export NAVER_CLIENT_SECRET=sandbox-naver-secret
export HANKYUNG_FEED_URLS=$SANDBOX/feed/finance,$SANDBOX/feed/economy
export MAEIL_FEED_URLS=$SANDBOX/rss/50200011/,$SANDBOX/rss/30100041/
export REDDIT_AUTH_URL=$SANDBOX/api/v1/access_token
export REDDIT_BASE_URL=$SANDBOX
export REDDIT_CLIENT_ID=sandbox-reddit-id
export REDDIT_CLIENT_SECRET=sandbox-reddit-secret
# The sandbox's OpenAI-compatible API answers the real SDK: the LLM models and embeddings run for real.
export OPENAI_BASE_URL=$SANDBOX/v1
export OPENAI_API_KEY=sk-sandbox
export OPENROUTER_BASE_URL=$SANDBOX/openrouter/v1
export OPENROUTER_API_KEY=sk-sandbox
export DAGSTER_HOME=$DATA/dagster_home
# A stable token key for this data folder, so that API tokens survive a restart of the run command.
[ -f "$DATA/.jwt_secret" ] || python -c "import secrets; print(secrets.token_hex(32))" > "$DATA/.jwt_secret"
export API_JWT_SECRET=${API_JWT_SECRET:-$(cat "$DATA/.jwt_secret")}
cp deploy/dagster.local.yaml "$DAGSTER_HOME/dagster.yaml"

pids=()
declare -A pid_of
cleanup() {
  trap - EXIT INT TERM
  echo "stopping..."
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  # Up to 15 s to shut down cleanly (a Milvus Lite server interrupted by Ctrl-C was seen to hang), then KILL.
  for _ in $(seq 30); do
    alive=0
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && break
    sleep 0.5
  done
  for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

start() {  # name, command...
  local name=$1; shift
  "$@" >"$LOGS/$name.log" 2>&1 &
  pids+=("$!")
  pid_of[$name]=$!
  echo "started $name (pid $!, log $LOGS/$name.log)"
}

wait_for() {  # name, seconds, probe (python code that exits 0 when the service answers)
  local name=$1 deadline=$(( $(date +%s) + $2 )) probe=$3
  until python -c "$probe" 2>/dev/null; do
    if ! kill -0 "${pid_of[$name]}" 2>/dev/null || [ "$(date +%s)" -gt "$deadline" ]; then
      echo "$name did not come up; last lines of $LOGS/$name.log:" >&2; tail -20 "$LOGS/$name.log" >&2; exit 1
    fi
    sleep 1
  done
}
wait_http() { wait_for "$1" "$3" "import httpx,sys; sys.exit(0 if httpx.get('$2', timeout=2).status_code < 500 else 1)"; }
wait_port() { wait_for "$1" "$3" "import socket; socket.create_connection(('127.0.0.1', $2), 1)"; }

python -m stock_insights.storage.migrate

start sandbox python -m stock_insights.sandbox --host 127.0.0.1 --port "$SANDBOX_PORT"
start milvus milvus-lite server --data-dir "$DATA/milvus" --host 127.0.0.1 --port 19530
start dagster-webserver dagster-webserver -h 127.0.0.1 -p 3000 -w deploy/workspace.local.yaml
start dagster-daemon dagster-daemon run -w deploy/workspace.local.yaml
start api uvicorn api.main:app --host 127.0.0.1 --port 8000

wait_http sandbox "$SANDBOX/_sandbox/health" 60
wait_port milvus 19530 60
wait_http api http://127.0.0.1:8000/health 60
wait_http dagster-webserver http://127.0.0.1:3000/server_info 180

status="Ready"
if ! python scripts/backfill.py --days "${DAYS:-20}" --webserver http://127.0.0.1:3000; then
  # Keep everything up: the failed runs and their messages are in the Dagster UI.
  status="Up, but the backfill did not complete (see Runs in the Dagster UI)"
fi

echo
echo "$status in $(( $(date +%s) - started )) s."
echo "  Dagster UI  http://127.0.0.1:3000   (lineage, runs, partitions)"
echo "  API         http://127.0.0.1:8000/docs"
echo "              http://127.0.0.1:8000/api/v1/stocks"
echo "  Logs        $LOGS"
echo "Ctrl-C stops everything."
wait
