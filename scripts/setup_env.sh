#!/usr/bin/env bash
# Create .venv (Python >= 3.11) and install the locked dependencies plus this project. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
"$PYTHON" - <<'PY' || { echo "Python >= 3.11 is required (set PYTHON=/path/to/python3.11)" >&2; exit 1; }
import sys
sys.exit(0 if sys.version_info >= (3, 11) else 1)
PY

if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
# shellcheck disable=SC1091
. .venv/bin/activate
stamp=.venv/.installed-$(sha256sum requirements.lock pyproject.toml | sha256sum | cut -c1-16)
if [ ! -f "$stamp" ]; then
  # uv installs the locked set in about 20 s where pip takes 80 s (parallel downloads, no per-package
  # subprocess); pip stays the fallback when uv cannot be had (an offline mirror that only pip is set up for).
  if python -m pip install --quiet --disable-pip-version-check "uv>=0.9,<1" 2>/dev/null && python -m uv --version >/dev/null 2>&1; then
    python -m uv pip install --quiet --python .venv/bin/python -r requirements.lock
    python -m uv pip install --quiet --python .venv/bin/python --no-deps -e .
  else
    echo "uv is not available: installing with pip (slower)" >&2
    python -m pip install --quiet --upgrade pip
    python -m pip install --quiet -r requirements.lock
    python -m pip install --quiet --no-deps -e .
  fi
  rm -f .venv/.installed-* && touch "$stamp"
fi

# Headless Chromium for the tests that load /docs and /redoc in a browser (Debian's package, installed once;
# the pages themselves need nothing from the network). scripts/run.sh sets SETUP_BROWSER=0: it needs none.
if [ "${SETUP_BROWSER:-1}" = 1 ] && ! command -v chromium >/dev/null 2>&1; then
  echo "chromium is not installed: installing Debian's chromium package (browser tests)" >&2
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "cannot install chromium without root: run 'apt-get install chromium' as root" >&2
  fi
fi
