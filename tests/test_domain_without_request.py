"""Domain functions run without a request (issue 6): what a job worker will do.

A worker has an app context but no request, no signed-in user and no locale selector.
The JSON export and an SNS withdrawal are called here exactly so, in Japanese and in
English; a stored notification link is an endpoint, so it survives a moved URL prefix;
a source that fails while a page also writes loses none of the page's writes.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import sqlalchemy as sa
from flask import has_request_context
from privacy_host import AccountSource, BrokenSource, ChatSource, Host, MakeHost, Member, db

from flask_ome_privacy import N_, export, holdings, notify, withdrawal
from flask_ome_privacy.models import AuditEvent, ConsentRecord, Notification, SnsWithdrawal
from flask_ome_privacy.signals import notification_created, sns_withdrawn
from flask_ome_privacy.state import get_state

USER_INFO = {"en": "Personal information about users", "ja": "利用者に関する個人情報"}
UNLINKED = {
    "en": "Chatter was unlinked and its data erased",
    "ja": "Chatterとの連携を解除し、情報を消去しました",
}


@pytest.fixture
def member(host: Host) -> str:
    member_id = host.add_member("Alice Liddell", "alice@wonder.example")
    host.link_chat(member_id, handle="@alice", bio="hello")
    host.record_provision(member_id, "Client A KK", ["user_info"])
    return member_id


@pytest.mark.parametrize("language", ["ja", "en"])
def test_the_json_export_is_written_by_a_worker_in_the_language_asked(
    host: Host, member: str, language: str
) -> None:
    with host.app.app_context():
        assert not has_request_context()
        user = db.session.get(Member, member)
        document = json.loads("".join(export.write_json(get_state(host.app), user, language=language)))
    assert document["language"] == language
    assert document["user_id"] == member
    category = next(c for c in document["categories"] if c["key"] == "user_info")
    assert category["label"] == USER_INFO[language]
    chatter = next(s for s in document["sources"] if s["key"] == "chatter")
    assert [r["value"] for r in chatter["records"]] == ["@alice", "hello"]
    assert chatter["complete"] is True
    assert [p["recipient"] for p in document["provisions"]] == ["Client A KK"]


@pytest.mark.parametrize("language", ["ja", "en"])
def test_a_worker_withdraws_an_sns_and_the_notice_reads_in_the_persons_language(
    host: Host, member: str, language: str
) -> None:
    signals: list[str] = []

    def on_withdrawn(sender: Any, **kwargs: Any) -> None:
        signals.append("sns_withdrawn")

    def on_notified(sender: Any, **kwargs: Any) -> None:
        signals.append("notification_created")

    source = host.privacy.sources["chatter"]
    with (
        sns_withdrawn.connected_to(on_withdrawn, host.app),
        notification_created.connected_to(on_notified, host.app),
        host.app.app_context(),
    ):
        assert not has_request_context()
        user = db.session.get(Member, member)
        withdrawn = withdrawal.withdraw(db.session, user, source, sign_in_methods={"password", "chatter"})
        assert signals == []  # nothing is announced before the caller commits
        db.session.commit()
        withdrawal.announce(host.app, user, source, withdrawn)
        notification = db.session.scalar(sa.select(Notification).where(Notification.user_id == member))
        subject = notify.render_text(notification.subject, notification.params, language=language)
    assert signals == ["sns_withdrawn", "notification_created"]
    assert subject == UNLINKED[language]
    assert host.sns_rows(member, "chatter") == (0, 0)


def test_a_withdrawal_is_kept_only_when_the_caller_commits(host: Host, member: str) -> None:
    source = host.privacy.sources["chatter"]
    with host.app.app_context():
        user = db.session.get(Member, member)
        withdrawal.withdraw(db.session, user, source, sign_in_methods={"password"})
        db.session.rollback()
        assert db.session.scalar(sa.select(sa.func.count(SnsWithdrawal.id))) == 0
    assert host.sns_rows(member, "chatter") != (0, 0)


@pytest.fixture
def moved_host(make_host: MakeHost) -> Host:
    return make_host(members=["1"], OME_PRIVACY_ACCOUNT_URL_PREFIX="/me/privacy")


def test_a_stored_notification_link_follows_a_moved_url_prefix(moved_host: Host) -> None:
    with moved_host.app.app_context():
        user = db.session.get(Member, "1")
        moved_host.privacy.notify(
            user,
            "test",
            N_("Your privacy"),
            link_endpoint="ome_privacy_account.sns_receipt",
            link_values={"reference": "SNS-AAAA-BBBB"},
        )
    page = moved_host.client_for("1", language="en").get("/me/privacy/notifications")
    assert page.status_code == 200
    assert 'href="/me/privacy/sns/withdrawals/SNS-AAAA-BBBB"' in page.get_data(as_text=True)


def test_an_older_notification_with_a_plain_path_still_links(moved_host: Host) -> None:
    with moved_host.app.app_context():
        user = db.session.get(Member, "1")
        moved_host.privacy.notify(user, "test", N_("Your privacy"), link="/account/privacy/sns")
    page = moved_host.client_for("1", language="en").get("/me/privacy/notifications")
    assert 'href="/account/privacy/sns"' in page.get_data(as_text=True)


def test_a_link_to_a_page_the_app_no_longer_has_shows_the_notice_without_a_link(moved_host: Host) -> None:
    with moved_host.app.app_context():
        user = db.session.get(Member, "1")
        moved_host.privacy.notify(user, "test", N_("Your privacy"), link_endpoint="gone.page")
    page = moved_host.client_for("1", language="en").get("/me/privacy/notifications")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "Your privacy" in text and "gone" not in text


def test_a_failing_source_does_not_lose_the_callers_pending_writes(make_host: MakeHost) -> None:
    host = make_host(members=["1"], sources=[AccountSource(), BrokenSource(), ChatSource()])
    with host.app.app_context():
        user = db.session.get(Member, "1")
        host.privacy.audit("test.pending", actor=user, actor_role="user", subject_user_id="1")
        held = holdings.gather(get_state(host.app), user)
        db.session.commit()
        assert [h.key for h in held.sources if h.unavailable] == ["broken"]
        assert [h.key for h in held.sources if not h.unavailable] == ["account", "chatter"]
        actions = db.session.scalars(sa.select(AuditEvent.action)).all()
        assert actions == ["test.pending"]
        assert db.session.scalar(sa.select(sa.func.count(ConsentRecord.id))) == 0
