"""`/docs` and `/redoc` render in a real browser with no request leaving the machine.

The API runs over real HTTP on loopback; headless Chromium (Debian's `chromium`, installed by
scripts/setup_env.sh) loads each page through the Chrome DevTools Protocol. Every request that does not
go to loopback goes to a recording proxy that refuses it, so a page that needs a CDN or a web font both
fails to render and is named. The test waits for the rendered operations with a failure deadline only.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import shutil
import socketserver
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from websockets.sync.client import connect

from stock_insights_tests.api.helpers import set_api_env
from stock_insights_tests.conftest import ServerThread

DEADLINE = 90  # seconds: a failure deadline for Chromium to start and a page to render, not a measurement
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}
# Chromium's own background traffic (updates, sync, metrics) off: only what a page asks for remains.
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",  # the tests may run as root
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-default-apps",
    "--disable-domain-reliability",
    "--disable-sync",
    "--disable-extensions",
    "--disable-client-side-phishing-detection",
    "--no-pings",
    "--disable-features=NetworkTimeServiceQuerying,OptimizationHints,MediaRouter,Translate,AutofillServerCommunication",
    "--metrics-recording-only",
]
# What Chromium 156 itself still contacts with every flag above, on about:blank as on any page: its on-demand
# component check, network time and Google account services. Not the page's requests (those are checked one
# by one through DevTools): left out of the proxy's record, and nothing else is.
CHROMIUM_OWN_HOSTS = {"update.googleapis.com", "clients2.google.com", "accounts.google.com"}


class RecordingProxy(socketserver.ThreadingTCPServer):
    """An HTTP proxy on loopback that records each request line (CONNECT host:port, GET http://...) and
    refuses it: nothing it is asked for is ever fetched."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        self.requests: list[str] = []
        super().__init__(("127.0.0.1", 0), _RefuseHandler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _RefuseHandler(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        line = self.rfile.readline(8192).decode("latin-1").strip()
        target = line.split(" ")[1] if line.count(" ") >= 2 else line
        host = urlsplit(target if "://" in target else f"//{target}").hostname
        if line and host not in CHROMIUM_OWN_HOSTS:
            self.server.requests.append(line)  # type: ignore[attr-defined]
        self.wfile.write(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")


@pytest.fixture
def docs_api(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[ServerThread]:
    from api.main import create_app

    set_api_env(monkeypatch, f"sqlite:///{tmp_path / 'docs.db'}")
    with ServerThread(create_app()) as server:
        yield server


@pytest.fixture
def proxy() -> Iterator[RecordingProxy]:
    server = RecordingProxy()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


class Browser:
    """Headless Chromium driven over the DevTools Protocol (one page, flat messages)."""

    def __init__(self, proxy_url: str, profile: Path) -> None:
        binary = shutil.which("chromium") or shutil.which("chromium-browser")
        if binary is None:
            pytest.fail("chromium is not installed: scripts/setup_env.sh installs Debian's chromium package")
        self.process = subprocess.Popen(
            [
                binary,
                *CHROMIUM_FLAGS,
                f"--user-data-dir={profile}",
                # Every request except loopback (Chromium's implicit bypass) goes to the recording proxy.
                f"--proxy-server={proxy_url}",
                "--remote-debugging-port=0",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + DEADLINE
        while not (port_file.exists() and port_file.read_text().strip()):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.close()
                pytest.fail("chromium did not start its DevTools endpoint")
            time.sleep(0.1)
        port = int(port_file.read_text().split()[0])
        pages = [t for t in httpx.get(f"http://127.0.0.1:{port}/json/list", timeout=10).json() if t["type"] == "page"]
        self.stack = contextlib.ExitStack()
        self.ws = self.stack.enter_context(connect(pages[0]["webSocketDebuggerUrl"], max_size=None,
                                                   open_timeout=DEADLINE))
        self.ids = itertools.count(1)
        self.requests: list[str] = []  # every URL the page asked for
        self.blocked: list[str] = []  # ... of which the page's Content-Security-Policy stopped these (never sent)
        self.failures: list[str] = []
        self._urls: dict[str, str] = {}

    def _event(self, message: dict[str, Any]) -> None:
        method, params = message.get("method"), message.get("params", {})
        if method == "Network.requestWillBeSent":
            self.requests.append(params["request"]["url"])
            self._urls[params["requestId"]] = params["request"]["url"]
        elif method == "Network.loadingFailed":
            url = self._urls.get(params["requestId"], "?")
            if params.get("blockedReason") == "csp":
                self.blocked.append(url)
            else:
                self.failures.append(f"{params.get('errorText')} {url}")
        elif method == "Network.responseReceived" and params["response"]["status"] >= 400:
            self.failures.append(f"{params['response']['status']} {params['response']['url']}")

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        ident = next(self.ids)
        self.ws.send(json.dumps({"id": ident, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv(timeout=DEADLINE))
            if message.get("id") == ident:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            self._event(message)

    def evaluate(self, expression: str) -> Any:
        return self.call("Runtime.evaluate", expression=expression, returnByValue=True)["result"].get("value")

    def open(self, url: str, ready: str) -> None:
        """Load ``url`` and wait until the JavaScript expression ``ready`` is true (or fail at the deadline)."""
        self.call("Network.enable")
        self.call("Network.setCacheDisabled", cacheDisabled=True)
        self.call("Page.enable")
        self.call("Page.navigate", url=url)
        deadline = time.monotonic() + DEADLINE
        while not self.evaluate(ready):
            if time.monotonic() > deadline:
                html = self.evaluate("document.documentElement.outerHTML") or ""
                pytest.fail(f"{url} did not render; requests {self.requests}, failures {self.failures}\n{html[:2000]}")
            time.sleep(0.2)

    def close(self) -> None:
        if getattr(self, "stack", None) is not None:
            self.stack.close()
        if self.process.poll() is None:
            os.killpg(self.process.pid, 9)
        self.process.wait(timeout=30)


@pytest.fixture
def browser(proxy: RecordingProxy, tmp_path: Path) -> Iterator[Browser]:
    profile = tmp_path / "chromium-profile"
    profile.mkdir()
    chromium = Browser(proxy.url, profile)
    try:
        yield chromium
    finally:
        chromium.close()


def _operations(api_url: str) -> list[tuple[str, str]]:
    paths = httpx.get(f"{api_url}/openapi.json", timeout=30).json()["paths"]
    return [(method, path) for path, item in paths.items() for method in item]


def _only_loopback(api: ServerThread, browser: Browser, proxy: RecordingProxy) -> None:
    outside = [u for u in browser.requests if urlsplit(u).scheme in ("http", "https")
               and urlsplit(u).hostname not in LOCAL_HOSTS]
    # The only ones allowed are those the page's own policy refused before they were sent.
    assert sorted(outside) == sorted(browser.blocked), f"the page asked for {outside}"
    assert not proxy.requests, f"requests that tried to leave the machine: {proxy.requests}"
    assert not browser.failures, browser.failures
    assert any(u.startswith(f"{api.url}/openapi.json") for u in browser.requests), browser.requests


def test_swagger_ui_renders_every_operation_offline(
    docs_api: ServerThread, browser: Browser, proxy: RecordingProxy
) -> None:
    operations = _operations(docs_api.url)
    browser.open(f"{docs_api.url}/docs", f"document.querySelectorAll('.opblock').length >= {len(operations)}")
    shown = browser.evaluate(
        "Array.from(document.querySelectorAll('.opblock')).map(b => "
        "[b.querySelector('.opblock-summary-method').textContent.toLowerCase(),"
        " b.querySelector('.opblock-summary-path').getAttribute('data-path')])"
    )
    assert sorted(map(tuple, shown)) == sorted(operations)
    # The Authorize button of the OAuth2 password form is there (the way to sign in from /docs).
    assert browser.evaluate("!!document.querySelector('.btn.authorize')")
    _only_loopback(docs_api, browser, proxy)
    assert any("/docs-assets/" in u and u.endswith("swagger-ui-bundle.js") for u in browser.requests)
    assert not browser.blocked


def test_redoc_renders_every_operation_offline(docs_api: ServerThread, browser: Browser, proxy: RecordingProxy) -> None:
    operations = _operations(docs_api.url)
    count = "document.querySelectorAll('[data-section-id^=\"operation/\"]').length"
    browser.open(f"{docs_api.url}/redoc", f"{count} >= {len(operations)}")
    assert browser.evaluate(count) == len(operations)
    # No web font: ReDoc's default stylesheet link to Google Fonts is not on the page.
    assert not browser.evaluate("Array.from(document.querySelectorAll('link')).some(l => /fonts/.test(l.href))")
    _only_loopback(docs_api, browser, proxy)
    assert any("/docs-assets/" in u and u.endswith("redoc.standalone.js") for u in browser.requests)
    # ReDoc's "API docs by Redocly" logo is hard-wired to its CDN: refused by the page's policy, never fetched.
    assert browser.blocked == ["https://cdn.redoc.ly/redoc/logo-mini.svg"]
