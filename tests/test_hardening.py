"""What a security probe found on the package's pages (issue 7, items 7, 9 and 12), each fixed:

* clickjacking: every privacy page sends a Content-Security-Policy with ``frame-ancestors
  'none'``, ``X-Frame-Options: DENY``, nosniff and a Referrer-Policy, and needs no inline
  script or style to pass that policy; a host's own headers win;
* out-of-range ids are 404, and a 50 MB form body is refused (413) before it is parsed;
* ``confirm=0`` is not a ticked box; an anonymous POST to a POST-only URL comes back, after
  signing in, to the page the form was on.

The route-wide versions of these checks (every route, every role) are in test_route_wide.py.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from helpers import extract_csrf_token
from privacy_host import ChirpSource, Host, MakeHost, NotesSource

from flask_ome_privacy.config import DEFAULT_CONFIG

EXPECTED_HEADERS = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}
PAGES = [
    "/account/privacy/",
    "/account/privacy/data",
    "/account/privacy/data/export",
    "/account/privacy/purposes",
    "/account/privacy/sns",
    "/account/privacy/sns/chirp/withdraw",
    "/account/privacy/notifications",
    "/privacy/purposes",
]


@pytest.fixture
def host(make_host: MakeHost) -> Host:
    host = make_host(sources=[NotesSource(), ChirpSource()], login_view="sign_in_page", members=["1"])
    host.link_sns("1", "chirp", [("handle", "@one")])
    return host


def csp_directives(value: str) -> dict[str, list[str]]:
    parts = (part.split() for part in value.split(";") if part.strip())
    return {words[0]: words[1:] for words in parts}


# --- item 7: headers -------------------------------------------------------------------------------


@pytest.mark.parametrize("url", PAGES)
def test_no_other_site_can_frame_a_privacy_page(host, url):
    response = host.client_for("1").get(url)
    assert response.status_code == 200, url
    for name, value in EXPECTED_HEADERS.items():
        assert response.headers.get(name) == value, (url, name)
    csp = csp_directives(response.headers["Content-Security-Policy"])
    assert csp["frame-ancestors"] == ["'none'"]
    assert csp["script-src"] == ["'self'"] and csp["style-src"] == ["'self'"]  # no 'unsafe-inline'
    assert csp["object-src"] == ["'none'"]


@pytest.mark.parametrize("url", PAGES)
def test_the_pages_need_no_inline_script_or_style_to_pass_the_policy(host, url):
    html = host.client_for("1").get(url).get_data(as_text=True)
    assert not re.search(r"<script(?![^>]*\bsrc=)", html, re.I), url
    assert not re.search(r"<style\b", html, re.I), url
    assert not re.search(r"\sstyle\s*=", html, re.I), url
    assert not re.search(r"\son[a-z]+\s*=", html, re.I), url  # onclick=... is inline script too


def test_error_pages_and_our_stylesheet_carry_the_headers_too(host):
    client = host.client_for("1")
    for response in (
        client.get("/account/privacy/sns/nope/withdraw"),
        client.get("/account/privacy/sns/withdrawals/SNS-XXXX-XXXX"),
        client.get("/_ome_privacy/static/privacy.css"),
    ):
        assert response.headers.get("X-Frame-Options") == "DENY", response.request.path
        assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]


def test_a_host_with_its_own_policy_keeps_it(make_host):
    host = make_host(members=["1"])

    @host.app.after_request
    def talisman_like(response: Any) -> Any:  # what Flask-Talisman does: set, not setdefault
        response.headers["Content-Security-Policy"] = "default-src 'self' https://cdn.example"
        return response

    response = host.client_for("1").get("/account/privacy/")
    assert response.headers["Content-Security-Policy"] == "default-src 'self' https://cdn.example"
    assert response.headers["X-Frame-Options"] == "DENY"


def test_the_headers_are_configurable_and_can_be_left_to_the_host(make_host):
    own = make_host(members=["1"], OME_PRIVACY_SECURITY_HEADERS={"X-Frame-Options": "SAMEORIGIN"})
    response = own.client_for("1").get("/account/privacy/")
    assert response.headers["X-Frame-Options"] == "SAMEORIGIN"
    assert "Content-Security-Policy" not in response.headers
    none = make_host(members=["1"], OME_PRIVACY_SECURITY_HEADERS={})
    response = none.client_for("1").get("/account/privacy/")
    assert "X-Frame-Options" not in response.headers


def test_a_host_can_send_the_same_headers_on_its_own_pages(make_host):
    host = make_host(members=["1"])
    host.app.after_request(host.privacy.security_headers)
    response = host.app.test_client().get("/sign-in")
    assert response.headers["X-Frame-Options"] == "DENY"
    expected = DEFAULT_CONFIG["SECURITY_HEADERS"]["Content-Security-Policy"]
    assert response.headers["Content-Security-Policy"] == expected


def test_the_example_sites_own_pages_send_them(client):
    for url in ("/", "/login"):
        response = client.get(url)
        assert response.headers.get("X-Frame-Options") == "DENY", url
        assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"], url


# --- item 9: out-of-range ids, oversized bodies ----------------------------------------------------------


@pytest.mark.parametrize("number", [2**64, 2**63, 2**31, 10**30, 0])
def test_a_notification_id_no_database_can_hold_is_not_found(host, number):
    client = host.client_for("1")
    token = client.get("/_test/csrf").get_data(as_text=True)
    response = client.post(f"/account/privacy/notifications/{number}/read", data={"csrf_token": token})
    assert response.status_code == 404


def test_a_negative_notification_id_is_not_found(host):
    client = host.client_for("1")
    token = client.get("/_test/csrf").get_data(as_text=True)
    response = client.post("/account/privacy/notifications/-1/read", data={"csrf_token": token})
    assert response.status_code == 404


def test_a_50_mb_form_body_is_refused_before_it_is_parsed(host):
    client = host.client_for("1")
    token = client.get("/_test/csrf").get_data(as_text=True)
    body = b"csrf_token=" + token.encode() + b"&pad=" + b"x" * (50 * 1024 * 1024)
    response = client.post(
        "/account/privacy/notifications/read-all",
        data=body,
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 413


def test_the_body_limit_is_the_upload_limit_plus_room_for_the_form(make_host):
    default = make_host()
    limit = default.app.config["MAX_CONTENT_LENGTH"]
    assert DEFAULT_CONFIG["MAX_UPLOAD_BYTES"] < limit <= DEFAULT_CONFIG["MAX_UPLOAD_BYTES"] + 2 * 1024 * 1024
    own = make_host(MAX_CONTENT_LENGTH=12345)
    assert own.app.config["MAX_CONTENT_LENGTH"] == 12345  # the host's own choice stays


# --- item 12: a real tick, and coming back to the form after signing in --------------------------------


@pytest.mark.parametrize("value", ["0", "off", "no", "false", ""])
def test_only_a_ticked_box_confirms_a_withdrawal(host, value):
    client = host.client_for("1")
    token = extract_csrf_token(client.get("/account/privacy/sns/chirp/withdraw").get_data(as_text=True))
    response = client.post(
        "/account/privacy/sns/chirp/withdraw",
        data={"csrf_token": token, "confirm": value},
        headers={"Accept-Language": "en"},
    )
    assert response.status_code == 400
    assert "Please tick the box to confirm." in response.get_data(as_text=True)
    assert host.sns_rows("1", "chirp") == (1, 1)


def next_of(response: Any) -> str:
    assert response.status_code in (302, 303), response.status_code
    location = urlsplit(response.headers["Location"])
    assert location.path == "/sign-in"
    return parse_qs(location.query)["next"][0]


def test_an_anonymous_post_comes_back_to_the_page_the_form_was_on(host):
    anonymous = host.app.test_client()
    response = anonymous.post(
        "/account/privacy/notifications/read-all",
        headers={"Referer": "http://localhost/account/privacy/notifications?page=2"},
    )
    target = next_of(response)
    assert target == "/account/privacy/notifications?page=2"
    assert host.client_for("1").get(target).status_code == 200  # not the 405 of a POST-only URL


def test_a_foreign_or_missing_referer_falls_back_to_the_privacy_center(host):
    anonymous = host.app.test_client()
    for headers in (
        {"Referer": "https://evil.example/account/privacy/notifications"},
        {"Referer": "http://localhost//evil.example/account"},  # a path that reads as another host
        {},
    ):
        response = anonymous.post("/account/privacy/notifications/read-all", headers=headers)
        assert next_of(response) == "/account/privacy/"


def test_an_anonymous_get_still_comes_back_to_the_page_itself(host):
    response = host.app.test_client().get("/account/privacy/data")
    assert next_of(response).endswith("/account/privacy/data")
