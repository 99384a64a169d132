"""In-app notifications (issue 3, point 8), on the example WORLD OME NET site.

Notices are stored as message ids with parameters and written in the reader's language
when read; the list is newest first and paginated; marking read is a POST with CSRF.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
import sqlalchemy as sa
from helpers import extract_csrf_token

from flask_ome_privacy import N_, notify
from flask_ome_privacy.models import Notification
from flask_ome_privacy.signals import notification_created

LIST = "/account/privacy/notifications"


def user_by_email(db: Any, email: str) -> Any:
    from example_app.models import User

    return db.session.scalar(sa.select(User).where(User.email == email))


def leave(app: Any, db: Any, email: str, count: int = 1, **kwargs: Any) -> list[int]:
    """Leave ``count`` notifications for ``email``, one minute apart, the last one newest."""
    from example_app import privacy

    start = datetime(2026, 1, 1, 9, 0, tzinfo=timezone.utc)
    ids = []
    with app.app_context():
        user = user_by_email(db, email)
        for n in range(count):
            notification = privacy.notify(
                user,
                kwargs.get("kind", "test"),
                kwargs.get("subject", N_("Notice number %(n)s")),
                body=kwargs.get("body", ""),
                params=kwargs.get("params", {"n": n + 1}),
                link=kwargs.get("link"),
                commit=False,
            )
            notification.created_at = start + timedelta(minutes=n)
            ids.append(notification.id)
        db.session.commit()
    return ids


@pytest.fixture
def alice(seeded_app: Any, client: Any, login: Any) -> Any:
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    login(client, "alice@example.com")
    return client


def titles(html: str) -> list[str]:
    return re.findall(r"Notice number (\d+)", html)


def test_the_list_is_newest_first_with_unread_marked(seeded_app, db, alice):
    leave(seeded_app, db, "alice@example.com", 3)
    response = alice.get(LIST)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    html = response.get_data(as_text=True)
    assert titles(html) == ["3", "2", "1"]
    assert html.count(">Unread<") == 3
    assert "You have 3 unread notifications." in html


def test_only_the_readers_own_notifications_are_listed(seeded_app, db, alice):
    leave(seeded_app, db, "bob@example.com", 1, subject=N_("For bob %(n)s"))
    html = alice.get(LIST).get_data(as_text=True)
    assert "For bob" not in html
    assert "No notifications yet" in html


def test_a_notification_is_written_in_the_language_of_whoever_reads_it(seeded_app, db, alice):
    # message ids the Japanese catalog already translates
    leave(
        seeded_app,
        db,
        "alice@example.com",
        subject=N_("Your privacy"),
        body=N_("added %(date)s"),
        params={"date": "2026-01-02"},
    )
    english = alice.get(LIST).get_data(as_text=True)
    assert "Your privacy" in english and "added 2026-01-02" in english
    japanese = alice.get(LIST, headers={"Accept-Language": "ja"}).get_data(as_text=True)
    assert "お客様のプライバシー" in japanese and "2026-01-02追加" in japanese
    with seeded_app.app_context():
        stored = db.session.scalar(sa.select(Notification))
        assert (stored.subject, stored.body, stored.params) == (
            "Your privacy",
            "added %(date)s",
            {"date": "2026-01-02"},
        )


def test_a_long_list_is_paginated(seeded_app, db, alice):
    leave(seeded_app, db, "alice@example.com", 25)
    first = alice.get(LIST).get_data(as_text=True)
    assert titles(first) == [str(n) for n in range(25, 5, -1)]
    assert "Page 1 of 2" in first and 'rel="next"' in first
    second = alice.get(LIST + "?page=2").get_data(as_text=True)
    assert titles(second) == ["5", "4", "3", "2", "1"]
    assert 'rel="prev"' in second
    assert titles(alice.get(LIST + "?page=99").get_data(as_text=True)) == ["5", "4", "3", "2", "1"]
    assert alice.get(LIST + "?page=abc").status_code == 200


def test_marking_one_read_is_a_post_with_csrf(seeded_app, db, alice):
    first, second = leave(seeded_app, db, "alice@example.com", 2)
    token = extract_csrf_token(alice.get(LIST).get_data(as_text=True))
    assert alice.post(f"{LIST}/{first}/read").status_code == 400  # no token
    response = alice.post(f"{LIST}/{first}/read", data={"csrf_token": token})
    assert response.status_code == 303 and response.headers["Location"] == LIST
    html = alice.get(LIST).get_data(as_text=True)
    assert "You have 1 unread notification." in html
    assert f'action="{LIST}/{second}/read"' in html and f'action="{LIST}/{first}/read"' not in html
    with seeded_app.app_context():
        assert db.session.get(Notification, first).read_at is not None
        assert db.session.get(Notification, second).read_at is None
    # again: harmless
    assert alice.post(f"{LIST}/{first}/read", data={"csrf_token": token}).status_code == 303


def test_nobody_can_mark_someone_elses_notification(seeded_app, db, alice):
    (bobs,) = leave(seeded_app, db, "bob@example.com")
    token = extract_csrf_token(alice.get("/").get_data(as_text=True))
    assert alice.post(f"{LIST}/{bobs}/read", data={"csrf_token": token}).status_code == 404
    assert alice.post(f"{LIST}/999999/read", data={"csrf_token": token}).status_code == 404
    with seeded_app.app_context():
        assert db.session.get(Notification, bobs).read_at is None


def test_mark_all_read(seeded_app, db, alice):
    leave(seeded_app, db, "alice@example.com", 3)
    (bobs,) = leave(seeded_app, db, "bob@example.com")
    token = extract_csrf_token(alice.get(LIST).get_data(as_text=True))
    response = alice.post(f"{LIST}/read-all", data={"csrf_token": token, "page": "1"})
    assert response.status_code == 303
    html = alice.get(LIST).get_data(as_text=True)
    assert "3 notifications marked as read." in html
    assert "You have no unread notifications." in html and ">Unread<" not in html
    with seeded_app.app_context():
        assert db.session.get(Notification, bobs).read_at is None


def test_the_overview_counts_unread_notifications(seeded_app, db, alice):
    leave(seeded_app, db, "alice@example.com", 2)
    assert "2 unread notifications" in alice.get("/account/privacy/").get_data(as_text=True)
    with seeded_app.app_context():
        assert notify.unread_count(db.session, str(user_by_email(db, "alice@example.com").id)) == 2


def test_the_links_in_a_notification_are_followed(seeded_app, db, alice):
    leave(seeded_app, db, "alice@example.com", link="/account/privacy/sns")
    html = alice.get(LIST).get_data(as_text=True)
    assert '<a href="/account/privacy/sns">Notice number 1</a>' in html


def test_signed_out_visitors_are_sent_to_sign_in(seeded_app, client):
    response = client.get(LIST)
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_the_page_costs_the_same_queries_for_one_or_many(seeded_app, db, alice, count_queries):
    leave(seeded_app, db, "alice@example.com", 1)
    with count_queries() as few:
        alice.get(LIST)
    leave(seeded_app, db, "alice@example.com", 60)
    with count_queries() as many:
        alice.get(LIST + "?page=2")
    assert many.count == few.count, str(many)
    assert few.count <= 6, str(few)


# --- the API -----------------------------------------------------------------------------------


def test_privacy_notify_commits_and_sends_the_signal(seeded_app, db):
    from example_app import privacy

    received = []

    def on_created(sender: Any, notification: Any, **extra: Any) -> None:
        received.append((sender, notification.kind))

    with seeded_app.app_context(), notification_created.connected_to(on_created, sender=seeded_app):
        user = user_by_email(db, "alice@example.com")
        privacy.notify(user, "hello", N_("Your privacy"))
        assert received == [(seeded_app, "hello")]
        pending = privacy.notify(user, "later", N_("Your privacy"), commit=False)
        assert len(received) == 1  # not before the host commits
        db.session.commit()
        notify.announce(pending)
        assert received[-1] == (seeded_app, "later")


def test_parameters_must_be_plain_values(seeded_app, db):
    with seeded_app.app_context():
        with pytest.raises(TypeError):
            notify.add(
                db.session, "1", "test", N_("Your privacy"), params={"when": datetime.now(timezone.utc)}
            )
        with pytest.raises(ValueError):
            notify.add(db.session, "1", "", N_("Your privacy"))


def test_a_stored_text_whose_parameters_no_longer_match_still_displays(seeded_app):
    with seeded_app.test_request_context(headers={"Accept-Language": "en"}):
        assert notify.render_text("Receipt %(reference)s", {}) == "Receipt %(reference)s"
        assert (
            notify.render_text("Receipt %(reference)s", {"reference": "SNS-AAAA-BBBB"})
            == "Receipt SNS-AAAA-BBBB"
        )
        assert notify.render_text("", {}) == ""
