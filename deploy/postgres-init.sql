-- Runs once, when the postgres volume is first initialised (/docker-entrypoint-initdb.d), as
-- POSTGRES_USER, connected to POSTGRES_DB. The image itself already created POSTGRES_DB
-- (`stock_insights`, the app database behind DATABASE_URL).
--
-- Dagster's instance storage (runs, event logs, schedules, pool slots) gets its own database on the
-- same server, so the two schemas (Dagster's alembic vs ours) never share tables or migrations and can
-- be backed up / wiped separately. The name must match DAGSTER_PG_DB in docker-compose.yml.
-- Owner is POSTGRES_USER, the role both DATABASE_URL and DAGSTER_PG_USER log in as.
CREATE DATABASE dagster;
