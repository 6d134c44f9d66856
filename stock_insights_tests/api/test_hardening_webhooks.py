"""Hardening of webhooks against server-side request forgery (issue "Hardening", defect 1).

A user-chosen URL must not make the server post to loopback, private, link-local or metadata addresses:
refused when set (422 problem) and again at delivery after resolving the name, with the connection going to
the address that was checked (no second DNS answer, no redirect). Local receivers are admitted only through
the operator's allow-list, as ``WEBHOOK_ALLOWED_HOSTS`` does."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from stock_insights.alerts.destinations import DestinationPolicy, RefusedDestination
from stock_insights.alerts.webhook import DeliveryPolicy, WebhookSender
from stock_insights.settings import reset_settings_cache
from stock_insights_tests.alerts.conftest import Receiver
from stock_insights_tests.api.helpers import Api, make_user
from stock_insights_tests.conftest import ServerThread

PROBLEM = "application/problem+json"
SECRET = "/services/T0001/B0001/s3cr3tW3bh00kT0k3n"


@pytest.fixture
def hook() -> Iterator[Receiver]:
    """A webhook receiver on loopback, *without* the allow-list (unlike the alerts tests' fixture)."""
    receiver = Receiver()
    with ServerThread(receiver.app()) as server:
        receiver.url = server.url
        yield receiver


REFUSED = [
    "http://169.254.169.254/latest/meta-data/",  # the probe
    "https://169.254.169.254/latest/meta-data/",
    "https://[fd00:ec2::254]/latest/meta-data/",  # AWS's IPv6 metadata address
    "https://100.100.100.200/latest/meta-data/",  # Alibaba's (shared address space)
    "https://metadata.google.internal/computeMetadata/v1/",
    "https://127.0.0.1:8000/api/v1/users",
    "https://127.1/x",
    "https://2130706433/x",
    "https://0x7f000001/x",
    "https://[::1]/x",
    "https://[::ffff:127.0.0.1]/x",
    "https://[::ffff:a9fe:a9fe]/x",
    "https://[64:ff9b::a9fe:a9fe]/x",  # NAT64 of the metadata address
    "https://0.0.0.0/x",
    "https://10.1.2.3/x",
    "https://192.168.1.1/x",
    "https://172.16.0.1/x",
    "https://224.0.0.1/x",
    "https://localhost/x",
    "https://api.localhost/x",
    "https://intranet/x",
    "https://user:password@hooks.slack.com/services/x",
]


@pytest.mark.parametrize("url", REFUSED)
def test_internal_destinations_are_refused_when_set(api: Api, url: str) -> None:
    user = api.headers_for(make_user(api.url, "probe@example.com"), "user")
    answer = api.client.put("/api/v1/users/me/webhook", json={"url": url + SECRET}, headers=user)
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"] == PROBLEM
    errors = answer.json()["errors"]
    assert errors and errors[0]["loc"] == ["body", "url"]
    assert "s3cr3t" not in answer.text  # the refusal never echoes the secret path
    assert api.client.get("/api/v1/users/me", headers=user).json()["webhook_url"] is None


def test_https_is_required_outside_development(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    user = api.headers_for(make_user(api.url, "tls@example.com"), "user")
    put = api.client.put
    # The sandbox (DATA_MODE=simulated) is development: plain http to a public host is accepted.
    assert put("/api/v1/users/me/webhook", json={"url": "http://hooks.example.com/x"}, headers=user).status_code == 200
    monkeypatch.setenv("DATA_MODE", "live")
    reset_settings_cache()
    refused = put("/api/v1/users/me/webhook", json={"url": "http://hooks.example.com/x"}, headers=user)
    assert refused.status_code == 422 and "https" in refused.json()["errors"][0]["msg"]
    assert put("/api/v1/users/me/webhook", json={"url": "https://hooks.example.com/x"}, headers=user).status_code == 200


def test_the_operators_allow_list_admits_an_internal_host(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    user = api.headers_for(make_user(api.url, "relay@example.com"), "user")
    url = "http://127.0.0.1:8080/relay"
    assert api.client.put("/api/v1/users/me/webhook", json={"url": url}, headers=user).status_code == 422
    monkeypatch.setenv("WEBHOOK_ALLOWED_HOSTS", "relay.internal,127.0.0.1,10.20.0.0/16")
    monkeypatch.setenv("DATA_MODE", "live")  # allow-listed hosts may use http even in production
    reset_settings_cache()
    for allowed in (url, "http://relay.internal/x", "http://10.20.3.4/x"):
        answer = api.client.put("/api/v1/users/me/webhook", json={"url": allowed}, headers=user)
        assert answer.status_code == 200, answer.text
    refused = api.client.put("/api/v1/users/me/webhook", json={"url": "https://10.21.0.1/x"}, headers=user)
    assert refused.status_code == 422


class Resolver:
    """A DNS stand-in: the name's answers in turn (the last one repeats), every call recorded."""

    def __init__(self, *answers: list[str]) -> None:
        self.answers = list(answers)
        self.calls: list[str] = []

    def __call__(self, host: str, port: int, type: int = 0) -> list[tuple]:
        self.calls.append(host)
        addresses = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        out = []
        for address in addresses:
            family = socket.AF_INET6 if ":" in address else socket.AF_INET
            out.append((family, socket.SOCK_STREAM, 6, "", (address, port)))
        return out


def _sender(destinations: DestinationPolicy, attempts: int = 1) -> WebhookSender:
    return WebhookSender(
        DeliveryPolicy(max_attempts=attempts, backoff_seconds=0.0), sleep=lambda s: None, destinations=destinations
    )


def test_a_stored_internal_url_is_refused_at_delivery(hook: Receiver) -> None:
    policy = DestinationPolicy.from_entries([], allow_http=True)
    for url in (hook.url + SECRET, "http://169.254.169.254/latest/meta-data/"):
        result = _sender(policy, attempts=3).send(url, {"text": "hi"})
        assert (result.status, result.attempts) == ("failed", 0)
        assert result.last_error.startswith("destination refused") and "s3cr3t" not in result.last_error
    assert hook.requests == []


def test_a_name_that_resolves_to_a_private_address_is_refused(hook: Receiver) -> None:
    port = hook.url.rsplit(":", 1)[1]
    for answers in (["127.0.0.1"], ["93.184.216.34", "127.0.0.1"], ["::ffff:169.254.169.254"]):
        resolver = Resolver(answers)
        policy = DestinationPolicy(allow_http=True, resolver=resolver)
        result = _sender(policy).send(f"http://hooks.example.test:{port}{SECRET}", {"text": "hi"})
        assert result.status == "failed" and "resolves to" in (result.last_error or ""), answers
        assert resolver.calls == ["hooks.example.test"]
    assert hook.requests == []


def test_the_connection_goes_to_the_checked_address_so_rebinding_reaches_nothing(hook: Receiver) -> None:
    port = hook.url.rsplit(":", 1)[1]
    url = f"http://hooks.example.test:{port}{SECRET}"
    # The operator admits the loopback address (not the name); the name's second answer is a private one.
    resolver = Resolver(["127.0.0.1"], ["10.9.8.7"])
    policy = DestinationPolicy.from_entries(["127.0.0.1"], allow_http=False)
    policy = DestinationPolicy(policy.allowed_names, policy.allowed_networks, allow_http=True, resolver=resolver)
    first = _sender(policy).send(url, {"text": "one"})
    # hooks.example.test exists in no DNS: delivered means the client connected to the address we checked,
    # and the receiver saw the name in Host (what TLS would verify and SNI would carry).
    assert first.status == "delivered", first.last_error
    assert [r.headers["host"] for r in hook.requests] == [f"hooks.example.test:{port}"]
    assert [r.path for r in hook.requests] == [SECRET]
    second = _sender(policy).send(url, {"text": "two"})
    assert second.status == "failed" and "private address" in (second.last_error or "")
    assert len(hook.requests) == 1 and resolver.calls == ["hooks.example.test", "hooks.example.test"]


def test_unresolvable_names_are_retried_as_connection_errors() -> None:
    def no_such_name(host: str, port: int, type: int = 0) -> list[tuple]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    policy = DestinationPolicy(allow_http=False, resolver=no_such_name)
    result = _sender(policy, attempts=2).send("https://hooks.example.test/x", {"text": "hi"})
    assert (result.status, result.attempts) == ("failed", 2)
    assert result.last_error == "connection error (ConnectError)"


def test_the_policy_is_pure_and_explains_itself() -> None:
    policy = DestinationPolicy.from_entries([], allow_http=False)
    with pytest.raises(RefusedDestination, match="link-local"):
        policy.check_url("https://169.254.169.254/")
    with pytest.raises(RefusedDestination, match="https"):
        policy.check_url("http://hooks.slack.com/services/x")
    target = policy.check_url("https://Hooks.Slack.com./services/x")
    assert (target.host, target.port, target.address, target.allow_listed) == ("hooks.slack.com", 443, None, False)
