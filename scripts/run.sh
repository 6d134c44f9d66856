#!/usr/bin/env bash
# The main job on the embedded defaults: set up, migrate, start the simulated market, Milvus (standalone),
# Dagster (webserver :3000 and daemon) and the API (:8000), then materialize the last trading days through
# Dagster (scripts/backfill.py: four runs, then a year of bars as a backfill the daemon fills in the
# background). Stays in the foreground; Ctrl-C stops everything it started.
#
#   DAYS=20 bash scripts/run.sh          # how many trading days to materialize (default 20)
#   DAYS=0 bash scripts/run.sh           # start the services only, no backfill
#   DATABASE_URL=postgresql+psycopg://... bash scripts/run.sh   # any setting can be overridden
#   SANDBOX_PORT=8900 MILVUS_PORT=19530 DAGSTER_PORT=3000 DAGSTER_CODE_PORT=4000 API_PORT=8000   # its ports
#   MILVUS_SERVER=lite bash scripts/run.sh   # Milvus Lite instead of Milvus standalone (see the README)
#
# Stopping: every service runs in its own session and process group (setsid), so a Ctrl-C reaches only
# this script, which then stops each group (children included): one TERM per process, up to STOP_GRACE_SECONDS
# (10) to exit, then KILL; the whole stop takes less than 15 s.
#
# Dagster: one code server (`dagster code-server start`, as `dagster dev` and production do) serves the code
# location to the webserver and the daemon. With a python_module workspace each of them would start its own,
# and the daemon replaces its code server every minute (a full import of the project on 2 cores), the old one
# logging "No heartbeat received in 20 seconds, shutting down" each time.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
started=$(date +%s)

SETUP_BROWSER=0 bash scripts/setup_env.sh  # the browser is for the tests only
# shellcheck disable=SC1091
. .venv/bin/activate

DATA=${DATA_DIR:-$ROOT/data}
LOGS=$DATA/logs
mkdir -p "$LOGS" "$DATA/milvus" "$DATA/dagster_home"

SANDBOX_PORT=${SANDBOX_PORT:-8900}
MILVUS_PORT=${MILVUS_PORT:-19530}
DAGSTER_PORT=${DAGSTER_PORT:-3000}
DAGSTER_CODE_PORT=${DAGSTER_CODE_PORT:-4000}
API_PORT=${API_PORT:-8000}
SANDBOX=http://127.0.0.1:$SANDBOX_PORT
STOP_GRACE_SECONDS=${STOP_GRACE_SECONDS:-10}

# The simulated market answers every upstream's real wire format; the real clients talk to it.
export DATA_MODE=simulated
export DATA_DIR=$DATA
export DATABASE_URL=${DATABASE_URL:-sqlite:///$DATA/stock_insights.db}
export MILVUS_URI=${MILVUS_URI:-http://127.0.0.1:$MILVUS_PORT}
export KIS_BASE_URL=$SANDBOX
export KIS_MASTER_BASE_URL=$SANDBOX
# The first run tracks eight known listings so that its 20-day backfill finishes in minutes; the whole-market
# backfill did not finish within the wait on 2 cores. STOCK_UNIVERSE= (empty) tracks the whole master.
export STOCK_UNIVERSE=${STOCK_UNIVERSE-005930,000660,035420,035720,005380,051910,068270,247540}
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
cat > "$DAGSTER_HOME/workspace.yaml" <<WORKSPACE
# Written by scripts/run.sh: the webserver and the daemon load the code location from its one code server.
load_from:
  - grpc_server:
      host: 127.0.0.1
      port: $DAGSTER_CODE_PORT
      location_name: stock_insights
WORKSPACE

pids=()
declare -A pid_of

descendants() {  # pid... -> every live descendant of the given processes
  ps -e -o pid= -o ppid= | awk -v roots=" $* " '
    { parent[$1] = $2; all[NR] = $1 }
    END {
      split(roots, r, " "); for (i in r) keep[r[i]] = 1
      do { grew = 0
        for (n in all) { p = all[n]; if (!(p in keep) && (parent[p] in keep)) { keep[p] = 1; grew = 1 } }
      } while (grew)
      for (p in keep) if (index(roots, " " p " ") == 0) print p
    }'
}

stopping=0
cleanup() {
  [ "$stopping" = 1 ] && return
  stopping=1
  trap '' INT TERM
  [ "${#pids[@]}" -gt 0 ] || return 0
  echo "stopping..."
  # Each service leads its own process group: signal the groups, and every descendant seen that is outside
  # them (a child that made its own group is still a descendant, and is remembered even if its parent exits
  # first). Each process gets one TERM: Dagster's servers turn TERM into KeyboardInterrupt, and a second one
  # landing in the middle of their shutdown ends it with a traceback.
  local -A known=()
  local pid pgid groups=" ${pids[*]} "
  for pid in "${pids[@]}" $(descendants "${pids[@]}"); do known[$pid]=1; done
  for pid in "${pids[@]}"; do kill -TERM -- "-$pid" 2>/dev/null || true; done
  for pid in "${!known[@]}"; do
    pgid=$(ps -o pgid= -p "$pid" 2>/dev/null | tr -d ' ' || true)
    if [ -n "$pgid" ] && [[ "$groups" != *" $pgid "* ]]; then kill -TERM "$pid" 2>/dev/null || true; fi
  done
  local deadline=$(( $(date +%s) + STOP_GRACE_SECONDS ))
  while :; do
    local alive=()
    for pid in "${!known[@]}"; do kill -0 "$pid" 2>/dev/null && alive+=("$pid"); done
    [ "${#alive[@]}" -eq 0 ] && break
    # A process that appeared after the first round has had no TERM yet: it gets its one.
    for pid in $(descendants "${alive[@]}"); do
      [ -n "${known[$pid]:-}" ] && continue
      known[$pid]=1
      kill -TERM "$pid" 2>/dev/null || true
    done
    [ "$(date +%s)" -ge "$deadline" ] && break
    sleep 0.2
  done
  for pid in "${pids[@]}"; do kill -KILL -- "-$pid" 2>/dev/null || true; done
  for pid in "${!known[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  echo "stopped."
}
trap cleanup EXIT
trap 'cleanup; exit 130' INT
trap 'cleanup; exit 143' TERM

start() {  # name, command...
  local name=$1; shift
  # setsid: the service gets its own session and process group (a background job of a non-interactive
  # shell is never a group leader, so setsid does not fork and $! is the service itself). env restores
  # SIGINT, which bash ignores in background jobs: Dagster maps TERM to the SIGINT handler, so an ignored
  # SIGINT made it ignore TERM too (only the KILL after the grace period stopped it).
  setsid env --default-signal=INT "$@" >"$LOGS/$name.log" 2>&1 < /dev/null &
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
# Milvus standalone (HNSW) from the `milvus` package by default; MILVUS_SERVER=lite for Milvus Lite (FLAT).
start milvus python -m stock_insights.embeddings.server --kind "${MILVUS_SERVER:-standalone}" \
  --data-dir "$DATA/milvus-${MILVUS_SERVER:-standalone}" --host 127.0.0.1 --port "$MILVUS_PORT"
start dagster-code-server dagster code-server start -m stock_insights.definitions -a defs \
  --location-name stock_insights -h 127.0.0.1 -p "$DAGSTER_CODE_PORT"
# X-Forwarded-For only from FORWARDED_ALLOW_IPS (empty: nobody; uvicorn alone would trust 127.0.0.1).
start api python -m api.cli serve --host 127.0.0.1 --port "$API_PORT"
# The webserver and the daemon start once the code location is loaded, so that their first look finds it.
wait_for dagster-code-server 180 \
  "import sys; sys.exit(0 if 'Started Dagster code proxy server' in open('$LOGS/dagster-code-server.log').read() else 1)"
start dagster-webserver dagster-webserver -h 127.0.0.1 -p "$DAGSTER_PORT" -w "$DAGSTER_HOME/workspace.yaml"
start dagster-daemon dagster-daemon run -w "$DAGSTER_HOME/workspace.yaml"

wait_http sandbox "$SANDBOX/_sandbox/health" 60
# Ready when the launcher has had a real answer from the server (an open port is not enough).
wait_for milvus 120 "import sys; sys.exit(0 if ' ready at ' in open('$LOGS/milvus.log').read() else 1)"
wait_http api "http://127.0.0.1:$API_PORT/health" 60
wait_http dagster-webserver "http://127.0.0.1:$DAGSTER_PORT/server_info" 180

status="Ready"
if [ "${DAYS:-20}" = 0 ]; then
  status="Ready (DAYS=0: no backfill)"
elif ! python scripts/backfill.py --days "${DAYS:-20}" --webserver "http://127.0.0.1:$DAGSTER_PORT"; then
  # Keep everything up: the failed runs and their messages are in the Dagster UI.
  status="Up, but the first runs did not complete (see Runs in the Dagster UI)"
fi

echo
echo "$status in $(( $(date +%s) - started )) s."
echo "  Dagster UI  http://127.0.0.1:$DAGSTER_PORT   (lineage, runs, partitions)"
echo "  API         http://127.0.0.1:$API_PORT/docs"
echo "              http://127.0.0.1:$API_PORT/api/v1/stocks"
echo "  Logs        $LOGS"
echo "Ctrl-C stops everything."
wait
