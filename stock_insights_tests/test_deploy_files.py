"""Wiring checks for the deployment files (docker-compose.yml, dagster.yaml, workspace files, Dockerfile).

No Docker engine runs here: the compose file is parsed with PyYAML, `${VAR:-default}` is resolved the way
compose does with an empty environment, and the Dagster files are validated with Dagster's own config
schema and loaders (pinned version), so a typo in a class path or a field name fails here, not at deploy.
"""

from __future__ import annotations

import importlib
import re
import shlex
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import SecretStr
from sqlalchemy.engine import make_url

from stock_insights.settings import Settings

REPO_ROOT = Path(__file__).resolve().parents[1]
COMPOSE_FILE = REPO_ROOT / "docker-compose.yml"
DAGSTER_YAML = REPO_ROOT / "dagster.yaml"
WORKSPACE_YAML = REPO_ROOT / "workspace.yaml"
LOCAL_WORKSPACE_YAML = REPO_ROOT / "deploy" / "workspace.local.yaml"
POSTGRES_INIT_SQL = REPO_ROOT / "deploy" / "postgres-init.sql"
DOCKERFILE = REPO_ROOT / "Dockerfile"
DOCKERIGNORE = REPO_ROOT / ".dockerignore"

DAGSTER_HOME = "/opt/dagster/dagster_home"
LOCATION_NAME = "stock_insights"
DEFINITIONS_MODULE = "stock_insights.definitions"

APP_SERVICES = ("migrate", "code", "webserver", "daemon", "api")
INFRA_SERVICES = ("postgres", "redis", "etcd", "minio", "milvus")
ONE_SHOT_SERVICES = ("migrate",)
DAGSTER_PG_VARS = ("DAGSTER_PG_USER", "DAGSTER_PG_PASSWORD", "DAGSTER_PG_HOST", "DAGSTER_PG_DB", "DAGSTER_PG_PORT")
# host port -> (service, container port)
PUBLISHED = {
    3000: ("webserver", 3000),
    8000: ("api", 8000),
    19530: ("milvus", 19530),
    5432: ("postgres", 5432),
    6379: ("redis", 6379),
}


# --- helpers ---------------------------------------------------------------------------------------------


@cache
def compose() -> dict[str, Any]:
    assert COMPOSE_FILE.is_file(), f"missing {COMPOSE_FILE}"
    data = yaml.safe_load(COMPOSE_FILE.read_text())
    assert isinstance(data, dict) and isinstance(data.get("services"), dict), "compose file has no services"
    return data


def services() -> dict[str, dict[str, Any]]:
    return compose()["services"]


_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?+])([^{}]*))?\}")


def interpolate(value: Any, env: dict[str, str] | None = None) -> str:
    """Resolve compose interpolation (`${V}`, `${V:-d}`, `${V-d}`, `$$`) against `env` (default: empty)."""
    env = env or {}
    text = str(value)

    def repl(m: re.Match[str]) -> str:
        name, op, arg = m.group(1), m.group(2), m.group(3) or ""
        current = env.get(name)
        if op == ":-":
            return current if current else arg
        if op == "-":
            return current if current is not None else arg
        if op in (":?", "?"):
            assert current, f"${{{name}}} is required by the compose file but has no default"
            return current
        if op in (":+", "+"):
            return arg if current else ""
        return current or ""

    text = text.replace("$$", "\0")
    resolved = _VAR.sub(repl, text)
    assert "${" not in resolved and "$" not in resolved.replace("\0", ""), (
        f"unresolvable/nested interpolation in compose value {value!r} -> {resolved!r}"
    )
    return resolved.replace("\0", "$")


def env_of(service: str) -> dict[str, str]:
    """A service's environment, interpolated with an empty shell environment (i.e. the defaults)."""
    raw = services()[service].get("environment") or {}
    if isinstance(raw, list):
        raw = dict(item.split("=", 1) if "=" in item else (item, "") for item in raw)
    return {k: interpolate("" if v is None else v) for k, v in raw.items()}


def command_of(service: str) -> list[str]:
    cmd = services()[service].get("command") or []
    return shlex.split(cmd) if isinstance(cmd, str) else [str(c) for c in cmd]


def option(argv: list[str], *flags: str) -> str | None:
    for i, arg in enumerate(argv):
        if arg in flags and i + 1 < len(argv):
            return argv[i + 1]
        for flag in flags:
            if flag.startswith("--") and arg.startswith(flag + "="):
                return arg.split("=", 1)[1]
    return None


def published_ports(service: str) -> set[tuple[int, int]]:
    """(host port, container port) pairs a service publishes; short and long syntax."""
    pairs: set[tuple[int, int]] = set()
    for entry in services()[service].get("ports") or []:
        if isinstance(entry, dict):
            if entry.get("published") is not None:
                pairs.add((int(interpolate(entry["published"])), int(entry["target"])))
            continue
        spec = interpolate(entry).split("/")[0]
        parts = spec.rsplit(":", 2)
        if len(parts) == 1:  # "8000": random host port, not a fixed publication
            continue
        host, container = parts[-2], parts[-1]
        pairs.add((int(host), int(container)))
    return pairs


def healthcheck_text(service: str) -> str:
    test = (services()[service].get("healthcheck") or {}).get("test")
    return " ".join(test) if isinstance(test, list) else str(test or "")


def depends_on(service: str) -> dict[str, str]:
    deps = services()[service].get("depends_on") or {}
    if isinstance(deps, list):
        return dict.fromkeys(deps, "service_started")
    return {name: (spec or {}).get("condition", "service_started") for name, spec in deps.items()}


def load_yaml(path: Path) -> Any:
    assert path.is_file(), f"missing {path.relative_to(REPO_ROOT)}"
    return yaml.safe_load(path.read_text())


def setting_names() -> list[str]:
    names = list(Settings.model_fields)
    assert names, "Settings declares no fields?"
    return names


# --- docker-compose.yml ------------------------------------------------------------------------------------


def test_expected_services_exist_and_each_has_an_image_or_build():
    missing = set(APP_SERVICES + INFRA_SERVICES) - set(services())
    assert not missing, f"docker-compose.yml lacks services: {sorted(missing)}"
    for name, svc in services().items():
        assert svc.get("image") or svc.get("build"), f"service {name!r} has neither image nor build"
    for name in APP_SERVICES:
        build = services()[name].get("build")
        assert build, f"{name} must be built from our Dockerfile"
        context = build if isinstance(build, str) else build.get("context", ".")
        dockerfile = "Dockerfile" if isinstance(build, str) else build.get("dockerfile", "Dockerfile")
        assert (REPO_ROOT / context / dockerfile).resolve() == DOCKERFILE, f"{name} builds {context}/{dockerfile}"
    images = {services()[name].get("image") for name in APP_SERVICES}
    assert len(images) == 1, f"code/webserver/daemon/api/migrate should share one image, got {images}"


def test_infra_images_are_the_expected_ones():
    expect = {
        "postgres": r"^postgres:16(\.|-|$)",
        "redis": r"^redis:7(\.|-|$)",
        "etcd": r"^quay\.io/coreos/etcd:v3\.5\.",
        "minio": r"^minio/minio(:|$)",
        "milvus": r"^milvusdb/milvus:v2\.6\.",
    }
    for name, pattern in expect.items():
        image = services()[name].get("image", "")
        assert re.match(pattern, image), f"{name} image {image!r} does not match {pattern}"
    assert command_of("milvus")[-3:] == ["milvus", "run", "standalone"], command_of("milvus")
    milvus_env = env_of("milvus")
    assert milvus_env.get("ETCD_ENDPOINTS") == "etcd:2379", milvus_env
    assert milvus_env.get("MINIO_ADDRESS") == "minio:9000", milvus_env


def test_depends_on_targets_exist_and_conditions_make_sense():
    allowed = {"service_started", "service_healthy", "service_completed_successfully"}
    for name in services():
        for target, condition in depends_on(name).items():
            assert target in services(), f"{name} depends on unknown service {target!r}"
            assert condition in allowed, f"{name} -> {target}: unknown condition {condition!r}"
            if condition == "service_healthy":
                assert services()[target].get("healthcheck"), (
                    f"{name} waits for {target} to be healthy but {target} has no healthcheck"
                )
            if condition == "service_completed_successfully":
                assert target in ONE_SHOT_SERVICES, f"{name} waits for long-running {target} to exit"

    def need(service: str, target: str, condition: str) -> None:
        got = depends_on(service).get(target)
        assert got == condition, f"{service} should depend on {target} with {condition}, got {got}"

    for name in APP_SERVICES:
        need(name, "postgres", "service_healthy")
    for name in ("code", "api", "webserver", "daemon"):
        need(name, "migrate", "service_completed_successfully")
    for name in ("webserver", "daemon"):
        need(name, "code", "service_healthy")
    need("api", "redis", "service_healthy")
    need("milvus", "etcd", "service_healthy")
    need("milvus", "minio", "service_healthy")


def test_long_running_services_have_real_healthchecks():
    for name, svc in services().items():
        if name in ONE_SHOT_SERVICES:
            assert svc.get("restart", "no") in ("no", "on-failure"), f"one-shot {name} must not restart forever"
            continue
        hc = svc.get("healthcheck") or {}
        assert hc.get("test") and not hc.get("disable"), f"long-running service {name!r} has no healthcheck"
    expect = {
        "postgres": ["pg_isready"],
        "redis": ["redis-cli", "ping"],
        "etcd": ["etcdctl", "endpoint", "health"],
        "minio": ["/minio/health/live"],
        "milvus": ["localhost:9091/healthz"],
        "code": ["dagster api grpc-health-check", "-p 4000"],
        "webserver": ["localhost:3000/server_info"],
        "daemon": ["dagster-daemon", "liveness-check"],
        "api": ["localhost:8000/health"],
    }
    for name, needles in expect.items():
        text = healthcheck_text(name)
        for needle in needles:
            assert needle in text, f"{name} healthcheck {text!r} should contain {needle!r}"
    assert "/health/ready" not in healthcheck_text("api"), "container liveness should use /health"


def test_published_ports_go_to_the_right_services():
    by_host_port: dict[int, list[tuple[str, int]]] = {}
    for name in services():
        for host, container in published_ports(name):
            by_host_port.setdefault(host, []).append((name, container))
    for host, owners in by_host_port.items():
        assert len(owners) == 1, f"host port {host} published by several services: {owners}"
    for host, (service, container) in PUBLISHED.items():
        assert by_host_port.get(host) == [(service, container)], (
            f"host port {host} should go to {service}:{container}, got {by_host_port.get(host)}"
        )
    # and the processes listen where the ports point
    assert option(command_of("webserver"), "-p", "--port") == "3000", command_of("webserver")
    assert option(command_of("api"), "--port") == "8000", command_of("api")
    assert option(command_of("api"), "--host") == "0.0.0.0", "uvicorn must listen on all interfaces"
    assert option(command_of("webserver"), "-h", "--host") == "0.0.0.0", "webserver must listen on 0.0.0.0"
    assert command_of("api")[:2] == ["uvicorn", "api.main:app"], command_of("api")


FIXED_STORAGE_URLS = {"DATABASE_URL", "REDIS_URL", "MILVUS_URI"}


def test_app_services_share_one_env_with_every_setting():
    names = setting_names() + list(DAGSTER_PG_VARS)
    reference = env_of(APP_SERVICES[0])
    for name in APP_SERVICES:
        env = env_of(name)
        missing = [n for n in names if n not in env]
        assert not missing, f"{name} environment lacks {missing}"
        assert env == reference, f"{name} environment differs from {APP_SERVICES[0]}'s (use the x-app-env anchor)"
    raw = COMPOSE_FILE.read_text()
    assert re.search(r"^x-app-env:\s*&\S+", raw, re.M), "settings should come from an `x-app-env` anchor"
    raw_env = services()["api"]["environment"]
    # Storage URLs are fixed to the compose services: a local .env must not point containers elsewhere.
    for name in sorted(set(setting_names()) - FIXED_STORAGE_URLS):
        pattern = r"\$\{" + re.escape(name) + r"(:?-[^}]*)?\}"
        assert re.fullmatch(pattern, str(raw_env[name])), (
            f"{name} should be `${{{name}:-default}}` so it can be overridden, got {raw_env[name]!r}"
        )


def test_app_env_defaults_are_valid_settings_with_empty_secrets():
    env = env_of("api")
    settings = Settings(_env_file=None, **{n: env[n] for n in setting_names()})
    assert settings.DATA_MODE == "live", f"compose should default DATA_MODE to live, got {settings.DATA_MODE}"
    for name, field in Settings.model_fields.items():
        if field.annotation is SecretStr:
            assert env[name] == "", f"secret {name} must default to empty in compose, got {env[name]!r}"
    # The universe is the market by default (issue 15): the policy over the KIS master, no override.
    assert settings.STOCK_UNIVERSE == [] and settings.UNIVERSE_POLICY == "common"


def test_storage_urls_point_at_the_compose_services():
    env = env_of("api")
    pg_env = env_of("postgres")
    db = make_url(env["DATABASE_URL"])
    assert db.drivername == "postgresql+psycopg", f"DATABASE_URL driver: {db.drivername}"
    assert db.host == "postgres" and "postgres" in services(), f"DATABASE_URL host: {db.host}"
    assert (db.port or 5432) == 5432
    assert db.database == pg_env["POSTGRES_DB"], f"DATABASE_URL db {db.database} != {pg_env['POSTGRES_DB']}"
    assert db.username == pg_env["POSTGRES_USER"] and db.password == pg_env["POSTGRES_PASSWORD"], (
        "DATABASE_URL credentials differ from the postgres service's"
    )
    redis = make_url(env["REDIS_URL"])
    assert (redis.drivername, redis.host, redis.port or 6379) == ("redis", "redis", 6379), env["REDIS_URL"]
    milvus = make_url(env["MILVUS_URI"])
    assert (milvus.host, milvus.port) == ("milvus", 19530), env["MILVUS_URI"]


def test_dagster_storage_env_matches_postgres_service_and_init_script():
    env = env_of("code")
    pg_env = env_of("postgres")
    assert env["DAGSTER_PG_HOST"] in services() and "postgres" in services()[env["DAGSTER_PG_HOST"]]["image"], (
        f"DAGSTER_PG_HOST {env['DAGSTER_PG_HOST']!r} is not the postgres service"
    )
    assert env["DAGSTER_PG_PORT"] == "5432"
    assert env["DAGSTER_PG_USER"] == pg_env["POSTGRES_USER"], "Dagster logs in as a role the server lacks"
    assert env["DAGSTER_PG_PASSWORD"] == pg_env["POSTGRES_PASSWORD"]
    assert env["DAGSTER_PG_DB"] != pg_env["POSTGRES_DB"], "Dagster storage and app data should not share a DB"
    created = re.findall(r"CREATE\s+DATABASE\s+\"?(\w+)\"?", POSTGRES_INIT_SQL.read_text(), re.I)
    assert env["DAGSTER_PG_DB"] in created, f"deploy/postgres-init.sql creates {created}, not DAGSTER_PG_DB"
    mounts = [str(v) for v in services()["postgres"].get("volumes", [])]
    assert any(
        m.startswith("./deploy/postgres-init.sql:/docker-entrypoint-initdb.d/") for m in mounts
    ), f"postgres-init.sql is not mounted into /docker-entrypoint-initdb.d: {mounts}"


def test_migrate_runs_the_app_migrations_once():
    argv = command_of("migrate")
    assert "stock_insights.storage.migrate" in " ".join(argv), f"migrate service runs {argv}"
    assert services()["migrate"].get("restart") == "no", "a one-shot job must not be restarted"


def test_code_server_serves_the_definitions_module():
    argv = command_of("code")
    joined = " ".join(argv)
    assert "code-server start" in joined or "api grpc" in joined, f"code service is not a code server: {joined}"
    assert option(argv, "-m", "--module-name") == DEFINITIONS_MODULE, joined
    assert option(argv, "-a", "--attribute") == "defs", joined
    assert option(argv, "-h", "--host") == "0.0.0.0", "code server must listen on all interfaces"
    port = option(argv, "-p", "--port")
    assert port and port in healthcheck_text("code"), "healthcheck must probe the port the server listens on"
    assert option(argv, "--location-name") == LOCATION_NAME, joined


def test_webserver_and_daemon_load_the_code_service_over_grpc():
    from dagster._core.remote_origin import GrpcServerCodeLocationOrigin
    from dagster._core.workspace.load import location_origins_from_yaml_paths

    copied = copied_into_dagster_home()
    code_port = int(option(command_of("code"), "-p", "--port") or 0)
    for name in ("webserver", "daemon"):
        ws = option(command_of(name), "-w", "--workspace")
        assert ws, f"{name} must be given a workspace file (-w)"
        assert ws.startswith(DAGSTER_HOME + "/"), f"{name} workspace {ws} is not in DAGSTER_HOME"
        filename = ws.rsplit("/", 1)[1]
        assert filename in copied, f"{filename} is not copied into DAGSTER_HOME by the Dockerfile"
        origins = location_origins_from_yaml_paths([str(REPO_ROOT / filename)])
        assert len(origins) == 1, origins
        origin = origins[0]
        assert isinstance(origin, GrpcServerCodeLocationOrigin), f"{filename} should use grpc_server"
        assert origin.host == "code" and "code" in services(), f"grpc host {origin.host!r} is not the code service"
        assert origin.port == code_port, f"grpc port {origin.port} != code server port {code_port}"
        assert origin.location_name == LOCATION_NAME
    assert command_of("daemon")[:2] == ["dagster-daemon", "run"], command_of("daemon")
    assert command_of("webserver")[0] == "dagster-webserver", command_of("webserver")


def test_dagster_storage_volume_is_shared_and_named_volumes_declared():
    declared = set((compose().get("volumes") or {}).keys())
    used: dict[str, set[str]] = {}
    for name, svc in services().items():
        for vol in svc.get("volumes") or []:
            source = vol.get("source") if isinstance(vol, dict) else str(vol).split(":", 1)[0]
            if source and not source.startswith((".", "/", "~")):
                assert source in declared, f"{name} mounts undeclared named volume {source!r}"
                used.setdefault(source, set()).add(name)
    for name in ("postgres", "milvus", "etcd", "minio"):
        assert any(name in users for users in used.values()), f"{name} keeps its data in no named volume"
    storage_users = {
        name
        for name, svc in services().items()
        for vol in svc.get("volumes") or []
        if str(vol).endswith(":" + DAGSTER_HOME + "/storage")
    }
    assert {"code", "webserver", "daemon"} <= storage_users, (
        f"$DAGSTER_HOME/storage (compute logs) must be shared by code/webserver/daemon, got {storage_users}"
    )


def test_all_services_share_one_network():
    networks = compose().get("networks") or {}
    assert len(networks) == 1, f"expected one network, got {list(networks)}"
    (net,) = networks
    for name, svc in services().items():
        nets = svc.get("networks") or []
        nets = list(nets) if isinstance(nets, (list, dict)) else [nets]
        assert nets == [net], f"{name} should be on network {net!r} only, got {nets}"


# --- dagster.yaml --------------------------------------------------------------------------------------------


def test_dagster_yaml_uses_env_sourced_postgres_storage(monkeypatch):
    from dagster._config import process_config
    from dagster._core.instance.config import dagster_instance_config
    from dagster._core.storage.config import pg_config
    from dagster_postgres.utils import pg_url_from_config

    cfg = load_yaml(DAGSTER_YAML)
    for legacy in ("run_storage", "event_log_storage", "schedule_storage"):
        assert legacy not in cfg, f"use the `storage: postgres:` block, not {legacy}"
    pg = (cfg.get("storage") or {}).get("postgres") or {}
    fields = pg.get("postgres_db") or {}
    expected = {
        "username": "DAGSTER_PG_USER",
        "password": "DAGSTER_PG_PASSWORD",
        "hostname": "DAGSTER_PG_HOST",
        "db_name": "DAGSTER_PG_DB",
        "port": "DAGSTER_PG_PORT",
    }
    for field, var in expected.items():
        assert fields.get(field) == {"env": var}, f"storage.postgres.postgres_db.{field} should be {{env: {var}}}"

    # Dagster's own schema accepts the whole file (unknown keys, wrong types, conflicts all fail here).
    dagster_instance_config(str(REPO_ROOT))

    # With the compose environment, the storage resolves to the postgres service's `dagster` database.
    compose_env = env_of("code")
    for var in DAGSTER_PG_VARS:
        monkeypatch.setenv(var, compose_env[var])
    result = process_config(pg_config(), pg)
    assert result.success, result.errors
    url = make_url(pg_url_from_config(result.value))
    assert (url.host, url.port, url.database) == ("postgres", 5432, compose_env["DAGSTER_PG_DB"]), str(url)


def test_dagster_yaml_queue_pools_and_policies(tmp_path):
    from dagster._core.instance import DagsterInstance
    from dagster._core.instance.ref import InstanceRef
    from dagster._core.run_coordinator import QueuedRunCoordinator

    cfg = load_yaml(DAGSTER_YAML)
    rc = cfg.get("run_coordinator") or {}
    assert rc.get("class") == "QueuedRunCoordinator", f"run_coordinator: {rc}"
    for key in ("run_coordinator", "run_launcher", "scheduler"):
        block = cfg.get(key) or {}
        module = importlib.import_module(block.get("module", ""))
        assert hasattr(module, block.get("class", "")), f"{key}: {block} does not name an importable class"

    runs = (cfg.get("concurrency") or {}).get("runs") or {}
    rc_config = rc.get("config") or {}
    limits_in_runs = "max_concurrent_runs" in runs
    limits_in_rc = "max_concurrent_runs" in rc_config
    assert limits_in_runs != limits_in_rc, "set the run limits in exactly one of concurrency.runs / run_coordinator"
    pools = (cfg.get("concurrency") or {}).get("pools") or {}
    assert isinstance(pools.get("default_limit"), int) and pools["default_limit"] >= 1, pools
    assert pools.get("granularity") == "op", pools
    assert (cfg.get("run_monitoring") or {}).get("enabled") is True, "run_monitoring should be enabled"
    assert (cfg.get("run_retries") or {}).get("enabled") is True, "run_retries should be enabled"
    assert (cfg.get("telemetry") or {}).get("enabled") is False, "telemetry should be disabled"

    # Build a real instance from the file, with only the storage swapped for SQLite in tmp_path, and
    # check what Dagster actually makes of the queue and pool settings.
    cfg["storage"] = {"sqlite": {"base_dir": str(tmp_path / "storage")}}
    (tmp_path / "dagster.yaml").write_text(yaml.safe_dump(cfg))
    instance = DagsterInstance.from_ref(InstanceRef.from_dir(str(tmp_path)))
    try:
        assert isinstance(instance.run_coordinator, QueuedRunCoordinator)
        queue = instance.get_concurrency_config().run_queue_config
        assert queue is not None and queue.max_concurrent_runs >= 1, queue
        backfill = [t for t in queue.tag_concurrency_limits if t.get("key") == "dagster/backfill"]
        assert backfill and backfill[0]["limit"] < queue.max_concurrent_runs, (
            f"a dagster/backfill tag limit below max_concurrent_runs is expected, got {queue.tag_concurrency_limits}"
        )
        pool_cfg = instance.get_concurrency_config().pool_config
        assert pool_cfg.default_pool_limit == pools["default_limit"]
        assert pool_cfg.pool_granularity is not None and pool_cfg.pool_granularity.value == "op"
        assert instance.run_monitoring_enabled and instance.run_retries_enabled
    finally:
        instance.dispose()


# --- workspace files ---------------------------------------------------------------------------------------


def test_local_workspace_points_at_the_definitions_module():
    from dagster._core.remote_origin import ManagedGrpcPythonEnvCodeLocationOrigin
    from dagster._core.workspace.load import location_origins_from_yaml_paths

    cfg = load_yaml(LOCAL_WORKSPACE_YAML)
    entry = cfg["load_from"][0]["python_module"]
    assert entry["module_name"] == DEFINITIONS_MODULE, entry
    assert entry.get("attribute") == "defs", entry
    assert entry.get("location_name") == LOCATION_NAME, "local and production location names should match"

    (origin,) = location_origins_from_yaml_paths([str(LOCAL_WORKSPACE_YAML)])
    assert isinstance(origin, ManagedGrpcPythonEnvCodeLocationOrigin)
    target = origin.loadable_target_origin
    assert target.module_name == DEFINITIONS_MODULE and target.attribute == "defs"
    # Dagster does not rebase a python_module working_directory onto the yaml's folder: it is used as-is,
    # relative to the cwd of `dagster dev`, which the file documents as the repo root.
    wd = target.working_directory
    if wd is not None:
        resolved = (REPO_ROOT / wd).resolve()
        assert (resolved / "stock_insights" / "__init__.py").is_file(), (
            f"working_directory {wd!r} resolved from the repo root ({resolved}) does not contain stock_insights"
        )


# --- Dockerfile ---------------------------------------------------------------------------------------------


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            op, _, rest = line.partition(" ")
            out.append((op.upper(), rest.strip()))
    return out


def copied_into_dagster_home() -> set[str]:
    names: set[str] = set()
    for op, rest in dockerfile_instructions():
        if op == "COPY":
            *sources, dest = rest.split()
            if dest.rstrip("/") == DAGSTER_HOME or dest.rstrip("/") == "$DAGSTER_HOME":
                names.update(Path(s).name for s in sources if not s.startswith("--"))
    return names


def test_dockerfile_installs_the_lock_then_the_project():
    steps = dockerfile_instructions()
    assert steps[0][0] == "FROM" and steps[0][1].startswith("python:3.11-slim"), steps[0]
    runs = [(i, rest) for i, (op, rest) in enumerate(steps) if op == "RUN"]
    lock_install = [i for i, rest in runs if re.search(r"pip install .*-r requirements\.lock", rest)]
    assert lock_install, "the Dockerfile must `pip install -r requirements.lock`"
    copy_lock = [i for i, (op, rest) in enumerate(steps) if op == "COPY" and "requirements.lock" in rest]
    assert copy_lock and copy_lock[0] < lock_install[0], "requirements.lock must be copied before installing it"
    project_install = [i for i, rest in runs if re.search(r"pip install .*--no-deps", rest)]
    assert project_install and project_install[0] > lock_install[0], (
        "the project should be installed with --no-deps after the locked dependencies"
    )
    envs = " ".join(rest for op, rest in steps if op == "ENV")
    assert f"DAGSTER_HOME={DAGSTER_HOME}" in envs, "DAGSTER_HOME must be /opt/dagster/dagster_home"
    assert {"dagster.yaml", "workspace.yaml"} <= copied_into_dagster_home(), copied_into_dagster_home()


def test_dockerignore_keeps_local_state_out():
    entries = {line.strip().rstrip("/") for line in DOCKERIGNORE.read_text().splitlines()}
    for needed in (".venv", "data", ".git", ".env"):
        assert needed in entries, f".dockerignore should exclude {needed}"
    assert any("__pycache__" in e for e in entries), ".dockerignore should exclude __pycache__"


def test_local_dagster_yaml_is_a_valid_instance(tmp_path):
    """scripts/run.sh copies deploy/dagster.local.yaml into DAGSTER_HOME: Dagster must accept it."""
    import shutil

    from dagster._core.instance import DagsterInstance
    from dagster._core.instance.config import dagster_instance_config
    from dagster._core.run_coordinator import QueuedRunCoordinator

    shutil.copy(REPO_ROOT / "deploy" / "dagster.local.yaml", tmp_path / "dagster.yaml")
    dagster_instance_config(str(tmp_path))
    with DagsterInstance.from_config(str(tmp_path)) as instance:
        assert isinstance(instance.run_coordinator, QueuedRunCoordinator)
        assert instance.get_concurrency_config().run_queue_config.max_concurrent_runs == 2
