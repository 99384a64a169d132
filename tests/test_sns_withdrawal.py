"""Withdrawing SNS-linked data (issue 3, point 7; the SPEC's design card).

A person unlinks an SNS account and the data obtained through it is erased at once,
self-service, with a receipt — never locking them out of an account whose only sign-in
is that SNS. Three parts: the guard alone; a tiny host of our own (tests/privacy_host.py with
a Notes and a "Chirp" SNS source, and four people); and the example WORLD OME NET site (alice, carol).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from typing import Any

import pytest
import sqlalchemy as sa
from helpers import extract_csrf_token
from privacy_host import BrokenChirpSource, ChirpSource, Host, MakeHost, NotesSource

from flask_ome_privacy import Record, SourceField, notify
from flask_ome_privacy.models import AuditEvent, Notification, SnsWithdrawal
from flask_ome_privacy.reauth import AUTH_AT_KEY
from flask_ome_privacy.signals import notification_created, sns_withdrawn
from flask_ome_privacy.withdrawal import Instead, Reason, decide, new_reference

# --- the guard, on its own -------------------------------------------------------------------


def test_a_person_with_a_password_may_withdraw_facebook():
    decision = decide({"password", "facebook"}, "Facebook")
    assert decision.allowed and decision.reason is Reason.ALLOWED


def test_the_only_way_to_sign_in_is_never_removed():
    decision = decide({"facebook"}, "Facebook")
    assert not decision.allowed
    assert decision.reason is Reason.ONLY_SIGN_IN
    assert decision.instead == (Instead.ADD_SIGN_IN, Instead.CLOSE_ACCOUNT)


def test_provider_names_match_method_keys_whatever_the_case():
    assert not decide({"FACEBOOK"}, "Facebook").allowed
    assert not decide({" facebook "}, "facebook").allowed
    # the source key counts as the provider too
    assert not decide({"fb"}, "Facebook", source_key="fb").allowed


def test_another_sns_is_another_way_in():
    assert decide({"facebook", "google"}, "Facebook").allowed


def test_an_sns_that_is_not_a_sign_in_method_can_go():
    assert decide({"password"}, "Facebook").allowed


def test_when_the_host_cannot_tell_how_someone_signs_in_we_refuse():
    decision = decide(set(), "Facebook")
    assert not decision.allowed
    assert decision.reason is Reason.SIGN_IN_UNKNOWN
    assert Instead.CLOSE_ACCOUNT in decision.instead


def test_a_source_that_cannot_unlink_sends_people_to_a_request():
    decision = decide({"password", "facebook"}, "Facebook", can_unlink=False)
    assert decision.reason is Reason.NOT_SUPPORTED
    assert decision.instead[0] is Instead.REQUEST_ERASURE


def test_every_refusal_explains_itself_and_names_the_provider():
    for reason in Reason:
        assert "%(provider)s" in reason.message
    for option in Instead:
        assert option.message


def test_receipt_references_are_readable_and_distinct():
    refs = {new_reference() for _ in range(200)}
    assert len(refs) == 200
    assert all(re.fullmatch(r"SNS-[A-Z2-9]{4}-[A-Z2-9]{4}", r) for r in refs)
    assert not any(set("01IO") & set(r[4:]) for r in refs)


# --- a tiny host of our own ----------------------------------------------------------------------

LINKED_AT = datetime(2025, 3, 1, 9, 30, tzinfo=timezone.utc)
#: Who is on the tiny host, and whether they have a password besides Chirp. "u-only" has nothing
#: but Chirp; for "u-unknown" the host cannot say (None).
PASSWORDS = {"u-alice": True, "u-bob": True, "u-only": False, "u-unknown": None}


@pytest.fixture
def make_tiny(make_host: MakeHost) -> Callable[..., Host]:
    """``make_tiny(source_class=ChirpSource, **config)``: a host with Notes, Chirp and four people."""

    def build(source_class: type[ChirpSource] = ChirpSource, **config: Any) -> Host:
        host = make_host(sources=[NotesSource(), source_class()], login_view="sign_in_page", **config)
        for user_id, password in PASSWORDS.items():
            host.add_member(id=user_id, password=password)
        return host

    return build


@pytest.fixture
def tiny(make_tiny: Callable[..., Host]) -> Host:
    host = make_tiny()
    for user_id in PASSWORDS:
        link_chirp(host, user_id)
    return host


def link_chirp(host: Host, user_id: str, *, followers: int = 2) -> None:
    values = [("handle", f"@{user_id}-handle")] + [("follower", f"friend{n}") for n in range(followers)]
    host.link_sns(user_id, "chirp", values, linked_at=LINKED_AT)


def chirp_rows(host: Host, user_id: str) -> tuple[int, int]:
    return host.sns_rows(user_id, "chirp")


def signed_in(host: Host, user_id: str) -> Any:
    return host.client_for(user_id, language="en")


WITHDRAW = "/account/privacy/sns/chirp/withdraw"


def post_withdraw(client: Any, *, confirm: bool = True, token: str | None = None) -> Any:
    if token is None:
        token = extract_csrf_token(client.get(WITHDRAW).get_data(as_text=True))
    data = {"csrf_token": token}
    if confirm:
        data["confirm"] = "y"
    return client.post(WITHDRAW, data=data)


def test_the_sns_page_shows_each_link_since_when_and_what_came_through_it(tiny):
    client = signed_in(tiny, "u-alice")
    response = client.get("/account/privacy/sns")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    page = response.get_data(as_text=True)
    assert "Chirp handle" in page and "@u-alice-handle" in page
    assert "Follower" in page and "friend1" in page
    assert "Linked" in page and "2025" in page  # since when
    assert "Notes" not in page  # only SNS sources are offered here
    assert 'href="/account/privacy/sns/chirp/withdraw"' in page


class QuizChirpSource(ChirpSource):
    """Chirp that also sent quiz answers, each value labelled with its own question."""

    fields = (*ChirpSource.fields, SourceField("quiz", "Quiz answer"))

    def collect(self, user: Any) -> Iterator[Record]:
        yield from super().collect(user)
        if self.is_linked(user):
            yield Record("quiz", "blue", label="Favourite colour")
            yield Record("quiz", "tea", label="Favourite drink")


def test_the_sns_page_shows_each_values_own_label(make_tiny):
    host = make_tiny(QuizChirpSource)
    link_chirp(host, "u-alice")
    client = signed_in(host, "u-alice")
    for url in ("/account/privacy/sns", WITHDRAW):
        page = client.get(url).get_data(as_text=True)
        assert "Favourite colour" in page and "Favourite drink" in page, url
        assert page.index("Favourite colour") < page.index("blue") < page.index("Favourite drink")
        assert "Chirp handle" in page  # values without a label of their own keep the field's


def test_only_the_signed_in_persons_own_link_is_shown(tiny):
    page = signed_in(tiny, "u-alice").get("/account/privacy/sns").get_data(as_text=True)
    assert "@u-bob-handle" not in page and "chirp-u-bob" not in page


def test_the_confirm_page_says_exactly_what_will_be_erased_and_that_it_cannot_be_undone(tiny):
    page = signed_in(tiny, "u-alice").get(WITHDRAW).get_data(as_text=True)
    for shown in (
        "Chirp account ID",
        "chirp-u-alice",
        "Chirp handle",
        "@u-alice-handle",
        "friend0",
        "friend1",
    ):
        assert shown in page
    assert "cannot be undone" in page
    assert 'name="csrf_token"' in page and 'type="checkbox"' in page
    assert '<label for="confirm"' in page


def test_withdrawing_erases_the_data_and_leaves_a_receipt_audit_event_notification_and_signal(tiny):
    client = signed_in(tiny, "u-alice")
    withdrawn, notified = [], []

    def on_withdrawn(sender: Any, user: Any, source: Any, withdrawal: Any, **extra: Any) -> None:
        # receivers run after the commit, while the request's session is still open
        withdrawn.append((sender, user.get_id(), source.key, withdrawal.reference, withdrawal.erased))

    def on_notification(sender: Any, notification: Any, **extra: Any) -> None:
        notified.append((sender, notification.user_id, notification.kind))

    with (
        sns_withdrawn.connected_to(on_withdrawn, sender=tiny.app),
        notification_created.connected_to(on_notification, sender=tiny.app),
    ):
        response = post_withdraw(client)

    assert response.status_code == 303
    receipt_url = response.headers["Location"]
    assert receipt_url.startswith("/account/privacy/sns/withdrawals/SNS-")
    assert chirp_rows(tiny, "u-alice") == (0, 0)
    assert chirp_rows(tiny, "u-bob") == (1, 3)  # nobody else's data is touched

    # the signal: app as sender, the user, the source and the receipt
    assert len(withdrawn) == 1
    sender, user_id, source_key, reference, erased = withdrawn[0]
    assert (sender, user_id, source_key) == (tiny.app, "u-alice", "chirp")
    assert receipt_url.endswith(reference)
    assert len(erased) == 3
    assert notified == [(tiny.app, "u-alice", "sns_withdrawn")]

    with tiny.app.app_context():
        session = tiny.db.session
        receipt = session.scalar(sa.select(SnsWithdrawal).where(SnsWithdrawal.reference == reference))
        assert receipt.user_id == "u-alice" and receipt.source_key == "chirp" and receipt.provider == "Chirp"
        assert receipt.erased == [
            {"field": "chirp_id", "label": "Chirp account ID", "count": 1},
            {"field": "handle", "label": "Chirp handle", "count": 1},
            {"field": "follower", "label": "Follower", "count": 2},
        ]
        event = session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "sns.withdrawn"))
        assert (
            event.actor_id == "u-alice" and event.subject_user_id == "u-alice" and event.actor_role == "user"
        )
        assert event.data == {
            "source": "chirp",
            "reference": reference,
            "erased": {"chirp_id": 1, "handle": 1, "follower": 2},
        }
        notification = session.scalar(sa.select(Notification).where(Notification.user_id == "u-alice"))
        assert notification.kind == "sns_withdrawn"
        assert notification.params == {"provider": "Chirp", "reference": reference}
        assert notification.link_endpoint == "ome_privacy_account.sns_receipt"
        assert notification.link_values == {"reference": reference}
        with tiny.app.test_request_context():
            assert notify.link_url(notification) == receipt_url
        # no values anywhere in what we keep
        kept = repr((receipt.erased, receipt.summary, event.data, notification.params))
        assert "@u-alice-handle" not in kept and "friend0" not in kept

    # the receipt page, after the flash message
    page = client.get(receipt_url)
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    text = page.get_data(as_text=True)
    assert "Chirp was unlinked and the data it supplied was erased" in text  # the flash
    assert reference in text and "Follower" in text and "Chirp handle" in text
    assert re.search(r"<td>\s*2\s*</td>", text)  # two followers erased
    assert "@u-alice-handle" not in text and "friend0" not in text


def test_after_withdrawing_the_data_is_gone_from_every_page_that_showed_it(tiny):
    client = signed_in(tiny, "u-alice")
    overview_before = client.get("/account/privacy/").get_data(as_text=True)
    assert "4 items held" in overview_before
    assert post_withdraw(client).status_code == 303

    sns_page = client.get("/account/privacy/sns").get_data(as_text=True)
    assert "@u-alice-handle" not in sns_page and "friend0" not in sns_page
    assert "Not linked" in sns_page
    assert "Your past withdrawals" in sns_page
    overview = client.get("/account/privacy/").get_data(as_text=True)
    assert "4 items held" not in overview
    for url in ("/account/privacy/data", "/account/privacy/data/export.json"):
        response = client.get(url)
        assert response.status_code == 200, url
        text = response.get_data(as_text=True)
        assert "@u-alice-handle" not in text and "friend0" not in text and "chirp-u-alice" not in text, url


def test_ticking_the_box_is_required(tiny):
    client = signed_in(tiny, "u-alice")
    response = post_withdraw(client, confirm=False)
    assert response.status_code == 400
    assert "Please tick the box to confirm." in response.get_data(as_text=True)
    assert chirp_rows(tiny, "u-alice") == (1, 3)


def test_a_post_without_the_csrf_token_is_refused(tiny):
    client = signed_in(tiny, "u-alice")
    response = post_withdraw(client, token="forged")
    assert response.status_code == 400
    assert chirp_rows(tiny, "u-alice") == (1, 3)


def test_withdrawing_twice_says_so_instead_of_failing(tiny):
    client = signed_in(tiny, "u-alice")
    token = extract_csrf_token(client.get(WITHDRAW).get_data(as_text=True))
    assert post_withdraw(client, token=token).status_code == 303
    again = post_withdraw(client, token=token)
    assert again.status_code == 303 and again.headers["Location"] == "/account/privacy/sns"
    assert "nothing to withdraw" in client.get("/account/privacy/sns").get_data(as_text=True)
    # the confirm page too
    assert client.get(WITHDRAW).status_code == 303
    with tiny.app.app_context():
        count = tiny.db.session.scalar(sa.select(sa.func.count(SnsWithdrawal.id)))
    assert count == 1


def test_when_the_source_fails_nothing_is_committed_and_the_person_is_told(make_tiny, caplog):
    host = make_tiny(BrokenChirpSource)
    link_chirp(host, "u-alice")
    client = signed_in(host, "u-alice")
    with caplog.at_level(logging.ERROR, logger="flask_ome_privacy"):
        response = post_withdraw(client)
    assert response.status_code == 503
    text = response.get_data(as_text=True)
    assert "did not go through, and nothing was changed" in text
    assert "@u-alice-handle" in text  # still held, still shown
    # the half-done unlink was rolled back: data rows are back, no receipt, no event, no notice
    assert chirp_rows(host, "u-alice") == (1, 3)
    with host.app.app_context():
        session = host.db.session
        assert session.scalar(sa.select(sa.func.count(SnsWithdrawal.id))) == 0
        assert session.scalar(sa.select(sa.func.count(Notification.id))) == 0
        assert (
            session.scalar(
                sa.select(sa.func.count(AuditEvent.id)).where(AuditEvent.action == "sns.withdrawn")
            )
            == 0
        )
    assert "chirp" in caplog.text and "u-alice" not in caplog.text


def test_the_only_way_to_sign_in_is_refused_with_what_to_do_instead(tiny):
    client = signed_in(tiny, "u-only")
    page = client.get("/account/privacy/sns").get_data(as_text=True)
    assert "Chirp is your only way to sign in" in page
    assert "Set a password for your account" in page
    assert 'href="/account/privacy/requests/new?kind=delete"' in page
    assert 'href="/account/privacy/sns/chirp/withdraw"' not in page

    confirm = client.get(WITHDRAW)
    assert confirm.status_code == 200
    assert "Chirp is your only way to sign in" in confirm.get_data(as_text=True)
    assert 'name="confirm"' not in confirm.get_data(as_text=True)


def test_the_refusal_links_to_where_the_host_lets_people_set_a_password(make_tiny):
    host = make_tiny(OME_PRIVACY_SIGN_IN_SETTINGS_URL="/settings/password")
    link_chirp(host, "u-only")
    page = signed_in(host, "u-only").get("/account/privacy/sns").get_data(as_text=True)
    assert 'href="/settings/password"' in page


def test_the_guard_runs_on_the_post_too(tiny):
    client = signed_in(tiny, "u-only")
    token = client.get("/_test/csrf").get_data(as_text=True)
    response = client.post(WITHDRAW, data={"csrf_token": token, "confirm": "y"})
    assert response.status_code == 409
    assert "Chirp is your only way to sign in" in response.get_data(as_text=True)
    assert chirp_rows(tiny, "u-only") == (1, 3)


def test_a_person_the_host_knows_no_sign_in_for_is_refused_and_the_log_names_only_the_source(tiny, caplog):
    client = signed_in(tiny, "u-unknown")
    with caplog.at_level(logging.WARNING, logger="flask_ome_privacy"):
        response = client.get(WITHDRAW)
    text = response.get_data(as_text=True)
    assert "could not confirm that you have another way to sign in" in text
    assert 'href="/account/privacy/requests/new?kind=delete"' in text
    assert "'chirp'" in caplog.text and "sign_in_methods" in caplog.text
    assert "u-unknown" not in caplog.text
    assert chirp_rows(tiny, "u-unknown") == (1, 3)


def test_a_stale_sign_in_is_sent_to_sign_in_again_and_comes_back(tiny):
    client = signed_in(tiny, "u-alice")
    with client.session_transaction() as session:
        session[AUTH_AT_KEY] = int(time.time()) - 601  # default window: 600 seconds
    for response in (client.get(WITHDRAW), client.post(WITHDRAW, data={"confirm": "y"})):
        assert response.status_code == 303
        assert response.headers["Location"] == "/sign-in?next=%2Faccount%2Fprivacy%2Fsns%2Fchirp%2Fwithdraw"
    assert chirp_rows(tiny, "u-alice") == (1, 3)
    with client.session_transaction() as session:
        flashes = [message for _category, message in session.get("_flashes", [])]
    assert any("please sign in again" in message for message in flashes)

    client.get("/_test/sign-in/u-alice")  # signing in again records a new time
    assert client.get(WITHDRAW).status_code == 200
    assert post_withdraw(client).status_code == 303


def test_the_window_follows_the_setting(make_tiny):
    host = make_tiny(OME_PRIVACY_REAUTH_SECONDS=60)
    link_chirp(host, "u-alice")
    client = signed_in(host, "u-alice")
    with client.session_transaction() as session:
        session[AUTH_AT_KEY] = int(time.time()) - 30
    assert client.get(WITHDRAW).status_code == 200
    with client.session_transaction() as session:
        session[AUTH_AT_KEY] = int(time.time()) - 61
    assert client.get(WITHDRAW).status_code == 303


def test_a_session_without_a_recorded_sign_in_time_must_sign_in_again(tiny):
    client = signed_in(tiny, "u-alice")
    with client.session_transaction() as session:
        del session[AUTH_AT_KEY]
    assert client.get(WITHDRAW).status_code == 303


def test_someone_elses_sign_in_time_does_not_count(tiny):
    client = signed_in(tiny, "u-bob")
    with client.session_transaction() as session:
        session["_user_id"] = "u-alice"  # same browser session, another person now
    assert client.get(WITHDRAW).status_code == 303


def test_a_source_that_is_not_an_sns_or_unknown_is_not_found(tiny):
    client = signed_in(tiny, "u-alice")
    assert client.get("/account/privacy/sns/notes/withdraw").status_code == 404
    assert client.get("/account/privacy/sns/nope/withdraw").status_code == 404
    token = extract_csrf_token(client.get(WITHDRAW).get_data(as_text=True))
    assert (
        client.post(
            "/account/privacy/sns/notes/withdraw", data={"csrf_token": token, "confirm": "y"}
        ).status_code
        == 404
    )


def test_another_persons_receipt_is_not_found(tiny):
    alice = signed_in(tiny, "u-alice")
    receipt_url = post_withdraw(alice).headers["Location"]
    assert alice.get(receipt_url).status_code == 200
    bob = signed_in(tiny, "u-bob")
    assert bob.get(receipt_url).status_code == 404
    assert bob.get("/account/privacy/sns/withdrawals/SNS-NOPE-NOPE").status_code == 404
    assert receipt_url.rsplit("/", 1)[1] not in bob.get("/account/privacy/sns").get_data(as_text=True)


def test_signed_out_visitors_are_sent_to_sign_in(tiny):
    client = tiny.app.test_client()
    for url in ("/account/privacy/sns", WITHDRAW, "/account/privacy/sns/withdrawals/SNS-AAAA-BBBB"):
        response = client.get(url)
        assert response.status_code == 302 and response.headers["Location"].startswith("/sign-in"), url


def test_the_notification_is_written_in_the_readers_language_when_read(tiny):
    client = signed_in(tiny, "u-alice")
    reference = post_withdraw(client).headers["Location"].rsplit("/", 1)[1]
    page = client.get("/account/privacy/notifications").get_data(as_text=True)
    assert "Chirp was unlinked and its data erased" in page
    assert reference in page
    assert f'href="/account/privacy/sns/withdrawals/{reference}"' in page


# --- the example site: alice and carol -------------------------------------------------------------


def test_alice_withdraws_facebook_and_it_is_gone_everywhere(seeded_app, client, login):
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    login(client, "alice@example.com")
    facebook_only = ("Hanako Yamada", "hanako.yamada@facebook.example", "100000000000101")

    sns_page = client.get("/account/privacy/sns").get_data(as_text=True)
    assert all(value in sns_page for value in facebook_only)
    confirm = client.get("/account/privacy/sns/facebook/withdraw")
    assert confirm.status_code == 200
    token = extract_csrf_token(confirm.get_data(as_text=True))
    response = client.post(
        "/account/privacy/sns/facebook/withdraw", data={"csrf_token": token, "confirm": "y"}
    )
    assert response.status_code == 303
    receipt = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Name on Facebook" in receipt and "Hanako Yamada" not in receipt

    for url in (
        "/account/privacy/sns",
        "/account/privacy/",
        "/account/privacy/data",
        "/account/privacy/data/export.json",
    ):
        result = client.get(url)
        assert result.status_code == 200, url
        text = result.get_data(as_text=True)
        assert not [v for v in facebook_only if v in text], url

    # she still has her password, and her other data is untouched
    from example_app.models import FacebookData, FacebookLink, SurveyResponse, User, db

    with seeded_app.app_context():
        alice = db.session.scalar(sa.select(User).where(User.email == "alice@example.com"))
        assert alice.password_hash is not None and alice.profile is not None
        assert db.session.scalar(sa.select(sa.func.count(FacebookLink.id))) == 1  # carol's
        assert (
            db.session.scalar(
                sa.select(sa.func.count(FacebookData.id)).where(FacebookData.user_id == alice.id)
            )
            == 0
        )
        assert (
            db.session.scalar(
                sa.select(sa.func.count(SurveyResponse.id)).where(SurveyResponse.user_id == alice.id)
            )
            > 0
        )


def test_carol_who_signs_in_only_with_facebook_is_refused(seeded_app, client, csrf_token):
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    token = csrf_token(client, "/login")
    signed_in_response = client.post(
        "/login/facebook/demo", data={"email": "carol@example.com", "csrf_token": token}
    )
    assert signed_in_response.status_code == 302

    page = client.get("/account/privacy/sns").get_data(as_text=True)
    assert "Facebook is your only way to sign in" in page
    assert "/account/privacy/requests/new?kind=delete" in page
    token = extract_csrf_token(client.get("/account/privacy/sns/facebook/withdraw").get_data(as_text=True))
    refused = client.post(
        "/account/privacy/sns/facebook/withdraw", data={"csrf_token": token, "confirm": "y"}
    )
    assert refused.status_code == 409

    from example_app.models import FacebookLink, User, db

    with seeded_app.app_context():
        carol = db.session.scalar(sa.select(User).where(User.email == "carol@example.com"))
        assert (
            db.session.scalar(sa.select(FacebookLink.id).where(FacebookLink.user_id == carol.id)) is not None
        )
