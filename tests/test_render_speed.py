"""Faster pages that read exactly as before (issue 10: the data page and the public page).

Translations are bound once per render (``i18n.template_i18n``) instead of
looked up on every call; the public purposes page's own part is rendered once per language
and configuration and served from a cache, with the host's layout rendered around it every
time. Both must be invisible to a reader: same words, same dates, nobody else's layout.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import flask_babel
import pytest
from flask import render_template_string

from flask_ome_privacy.i18n import template_i18n
from flask_ome_privacy.views import common
from flask_ome_privacy.views.common import fragment_cache

PUBLIC = "/privacy/purposes"
ALICE = "alice@example.com"
CSRF = re.compile(r'(name="csrf_token" value=")[^"]+(")')


def without_tokens(html: str) -> str:
    return CSRF.sub(r"\1…\2", html)


# --- the per-render helpers say exactly what Flask-Babel says --------------------------------


@pytest.mark.parametrize("language", ["ja", "en"])
def test_the_bound_helpers_render_the_same_text_as_flask_babel(app: Any, language: str) -> None:
    source = (
        '{{ _("Your data") }}|{{ _("Signed in as %(name)s", name=who) }}|'
        '{{ ngettext("%(num)d item", "%(num)d items", 1) }}|'
        '{{ ngettext("%(num)d item", "%(num)d items", 3) }}|'
        '{{ gettext("Privacy") }}|{{ _("100%% sure") }}|{{ tr(label) }}|{{ tr(none) }}'
    )
    values = {"who": "<b>Mallory</b> & co", "label": "Email address", "none": None}
    with app.test_request_context("/", headers={"Accept-Language": language}):
        babel_output = render_template_string(
            source, tr=lambda v: "" if v is None else flask_babel.gettext(v), **values
        )
        ours = render_template_string(source, **{**values, **template_i18n()})
    assert ours == babel_output
    assert "&lt;b&gt;Mallory&lt;/b&gt; &amp; co" in ours  # values are still escaped
    if language == "ja":
        assert "あなたのデータ" in ours or "データ" in ours


@pytest.mark.parametrize("language", ["ja", "en"])
def test_the_data_page_reads_exactly_as_with_flask_babels_own_lookups(
    seeded_app: Any, login: Callable[..., Any], monkeypatch: pytest.MonkeyPatch, language: str
) -> None:
    client = seeded_app.test_client()
    login(client, ALICE)
    headers = {"Accept-Language": language}
    slow_renders: list[str] = []
    for url in ("/account/privacy/data", "/account/privacy/", "/account/privacy/sns"):
        fast = client.get(url, headers=headers)
        with monkeypatch.context() as patch:
            original = common.template_context

            def babel_only(
                original: Callable[[], dict[str, Any]] = original, url: str = url
            ) -> dict[str, Any]:
                context = original()
                for name in ("_", "gettext", "ngettext"):
                    context.pop(name)
                context["tr"] = common.translate
                slow_renders.append(url)
                return context

            patch.setattr(common, "template_context", babel_only)
            # The blueprint holds the function itself: swap it in the registered processors too.
            processors = seeded_app.template_context_processors
            for key, functions in processors.items():
                patch.setitem(processors, key, [babel_only if f is original else f for f in functions])
            slow = client.get(url, headers=headers)
        assert fast.status_code == slow.status_code == 200
        assert slow_renders[-1:] == [url]  # the second render really went through Flask-Babel's own
        assert without_tokens(fast.get_data(as_text=True)) == without_tokens(slow.get_data(as_text=True)), url


# --- the public page's render cache ----------------------------------------------------------


def test_the_public_page_is_rendered_once_per_language_and_served_again(app: Any) -> None:
    cache = fragment_cache(app)
    hits, misses = cache.hits, cache.misses
    client = app.test_client()
    first = client.get(PUBLIC, headers={"Accept-Language": "ja"})
    again = client.get(PUBLIC, headers={"Accept-Language": "ja"})
    english = client.get(PUBLIC, headers={"Accept-Language": "en"})
    assert first.status_code == again.status_code == english.status_code == 200
    assert without_tokens(first.get_data(as_text=True)) == without_tokens(again.get_data(as_text=True))
    assert (cache.misses - misses, cache.hits - hits) == (2, 1)  # ja rendered, ja served, en rendered
    assert "利用目的" in first.get_data(as_text=True)
    english_html = english.get_data(as_text=True)
    assert "Purposes of use of personal information" in english_html
    assert "利用目的" not in english_html  # never the Japanese fragment for an English reader


def test_a_changed_setting_shows_at_once(app: Any) -> None:
    client = app.test_client()
    assert "1,000" in client.get(PUBLIC, headers={"Accept-Language": "en"}).get_data(as_text=True)
    app.config["OME_PRIVACY_FEE_YEN"] = 1500
    page = client.get(PUBLIC, headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "1,500 yen" in page


def test_nobody_gets_someone_elses_layout(seeded_app: Any, login: Callable[..., Any]) -> None:
    alice = seeded_app.test_client()
    login(alice, ALICE)
    hers = alice.get(PUBLIC, headers={"Accept-Language": "en"}).get_data(as_text=True)
    anonymous = seeded_app.test_client().get(PUBLIC, headers={"Accept-Language": "en"}).get_data(as_text=True)
    again = alice.get(PUBLIC, headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "Signed in as" in hers and "Signed in as" in again
    assert "Signed in as" not in anonymous
    assert "Sign in" in anonymous
    token = re.compile(r'name="csrf_token" value="([^"]+)"')
    assert set(token.findall(hers)).isdisjoint(token.findall(anonymous))


def test_a_flashed_message_shows_only_to_its_owner(app: Any) -> None:
    """The layout's flashed messages sit outside the cached part."""
    owner, other = app.test_client(), app.test_client()
    other.get(PUBLIC, headers={"Accept-Language": "en"})  # the page is in the cache now
    with owner.session_transaction() as session:
        session["_flashes"] = [("message", "Your language was changed.")]
    assert "Your language was changed." in owner.get(PUBLIC, headers={"Accept-Language": "en"}).get_data(
        as_text=True
    )
    assert "Your language was changed." not in other.get(PUBLIC, headers={"Accept-Language": "en"}).get_data(
        as_text=True
    )


@pytest.mark.parametrize("language", ["ja", "en"])
def test_the_bound_date_helpers_say_exactly_what_format_day_and_format_moment_say(
    app: Any, language: str
) -> None:
    """``MomentFormatter`` (bound once per render) against Flask-Babel's per-call lookups: aware,
    naive (read as UTC) and zone-crossing times, plain dates, the same value twice."""
    from datetime import date, datetime, timedelta, timezone

    values = [
        datetime(2026, 9, 15, 5, 30, tzinfo=timezone.utc),
        datetime(2026, 12, 31, 20, 15, tzinfo=timezone.utc),  # already the next day in Japan
        datetime(2026, 3, 1, 9, 0),  # naive: UTC
        datetime(2026, 6, 1, 12, 0, tzinfo=timezone(timedelta(hours=-7))),
    ]
    with app.test_request_context("/", headers={"Accept-Language": language}):
        moments = common.MomentFormatter()
        for value in values + values[:1]:
            assert moments.moment(value) == common.format_moment(value)
            assert moments.day(value) == common.format_day(value)
        assert moments.day(date(2026, 9, 15)) == common.format_day(date(2026, 9, 15))
        assert moments.zone_name == common.timezone_name()


def test_the_cached_public_page_is_the_same_bytes_on_repeat_and_per_language(app: Any) -> None:
    """Two visitors: the same page, byte for byte, but for the layout's own CSRF token."""
    first = app.test_client().get(PUBLIC, headers={"Accept-Language": "ja"})
    again = app.test_client().get(PUBLIC, headers={"Accept-Language": "ja"})
    english = app.test_client().get(PUBLIC, headers={"Accept-Language": "en"})
    assert first.status_code == again.status_code == english.status_code == 200
    assert without_tokens(first.get_data(as_text=True)) == without_tokens(again.get_data(as_text=True))
    assert without_tokens(english.get_data(as_text=True)) != without_tokens(first.get_data(as_text=True))
    assert english.headers["ETag"] != first.headers["ETag"]


def test_a_purpose_added_at_run_time_shows_at_once_on_the_cached_page(app: Any) -> None:
    """The cache is keyed by the purposes register too: a host that adds (or rewords) a purpose
    after start-up publishes it on the next request, not when the cache happens to expire."""
    from flask_ome_privacy.purposes import Purpose
    from flask_ome_privacy.state import get_state

    client = app.test_client()
    before = client.get(PUBLIC, headers={"Accept-Language": "en"})
    assert "Sending you a bench newsletter" not in before.get_data(as_text=True)
    get_state(app).purposes.add_purpose(
        Purpose("user_info.bench_newsletter", "user_info", "Sending you a bench newsletter", additional=True)
    )
    after = client.get(PUBLIC, headers={"Accept-Language": "en"})
    assert "Sending you a bench newsletter" in after.get_data(as_text=True)
    assert after.headers["ETag"] != before.headers["ETag"]


def test_a_changed_setting_changes_the_etag_and_a_revisit_still_ends_in_304(app: Any) -> None:
    client = app.test_client()
    first = client.get(PUBLIC, headers={"Accept-Language": "en"})
    etag = first.headers["ETag"]
    repeat = client.get(PUBLIC, headers={"Accept-Language": "en", "If-None-Match": etag})
    assert repeat.status_code == 304 and repeat.data == b""  # served from the cache, still conditional
    app.config["OME_PRIVACY_FEE_YEN"] = 1500
    changed = client.get(PUBLIC, headers={"Accept-Language": "en", "If-None-Match": etag})
    assert changed.status_code == 200 and "1,500 yen" in changed.get_data(as_text=True)
    assert changed.headers["ETag"] != etag


@pytest.mark.parametrize("script_root", ["", "/privacy-site"])
def test_a_url_pattern_builds_exactly_what_url_for_builds(app: Any, script_root: str) -> None:
    """The queue's per-row links (``url_pattern``): the same URL as ``url_for`` for every value,
    under a script root too, including values that need quoting and rules the marker cannot fill."""
    from flask import url_for

    with app.test_request_context("/", base_url=f"http://localhost{script_root}/"):
        claim = common.url_pattern("ome_privacy_staff.claim", "reference")
        for value in ["R-2026-ABCD", "lower_case.9~", "with space", "スラッシュ/と日本語", "%41"]:
            assert claim(value) == url_for("ome_privacy_staff.claim", reference=value), value
        assert claim("R-1").startswith(f"{script_root}/admin/privacy/requests/R-1")
        retry = common.url_pattern("ome_privacy_staff.retry_job", "job_id", reference="R-1")  # an int rule
        assert retry(7) == url_for("ome_privacy_staff.retry_job", reference="R-1", job_id=7)
