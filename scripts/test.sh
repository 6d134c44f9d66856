#!/usr/bin/env bash
# The test command: set-up on a fresh machine, then lint and the whole suite on SQLite and PostgreSQL.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_env.sh
# shellcheck disable=SC1091
. .venv/bin/activate
bash scripts/ensure_services.sh
ruff check .
python -m pytest "$@"
