#!/usr/bin/env bash
# Every benchmark in sequence, with the project's virtualenv. Needs PostgreSQL and Redis on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_env.sh
# shellcheck disable=SC1091
. .venv/bin/activate
for script in kis_rate_limit bulk_write news_ingest embeddings_search vector_search predictions leaderboard ledger_seal api_load \
    universe_master linking intraday_policy paired_test_control sandbox_model_skill market_day api_scale; do
  echo "=== benchmarks/$script.py"
  python "benchmarks/$script.py"
done
