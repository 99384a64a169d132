"""Clickjacking (issue 7, item 7), in a real browser: another site cannot frame the withdrawal
page, and the privacy pages work under their own Content-Security-Policy (no inline script or
style refused, the stylesheets applied).

The other site is a page on another port of 127.0.0.1 (another origin, yet the same site, so
the session cookie goes along: the worst case) with an iframe of the withdrawal page.
"""

from __future__ import annotations

import contextlib
import http.server
import threading
from collections.abc import Iterator
from typing import Any

try:
    from playwright.sync_api import expect
except ImportError:  # the harness's fixtures skip these tests then (fail them under CI=true)
    expect = None

ALICE = "alice@example.com"
WITHDRAW = "/account/privacy/sns/facebook/withdraw"
PAGES = (
    "/account/privacy/",
    "/account/privacy/data",
    "/account/privacy/data/export",
    "/account/privacy/purposes",
    "/account/privacy/sns",
    WITHDRAW,
    "/account/privacy/notifications",
    "/privacy/purposes",
    "/account",
    "/",
)


@contextlib.contextmanager
def other_origin(html: str) -> Iterator[str]:
    """A page served from another origin (another port on 127.0.0.1): the attacker's."""

    class Page(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # the name http.server calls
            body = html.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/prize"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()


def test_another_site_cannot_frame_the_withdrawal_page(
    page: Any, live_server: Any, browser_login: Any
) -> None:
    browser_login(page, ALICE)
    page.goto(WITHDRAW)
    expect(page.locator("form.omep-confirm")).to_have_count(1)  # alice herself sees the form

    attacker = f'<!doctype html><title>Win a prize</title><iframe src="{live_server(WITHDRAW)}"></iframe>'
    with other_origin(attacker) as prize:
        page.goto(prize)
        page.wait_for_timeout(500)
        frames = [frame for frame in page.frames if frame != page.main_frame]
        assert len(frames) == 1
        # Refused by the browser: nothing of the site inside, neither the form nor a sign-in page.
        assert frames[0].url.startswith("chrome-error://"), frames[0].url
        assert frames[0].locator("form.omep-confirm").count() == 0


def test_the_pages_keep_to_their_own_content_security_policy(
    page: Any, live_server: Any, browser_login: Any
) -> None:
    refused: list[str] = []
    page.on(
        "console",
        lambda message: refused.append(f"{page.url}: {message.text}")
        if "Content Security Policy" in message.text
        else None,
    )
    browser_login(page, ALICE)
    for path in PAGES:
        response = page.goto(path)
        assert response is not None and response.status == 200, path
        assert "frame-ancestors 'none'" in (response.header_value("content-security-policy") or ""), path
        # The stylesheets loaded under the policy: the layout is styled, not the browser default.
        margin = page.evaluate("getComputedStyle(document.body).margin")
        assert margin != "8px", f"{path}: no stylesheet applied"
    assert not refused, "\n".join(refused)
