"""Schemathesis against the app's own OpenAPI schema, over real HTTP, authenticated as an admin.

Every operation gets generated inputs, valid ones (positive) and invalid ones (negative): no answer
may be a 5xx, and every answer must match what the schema declares (status, content type, body
schema, headers). Bounded: a few dozen examples per operation, derandomized so a run is repeatable.
"""

from __future__ import annotations

import time

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from stock_insights_tests.api.helpers import make_user, seed, set_api_env
from stock_insights_tests.conftest import ServerThread

EXAMPLES = {GenerationMode.POSITIVE: 12, GenerationMode.NEGATIVE: 6}
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]
BUDGET_SECONDS = 60


def test_generated_requests_never_fail_and_match_the_schema(monkeypatch: pytest.MonkeyPatch, database_url: str) -> None:
    from api.main import create_app

    set_api_env(monkeypatch, database_url)
    app = create_app()
    started = time.monotonic()
    with ServerThread(app) as server:
        seed(database_url)
        admin_id = make_user(database_url, "admin@example.com", "admin")
        token = app.state.api.tokens.issue(admin_id, "admin", "").access_token
        headers = {"Authorization": f"Bearer {token}"}
        schema = schemathesis.openapi.from_dict(app.openapi())
        session = requests.Session()
        failures: list[str] = []
        statuses: dict[str, set[int]] = {}
        operations = [result.ok() for result in schema.get_all_operations()]
        # Logging out everywhere revokes the admin's token at once: that operation goes last.
        operations.sort(key=lambda operation: operation.label == "POST /api/v1/auth/logout-all")
        assert len(operations) >= 30

        for operation in operations:
            for mode, examples in EXAMPLES.items():
                strategy = operation.as_strategy(generation_mode=mode)

                @settings(
                    max_examples=examples,
                    deadline=None,
                    derandomize=True,
                    database=None,
                    phases=[Phase.explicit, Phase.generate],
                    suppress_health_check=list(HealthCheck),
                )
                @given(case=strategy)
                def run(case) -> None:  # type: ignore[no-untyped-def]
                    answer = case.call_and_validate(
                        base_url=server.url, session=session, headers=headers, checks=CHECKS
                    )
                    statuses.setdefault(case.operation.label, set()).add(answer.status_code)

                try:
                    run()
                except (KeyboardInterrupt, SystemExit):
                    raise
                except Unsatisfiable:
                    continue  # nothing to make invalid (no parameters, no body) in negative mode
                except BaseException as exc:  # every operation's failures, reported together (groups included)
                    failures.append(f"{operation.label} [{mode}]: {str(exc)[:3000]}")
    assert not failures, "\n\n".join(failures)
    # The admin token works: generated requests reach the handlers, not only the auth layer (random
    # codes and ids mostly answer 404, so not every operation sees a 2xx).
    turned_away = [label for label, seen in statuses.items() if not seen - {401, 403}]
    assert set(turned_away) <= {"POST /api/v1/auth/token", "POST /api/v1/auth/refresh"}, turned_away
    succeeded = [label for label, seen in statuses.items() if any(200 <= s < 300 for s in seen)]
    assert len(succeeded) >= len(operations) // 2, sorted(set(statuses) - set(succeeded))
    assert time.monotonic() - started < BUDGET_SECONDS * 2  # both modes, per backend
