"""The resources are configured by their fields: secrets are ``dg.EnvVar`` in the definitions (empty when
unset), never in a repr, a log line or metadata; tests pass resources instead of changing the environment."""

from typing import Any

import dagster as dg
import pytest

from stock_insights.defs.dart.resources import DartResource, dart_resource
from stock_insights.defs.news.resources import NaverResource, RedditResource, naver_resource, reddit_resource
from stock_insights.defs.resources import (
    DatabaseResource,
    EmbeddingsResource,
    KisResource,
    database_resource,
    embeddings_resource,
    kis_resource,
)
from stock_insights.settings import Settings

SECRETS = {"KIS_APP_KEY": "PSkis-key-never-shown", "KIS_APP_SECRET": "kis-secret-never-shown",
           "DART_API_KEY": "dart-key-never-shown", "NAVER_CLIENT_ID": "naver-id-never-shown",
           "NAVER_CLIENT_SECRET": "naver-secret-never-shown", "REDDIT_CLIENT_ID": "reddit-id-never-shown",
           "REDDIT_CLIENT_SECRET": "reddit-secret-never-shown", "OPENAI_API_KEY": "sk-openai-never-shown"}


def _wired(settings: Settings) -> dict[str, dg.ConfigurableResource]:
    database = database_resource(settings)
    return {"database": database, "kis": kis_resource(settings, database), "dart": dart_resource(settings),
            "naver": naver_resource(settings), "reddit": reddit_resource(settings),
            "embeddings": embeddings_resource(settings)}


def test_set_secrets_are_env_vars_and_plain_settings_are_values() -> None:
    wired = _wired(Settings(_env_file=None, **SECRETS, NAVER_BASE_URL="http://naver.test/v1/"))  # type: ignore[call-arg]
    kis, naver, reddit = wired["kis"], wired["naver"], wired["reddit"]
    assert isinstance(kis, KisResource) and isinstance(naver, NaverResource) and isinstance(reddit, RedditResource)
    for value, name in [(kis.app_key, "KIS_APP_KEY"), (kis.app_secret, "KIS_APP_SECRET"),
                        (naver.client_id, "NAVER_CLIENT_ID"), (reddit.client_secret, "REDDIT_CLIENT_SECRET"),
                        (wired["dart"].api_key, "DART_API_KEY"),  # type: ignore[attr-defined]
                        (wired["embeddings"].openai_api_key, "OPENAI_API_KEY")]:  # type: ignore[attr-defined]
        assert isinstance(value, dg.EnvVar) and value == name  # the UI shows the name only
    assert naver.base_url == "http://naver.test"  # the settings' normalised value, as a plain field
    assert kis.rate_limit_per_sec == 20.0 and reddit.subreddit_names == ["korea", "stocks", "investing"]


def test_unset_secrets_are_empty_and_the_definitions_run_without_any_variable() -> None:
    wired = _wired(Settings(_env_file=None))  # type: ignore[call-arg]
    reddit, kis = wired["reddit"], wired["kis"]
    assert (reddit.client_id, reddit.client_secret, kis.app_key) == ("", "", "")  # type: ignore[attr-defined]
    assert wired["database"].url == Settings(_env_file=None).DATABASE_URL  # type: ignore[attr-defined,call-arg]

    @dg.asset
    def probe(reddit: RedditResource) -> bool:
        return reddit.configured

    # dg.EnvVar of an unset variable would fail the run here; an empty secret does not.
    result = dg.materialize([probe], resources={"reddit": reddit})
    assert result.success and result.output_for_node("probe") is False


def test_an_env_var_secret_is_read_at_execution_and_shown_nowhere(monkeypatch: pytest.MonkeyPatch) -> None:
    # What the definitions hold in production: the variable's name, resolved in the run.
    monkeypatch.setenv("NAVER_CLIENT_SECRET", SECRETS["NAVER_CLIENT_SECRET"])
    naver = NaverResource(client_id="naver-id-never-shown", client_secret=dg.EnvVar("NAVER_CLIENT_SECRET"))
    dart = DartResource(api_key="dart-key-never-shown")

    @dg.asset
    def probe(context: dg.AssetExecutionContext, naver: NaverResource, dart: DartResource) -> dg.MaterializeResult:
        assert naver.client_secret == SECRETS["NAVER_CLIENT_SECRET"]
        context.log.info(f"resources: {naver!r} {dart!r} {naver} {dart}")
        return dg.MaterializeResult(metadata={"naver": repr(naver), "dart": str(dart)})

    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize([probe], resources={"naver": naver, "dart": dart}, instance=instance)
    assert result.success
    shown = " ".join(str(e) for e in instance.all_logs(result.run_id))
    shown += repr(naver) + str(naver) + repr(dart)
    assert "resources: NaverResource(" in shown
    for secret in ("naver-id-never-shown", SECRETS["NAVER_CLIENT_SECRET"], "dart-key-never-shown"):
        assert secret not in shown


@pytest.mark.parametrize("resource", [KisResource, NaverResource, RedditResource, DartResource, EmbeddingsResource,
                                      DatabaseResource])
def test_secret_fields_are_marked_secret_for_the_ui(resource: Any) -> None:
    secret_fields = {name for name, f in resource.model_fields.items() if f.repr is False}
    assert secret_fields
    assert all(resource.model_fields[name].json_schema_extra == {"dagster__is_secret": True} for name in secret_fields)


def test_a_test_passes_resources_not_the_environment(sandbox: Any, database_url: str, tmp_path: Any) -> None:
    """universe/stocks from the sandbox with nothing in the environment pointing at it."""
    from stock_insights_tests.conftest import sandbox_resources
    from stock_insights_tests.test_slice_end_to_end import materialize

    resources = sandbox_resources(sandbox.url, database_url, tmp_path)
    result = materialize([["universe", "stocks"]], resources=resources)
    assert result.success
    metadata = result.asset_materializations_for_node("universe__stocks")[0].metadata
    assert metadata["dagster/row_count"].value > 0
