"""Japanese and English pages, and templates the host can override one by one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from privacy_host import MakeHost


def test_public_page_defaults_to_japanese(make_host: MakeHost) -> None:
    app = make_host().app
    page = app.test_client().get("/privacy/purposes").get_data(as_text=True)
    assert '<html lang="ja">' in page
    assert "個人情報の利用目的" in page
    assert "Facebook等のSNSを通じて提供された個人情報" in page


def test_accept_language_english_gives_english(make_host: MakeHost) -> None:
    app = make_host().app
    page = app.test_client().get("/privacy/purposes", headers={"Accept-Language": "en-GB,en;q=0.8"})
    text = page.get_data(as_text=True)
    assert "Purposes of use of personal information" in text
    assert "Personal information provided through SNS such as Facebook" in text
    assert "個人情報の利用目的" not in text


def test_hosts_locale_choice_wins_over_the_browser(make_host: MakeHost) -> None:
    app = make_host(callbacks={"locale_loader": lambda: "en"}).app
    text = (
        app.test_client().get("/privacy/purposes", headers={"Accept-Language": "ja"}).get_data(as_text=True)
    )
    assert "Purposes of use of personal information" in text


def test_host_that_uses_flask_babel_keeps_its_own_catalog_and_gets_ours(app: Any, client: Any) -> None:
    # The example site initialises Flask-Babel itself before the extension.
    assert "babel" in app.extensions
    text = client.get("/privacy/purposes", headers={"Accept-Language": "ja"}).get_data(as_text=True)
    assert "個人情報の利用目的" in text


def test_a_host_template_overrides_one_page(make_host: MakeHost, tmp_path: Path) -> None:
    page = tmp_path / "ome_privacy" / "public"
    page.mkdir(parents=True)
    (page / "purposes.html").write_text(
        '{% extends "ome_privacy/base.html" %}{% block privacy_content %}<h1>Our own purposes page</h1>'
        "{% endblock %}",
        encoding="utf-8",
    )
    app = make_host(members=["1"], template_folder=str(tmp_path)).app
    client = app.test_client()
    text = client.get("/privacy/purposes").get_data(as_text=True)
    assert "Our own purposes page" in text
    # Pages the host did not override still come from the package.
    client.get("/_test/sign-in/1")
    assert "お客様のプライバシー" in client.get("/account/privacy/").get_data(as_text=True)


def test_pages_extend_the_hosts_layout(make_host: MakeHost, tmp_path: Path) -> None:
    (tmp_path / "site_base.html").write_text(
        "<!doctype html><html><head><title>{% block title %}{% endblock %}</title></head>"
        "<body><header>HOST HEADER</header>{% block content %}{% endblock %}</body></html>",
        encoding="utf-8",
    )
    app = make_host(template_folder=str(tmp_path), OME_PRIVACY_BASE_TEMPLATE="site_base.html").app
    text = app.test_client().get("/privacy/purposes").get_data(as_text=True)
    assert "HOST HEADER" in text
    assert "個人情報の利用目的" in text
