# One image for every stock_insights process: the Dagster code server (runs execute here too, see
# dagster.yaml run_launcher), dagster-webserver, dagster-daemon, the FastAPI app and the one-shot
# migration job. docker-compose.yml picks the process with `command:`.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DAGSTER_HOME=/opt/dagster/dagster_home \
    FORWARDED_ALLOW_IPS=""

WORKDIR /opt/stock_insights

# 1) Third-party dependencies, exactly as locked (own layer: rebuilt only when the lock changes).
#    The Postgres drivers are the -binary wheels (libpq bundled), so -slim needs no apt packages.
COPY requirements.lock ./
RUN pip install -r requirements.lock

# 2) Our code, then the project itself without re-resolving dependencies. Editable on purpose: settings
#    derive PROJECT_ROOT (and the default DATA_DIR) from the package location, which then stays
#    /opt/stock_insights instead of site-packages.
COPY . .
RUN pip install --no-deps -e .

# 3) Dagster instance + workspace in DAGSTER_HOME. storage/ (artifacts, compute logs) is a named volume
#    in docker-compose; creating it here lets a fresh volume inherit the non-root owner.
RUN mkdir -p "$DAGSTER_HOME/storage" /opt/stock_insights/data
COPY dagster.yaml workspace.yaml /opt/dagster/dagster_home/

RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin app \
    && chown -R app:app /opt/dagster /opt/stock_insights/data
USER app

# 3000 dagster-webserver, 4000 code server (gRPC), 8000 FastAPI.
EXPOSE 3000 4000 8000

CMD ["uvicorn", "api.main:app", "--host", "0.0.0.0", "--port", "8000"]
