"""No credential in the sandbox's log: `python -m stock_insights.sandbox` as scripts/run.sh starts it.

OpenDART takes its key in the query string (crtfc_key): uvicorn's access log wrote it into sandbox.log on
every call. The sandbox runs here as its own process writing to a log file, as in a run; every secret sent
to it (in a query string, a header or a body) is then looked for in that file.
"""

from __future__ import annotations

import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from stock_insights.sandbox.logs import mask_query
from stock_insights.settings import PROJECT_ROOT
from stock_insights_tests.conftest import free_port

DEADLINE = 60  # seconds: a failure deadline for the sandbox to answer, not a measurement


def test_mask_query_masks_only_credentials() -> None:
    assert mask_query("/api/list.json?crtfc_key=abc&bgn_de=20261204") == "/api/list.json?crtfc_key=***&bgn_de=20261204"
    assert mask_query("/r?access_token=t&api_key=k&appsecret=s&page=2") == (
        "/r?access_token=***&api_key=***&appsecret=***&page=2"
    )
    assert mask_query("/api/list.json?page_no=1") == "/api/list.json?page_no=1"
    assert mask_query("/plain") == "/plain"


@pytest.fixture
def sandbox_process(tmp_path: Path):  # type: ignore[no-untyped-def]
    port = free_port()
    log = tmp_path / "sandbox.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "stock_insights.sandbox", "--host", "127.0.0.1", "--port", str(port)],
            cwd=PROJECT_ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + DEADLINE
        while True:
            try:
                if httpx.get(f"{url}/_sandbox/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert process.poll() is None, log.read_text(errors="replace")
            assert time.monotonic() < deadline, log.read_text(errors="replace")
            time.sleep(0.2)
        yield url, log, process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)


def test_sandbox_log_holds_no_secret(sandbox_process) -> None:  # type: ignore[no-untyped-def]
    url, log, process = sandbox_process
    dart_key = secrets.token_hex(20)  # 40 characters, as OpenDART's
    kis_key, kis_secret = "PS" + secrets.token_hex(17), secrets.token_urlsafe(24)
    naver_id, naver_secret = secrets.token_hex(8), secrets.token_urlsafe(12)
    with httpx.Client(base_url=url, timeout=30) as client:
        client.get("/api/list.json", params={"crtfc_key": dart_key, "bgn_de": "20261204", "end_de": "20261204"})
        client.get("/api/fnlttSinglAcntAll.json", params={"crtfc_key": dart_key, "corp_code": "00126380",
                                                          "bsns_year": "2025", "reprt_code": "11011",
                                                          "fs_div": "CFS"})
        client.post("/oauth2/tokenP", json={"grant_type": "client_credentials", "appkey": kis_key,
                                            "appsecret": kis_secret})
        client.get("/v1/search/news.json", params={"query": "삼성전자"},
                   headers={"X-Naver-Client-Id": naver_id, "X-Naver-Client-Secret": naver_secret})
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=30)
    text = log.read_text(errors="replace")
    assert "GET /api/list.json?crtfc_key=***&bgn_de=20261204" in text, text  # the request is logged, masked
    leaked = [name for name, value in {"DART key": dart_key, "KIS app key": kis_key, "KIS app secret": kis_secret,
                                       "Naver client id": naver_id, "Naver client secret": naver_secret}.items()
              if value in text]
    assert not leaked, f"{leaked} in sandbox.log:\n{text}"
