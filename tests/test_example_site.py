"""The example WORLD OME NET site: signing in, the language switch, the account page, and
its three data sources as the privacy extension sees them."""

from __future__ import annotations

import re
from datetime import datetime
from html import unescape
from typing import Any

import pytest
import sqlalchemy as sa

WRONG_CREDENTIALS_JA = "メールアドレスまたはパスワードが正しくありません。"
WRONG_CREDENTIALS_EN = "The email address or password is incorrect."


def text(response: Any) -> str:
    return unescape(response.get_data(as_text=True))


def user_by_email(email: str) -> Any:
    from example_app.models import User, db

    return db.session.scalar(sa.select(User).where(User.email == email))


def source(key: str) -> Any:
    from example_app import privacy

    return privacy.sources[key]


def facebook_sign_in(client: Any, csrf_token: Any, email: str, **extra: str) -> Any:
    token = csrf_token(client, "/login")
    return client.post("/login/facebook/demo", data={"email": email, "csrf_token": token, **extra})


# --- signing in ---------------------------------------------------------------------------


def test_right_password_signs_in_and_lands_on_account_settings(seeded_app, client, login):
    response = login(client, "alice@example.com")
    assert response.headers["Location"].endswith("/account")
    page = text(client.get("/account"))
    assert "山田 花子" in page
    assert "alice@example.com" in page


def test_sign_in_records_the_time_for_recent_sign_in_checks(seeded_app, client, login):
    before = int(datetime.now().timestamp())
    login(client, "alice@example.com")
    with client.session_transaction() as session:
        assert session["ome_privacy_auth_at"] >= before
        assert session["_user_id"]


@pytest.mark.parametrize(
    ("email", "password"),
    [("alice@example.com", "wrong-password"), ("nobody@example.com", "demo-password")],
)
def test_wrong_credentials_get_one_clear_message_and_keep_the_email(
    seeded_app, client, login, email, password
):
    response = login(client, email, password, expect_success=False)
    assert response.status_code == 200
    page = text(response)
    assert WRONG_CREDENTIALS_JA in page  # the same words whichever part was wrong
    assert f'value="{email}"' in page
    assert password not in page
    assert client.get("/account").status_code == 302


def test_empty_form_says_what_is_missing(seeded_app, client, csrf_token):
    token = csrf_token(client, "/login")
    page = text(client.post("/login", data={"email": "", "password": "", "csrf_token": token}))
    assert "メールアドレスを入力してください。" in page
    assert "パスワードを入力してください。" in page


def test_sign_in_without_csrf_token_is_refused(seeded_app, client):
    response = client.post("/login", data={"email": "alice@example.com", "password": "demo-password"})
    assert response.status_code == 400


def test_sign_in_follows_a_same_site_next_only(seeded_app, client, csrf_token):
    for next_url, expected in [
        ("/account/privacy/", "/account/privacy/"),
        ("https://evil.example/", "/account"),
        ("//evil.example/", "/account"),
        ("/\\evil.example", "/account"),
    ]:
        token = csrf_token(client, "/login")
        response = client.post(
            "/login",
            data={
                "email": "bob@example.com",
                "password": "demo-password",
                "next": next_url,
                "csrf_token": token,
            },
        )
        assert response.status_code == 302
        assert response.headers["Location"] == expected, next_url
        client.post("/logout", data={"csrf_token": csrf_token(client, "/")})


def test_next_from_the_login_redirect_is_kept_in_the_form(seeded_app, client):
    response = client.get("/account")
    assert response.status_code == 302
    page = text(client.get(response.headers["Location"]))
    assert 'name="next" type="hidden" value="/account"' in page


def test_carol_has_no_password_but_signs_in_with_the_facebook_demo_button(
    seeded_app, client, login, csrf_token
):
    refused = login(client, "carol@example.com", "demo-password", expect_success=False)
    assert WRONG_CREDENTIALS_JA in text(refused)
    assert "Facebookでログイン" in text(refused)

    response = facebook_sign_in(client, csrf_token, "carol@example.com")
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/account")
    page = text(client.get("/account"))
    assert "carol@example.com" in page
    with client.session_transaction() as session:
        assert session["ome_privacy_auth_at"] > 0


def test_facebook_demo_offers_only_accounts_linked_to_facebook(seeded_app, client, csrf_token):
    page = text(client.get("/login"))
    assert "デモ" in page
    assert "alice@example.com" in page and "carol@example.com" in page
    assert "bob@example.com" not in page

    response = facebook_sign_in(client, csrf_token, "bob@example.com")
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/login")
    assert client.get("/account").status_code == 302  # not signed in


def test_sign_out_ends_the_session(seeded_app, client, login, logout):
    login(client, "bob@example.com")
    assert client.get("/account").status_code == 200
    response = logout(client)
    assert response.status_code == 302
    assert client.get("/account").status_code == 302
    assert "ログアウトしました。" in text(client.get("/"))


# --- language ---------------------------------------------------------------------------


def test_pages_are_japanese_first(app, client):
    page = text(client.get("/"))
    assert '<html lang="ja">' in page
    assert "人と企業をつなぐ" in page


def test_browser_language_is_used_when_nothing_was_chosen(app, client):
    page = text(client.get("/", headers={"Accept-Language": "en-US,en;q=0.8"}))
    assert '<html lang="en">' in page
    assert "Connecting people and companies" in page


def test_language_switch_changes_the_page_language(app, client, csrf_token):
    token = csrf_token(client, "/")
    response = client.post("/lang", data={"lang": "en", "next": "/login", "csrf_token": token})
    assert response.status_code == 302
    assert response.headers["Location"] == "/login"
    page = text(client.get("/login"))
    assert '<html lang="en">' in page
    assert "Sign in" in page and "ログイン" not in page

    token = csrf_token(client, "/login")
    client.post("/lang", data={"lang": "ja", "next": "/login", "csrf_token": token})
    page = text(client.get("/login", headers={"Accept-Language": "en"}))  # the switch beats the browser
    assert "ログイン" in page


def test_language_switch_refuses_other_sites_and_languages(app, client, csrf_token):
    token = csrf_token(client, "/")
    response = client.post("/lang", data={"lang": "fr", "next": "https://evil.example/", "csrf_token": token})
    assert response.headers["Location"] == "/"
    assert '<html lang="ja">' in text(client.get("/"))


def test_language_switch_needs_csrf_token(app, client):
    assert client.post("/lang", data={"lang": "en"}).status_code == 400


# --- account settings ------------------------------------------------------------------


def test_account_settings_link_to_the_privacy_pages(seeded_app, client, login):
    login(client, "alice@example.com")
    page = text(client.get("/account"))
    with seeded_app.test_request_context():
        from flask import url_for

        overview = url_for("ome_privacy_account.overview")
    assert f'href="{overview}"' in page
    for path in (
        "/account/privacy/data",
        "/account/privacy/sns",
        "/account/privacy/requests",  # the person's requests (making one starts there)
        "/privacy/purposes",
    ):
        assert f'href="{path}"' in page, path
    assert client.get(overview).status_code == 200


def test_facebook_only_account_can_set_a_password_and_then_sign_in_with_it(
    seeded_app, client, csrf_token, login, logout
):
    facebook_sign_in(client, csrf_token, "carol@example.com")
    page = text(client.get("/account"))
    assert "パスワードの設定" in page
    assert 'name="current_password"' not in page

    token = csrf_token(client, "/account")
    mismatch = client.post(
        "/account/password",
        data={"new_password": "carol-new-pass", "confirm": "something-else", "csrf_token": token},
    )
    assert "2つのパスワードが一致しません。" in text(mismatch)

    saved = client.post(
        "/account/password",
        data={"new_password": "carol-new-pass", "confirm": "carol-new-pass", "csrf_token": token},
    )
    assert saved.headers["Location"].endswith("/account")
    with seeded_app.app_context():
        from example_app import privacy

        assert privacy.sign_in_methods(user_by_email("carol@example.com")) == {"password", "facebook"}
    logout(client)
    login(client, "carol@example.com", "carol-new-pass")


def test_setting_a_first_password_needs_a_recent_sign_in(seeded_app, client, csrf_token):
    facebook_sign_in(client, csrf_token, "carol@example.com")
    with client.session_transaction() as session:
        session["ome_privacy_auth_at"] = 0
    token = csrf_token(client, "/account")
    response = client.post(
        "/account/password",
        data={"new_password": "carol-new-pass", "confirm": "carol-new-pass", "csrf_token": token},
    )
    assert "/login" in response.headers["Location"]
    with seeded_app.app_context():
        assert user_by_email("carol@example.com").password_hash is None


def test_changing_a_password_needs_the_current_one(seeded_app, client, csrf_token, login):
    login(client, "bob@example.com")
    token = csrf_token(client, "/account")
    wrong = client.post(
        "/account/password",
        data={
            "current_password": "not-it",
            "new_password": "bob-new-password",
            "confirm": "bob-new-password",
            "csrf_token": token,
        },
    )
    assert "現在のパスワードが正しくありません。" in text(wrong)
    right = client.post(
        "/account/password",
        data={
            "current_password": "demo-password",
            "new_password": "bob-new-password",
            "confirm": "bob-new-password",
            "csrf_token": token,
        },
    )
    assert right.status_code == 302
    with seeded_app.app_context():
        assert user_by_email("bob@example.com").check_password("bob-new-password")


def test_account_settings_need_sign_in(seeded_app, client):
    response = client.get("/account")
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


def test_privacy_pages_use_the_site_layout(seeded_app, client, login):
    login(client, "alice@example.com")
    page = text(client.get("/account/privacy/"))
    assert "WORLD OME NET" in page
    assert 'name="lang"' in page  # the site's language switch
    assert "アカウント設定" in page


def test_privacy_messages_are_shown_once_not_twice(seeded_app, client, login):
    login(client, "alice@example.com")
    with client.session_transaction() as session:
        session["_flashes"] = [("ome_privacy", "PRIVACY-NOTICE"), ("info", "SITE-NOTICE")]
    page = text(client.get("/account/privacy/"))
    assert page.count("PRIVACY-NOTICE") == 1
    assert page.count("SITE-NOTICE") == 1


# --- data sources ------------------------------------------------------------------------


def test_profile_source_collects_account_and_profile_items_each_with_its_time(seeded_app):
    with seeded_app.app_context():
        records = {r.field: r for r in source("profile").collect(user_by_email("alice@example.com"))}
    assert set(records) == {
        "email",
        "name",
        "display_name",
        "name_kana",
        "phone",
        "postal_address",
        "birth_date",
        "company",
        "job_title",
    }
    assert records["email"].value == "alice@example.com"
    assert records["birth_date"].value == "1990-04-12"
    assert all(r.obtained_at is not None and r.obtained_at.tzinfo is not None for r in records.values())
    assert records["postal_address"].obtained_at != records["name"].obtained_at


def test_profile_source_marks_email_and_name_as_required():
    from example_app.sources import ProfileSource

    required = {f.name for f in ProfileSource.fields if f.required}
    assert required == {"email", "name"}


def test_facebook_source_collects_what_facebook_supplied(seeded_app):
    with seeded_app.app_context():
        alice = user_by_email("alice@example.com")
        records = list(source("facebook").collect(alice))
        assert source("facebook").is_linked(alice)
        bob = user_by_email("bob@example.com")
        assert list(source("facebook").collect(bob)) == []
        assert not source("facebook").is_linked(bob)
    fields = {r.field for r in records}
    assert {
        "facebook_user_id",
        "name",
        "email",
        "picture_url",
        "birthday",
        "friends_count",
        "gender",
    } <= fields
    assert len(records) >= 7


def test_survey_source_collects_answers_grouped_by_survey(seeded_app):
    with seeded_app.app_context():
        records = list(source("org_survey").collect(user_by_email("alice@example.com")))
        assert list(source("org_survey").collect(user_by_email("bob@example.com"))) == []
    answers = [r for r in records if r.field == "answer"]
    assert len(answers) == 12
    assert len({r.group for r in answers}) == 2
    assert {r.value for r in records if r.field == "employer"} == {"株式会社サンプル商事"}


@pytest.mark.parametrize(("batch_size", "queries_for_bob"), [(1000, 3), (300, 9)])
def test_survey_collect_reads_in_batches_one_query_for_most_people(
    seeded_app, count_queries, monkeypatch, batch_size, queries_for_bob
):
    from example_app.seed import add_bulk_survey_rows

    with seeded_app.app_context():
        survey = source("org_survey")
        monkeypatch.setattr(survey, "batch_size", batch_size)
        alice = user_by_email("alice@example.com")
        with count_queries() as queries:
            assert len(list(survey.collect(alice))) == 14
        assert queries.count == 1, str(queries)
        bob = user_by_email("bob@example.com")
        add_bulk_survey_rows(bob, 2500)  # three surveys of 1,000, 1,000 and 500 answers
        bob = user_by_email("bob@example.com")
        with count_queries() as queries:
            records = list(survey.collect(bob))
    answers = [r for r in records if r.field == "answer"]
    assert len({(r.group, r.label) for r in answers}) == len(answers) == 2500  # none twice, none lost
    assert [r.field for r in records].count("employer") == 3  # each survey's employer line once
    assert [r.group for r in records] == sorted(r.group for r in records)  # still survey by survey
    assert queries.count == queries_for_bob, str(queries)  # full batches, then a short one ends it


def test_survey_count_matches_collect_in_one_query(seeded_app, count_queries):
    from example_app.seed import add_bulk_survey_rows

    with seeded_app.app_context():
        survey = source("org_survey")
        alice = user_by_email("alice@example.com")
        assert survey.count(alice) == len(list(survey.collect(alice))) == 14  # 12 answers, 2 employers
        bob = user_by_email("bob@example.com")
        assert survey.count(bob) == 0
        add_bulk_survey_rows(bob, 2500)
        bob = user_by_email("bob@example.com")
        with count_queries() as queries:
            counted = survey.count(bob)
        assert queries.count == 1, str(queries)
        assert counted == len(list(survey.collect(bob)))


def test_profile_erase_removes_the_named_items_and_keeps_required_ones(seeded_app):
    from flask_ome_privacy import ActionNotSupported

    with seeded_app.app_context():
        from example_app.models import db

        alice = user_by_email("alice@example.com")
        summary = source("profile").erase(alice, ["phone"])
        assert "090" not in summary
        db.session.commit()
        fields = {r.field for r in source("profile").collect(alice)}
        assert "phone" not in fields and "postal_address" in fields

        source("profile").erase(alice)
        db.session.commit()
        assert {r.field for r in source("profile").collect(alice)} == {"email", "name"}

        with pytest.raises(ActionNotSupported):
            source("profile").erase(alice, ["email"])


def test_profile_correct_add_and_stop(seeded_app):
    from flask_ome_privacy import SourceError

    with seeded_app.app_context():
        from example_app.models import db

        bob = user_by_email("bob@example.com")
        profile = source("profile")
        assert "鈴木" not in profile.correct(bob, {"name": "鈴木 二郎"})
        profile.add(bob, {"phone": "080-0000-1111", "birth_date": "1985-02-03"})
        with pytest.raises(SourceError):
            profile.correct(bob, {"job_title": "部長"})  # not held: that is an addition
        with pytest.raises(SourceError):
            profile.correct(bob, {"email": "alice@example.com"})  # someone else's
        profile.stop_use(bob)
        profile.stop_third_party(bob)
        db.session.commit()

        bob = user_by_email("bob@example.com")
        values = {r.field: r.value for r in profile.collect(bob)}
        assert values["name"] == "鈴木 二郎"
        assert values["phone"] == "080-0000-1111"
        assert values["birth_date"] == "1985-02-03"
        assert bob.processing_stopped_at is not None
        assert bob.third_party_stopped_at is not None


def test_facebook_count_matches_collect_in_one_query_linked_erased_or_not(seeded_app, count_queries):
    from example_app.models import db

    with seeded_app.app_context():
        facebook = source("facebook")
        for email, expected in (
            ("alice@example.com", None),
            ("bob@example.com", 0),
            ("carol@example.com", None),
        ):
            person = user_by_email(email)
            with count_queries() as queries:
                counted = facebook.count(person)
            assert queries.count == 1, str(queries)
            assert counted == len(list(facebook.collect(person)))
            assert expected is None or counted == expected
        carol = user_by_email("carol@example.com")
        facebook.erase(carol)
        db.session.commit()
        assert facebook.count(user_by_email("carol@example.com")) == 1  # the link's ID stays


def test_facebook_unlink_removes_the_link_and_everything_it_supplied(seeded_app):
    from example_app import privacy

    with seeded_app.app_context():
        from example_app.models import FacebookData, db

        alice = user_by_email("alice@example.com")
        assert privacy.sign_in_methods(alice) == {"password", "facebook"}
        summary = source("facebook").unlink(alice)
        assert "Hanako" not in summary
        db.session.commit()

        alice = user_by_email("alice@example.com")
        assert list(source("facebook").collect(alice)) == []
        assert not source("facebook").is_linked(alice)
        assert alice.facebook_link is None
        assert db.session.scalar(sa.select(sa.func.count()).select_from(FacebookData)) == 5  # carol's stay
        assert privacy.sign_in_methods(alice) == {"password"}


def test_facebook_erase_keeps_the_link_for_signing_in(seeded_app):
    with seeded_app.app_context():
        from example_app.models import db

        carol = user_by_email("carol@example.com")
        source("facebook").erase(carol, ["hometown"])
        db.session.commit()
        assert "hometown" not in {r.field for r in source("facebook").collect(carol)}
        source("facebook").erase(carol)
        db.session.commit()
        assert [r.field for r in source("facebook").collect(carol)] == ["facebook_user_id"]
        assert source("facebook").is_linked(carol)


def test_survey_erase_and_stop_use(seeded_app):
    with seeded_app.app_context():
        from example_app.models import db

        alice = user_by_email("alice@example.com")
        source("org_survey").stop_use(alice)
        assert "12" in source("org_survey").erase(alice)
        db.session.commit()
        alice = user_by_email("alice@example.com")
        assert list(source("org_survey").collect(alice)) == []
        assert alice.survey_use_stopped_at is not None


def test_unlinked_account_can_no_longer_use_the_facebook_button(seeded_app, client, csrf_token):
    with seeded_app.app_context():
        from example_app.models import db

        source("facebook").unlink(user_by_email("alice@example.com"))
        db.session.commit()
    assert "alice@example.com" not in text(client.get("/login"))
    response = facebook_sign_in(client, csrf_token, "alice@example.com")
    assert response.headers["Location"].endswith("/login")


# --- seeding -----------------------------------------------------------------------------


def test_seed_demo_is_idempotent_and_records_provisions(seeded_app):
    from example_app.models import User, db
    from example_app.seed import seed_demo
    from flask_ome_privacy.models import ProvisionRecord

    def counts() -> tuple[int, int]:
        users = db.session.scalar(sa.select(sa.func.count()).select_from(User))
        provisions = db.session.scalar(sa.select(sa.func.count()).select_from(ProvisionRecord))
        return users, provisions

    with seeded_app.app_context():
        before = counts()
        assert before[0] == 5
        assert before[1] >= 3
        seed_demo()
        assert counts() == before
        staff = db.session.scalars(sa.select(User.email).where(User.is_staff)).all()
        assert sorted(staff) == ["staff2@example.com", "staff@example.com"]


def test_demo_setup_command_prints_the_demo_accounts(app):
    result = app.test_cli_runner().invoke(args=["demo-setup"])
    assert result.exit_code == 0, result.output
    for email in ("alice@example.com", "bob@example.com", "carol@example.com", "staff@example.com"):
        assert email in result.output
    assert re.search(r"carol@example\.com\s+\(no password", result.output)
    again = app.test_cli_runner().invoke(args=["seed"])
    assert again.exit_code == 0, again.output


def test_the_privacy_overview_links_to_every_page_of_the_privacy_center(seeded_app, client, login):
    login(client, "alice@example.com")
    text = client.get("/account/privacy/", headers={"Accept-Language": "en"}).get_data(as_text=True)
    for href in (
        "/account/privacy/data#omep-source-profile",
        "/account/privacy/sns",
        "/account/privacy/data/export",
        "/account/privacy/purposes",
        "/account/privacy/notifications",
        "/privacy/purposes#requests",
    ):
        assert f'href="{href}"' in text, href


def test_errors_use_the_sites_layout_and_language(seeded_app, client, login):
    missing = client.get("/no/such/page", headers={"Accept-Language": "en"})
    assert missing.status_code == 404
    assert "Page not found" in missing.get_data(as_text=True)
    assert "WORLD OME NET" in missing.get_data(as_text=True)
    login(client, "alice@example.com")
    forbidden = client.get("/admin/privacy/", headers={"Accept-Language": "en"})
    assert forbidden.status_code == 403
    assert "Not allowed" in forbidden.get_data(as_text=True)


def test_text_settings_are_shown_in_the_readers_language(seeded_app, client) -> None:
    # The example site writes its business details in English and gives the Japanese in its catalog.
    japanese = client.get("/privacy/purposes", headers={"Accept-Language": "ja"}).get_data(as_text=True)
    assert "株式会社クラフターズ" in japanese
    assert "東京都千代田区丸の内二丁目4番1号" in japanese
    english = client.get("/privacy/purposes", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "Crafters Inc. Privacy Inquiry Desk" in english
    assert "株式会社クラフターズ" not in english


def test_survey_answers_are_labelled_by_their_question_on_the_data_page(seeded_app, client, login):
    import re

    login(client, "alice@example.com")
    text = client.get("/account/privacy/data", headers={"Accept-Language": "ja"}).get_data(as_text=True)
    row = re.search(r"<tr>\s*<th scope=\"row\">仕事にやりがいを感じている.*?</tr>", text, re.S)
    assert row, "the question should label its answer"
    assert "ややそう思う" in row.group(0)


def test_every_privacy_link_on_the_account_page_opens_a_page(seeded_app, client, login):
    import re

    login(client, "alice@example.com")
    text = client.get("/account", headers={"Accept-Language": "en"}).get_data(as_text=True)
    section = re.search(r'<section class="card privacy-card".*?</section>', text, re.S).group(0)
    links = re.findall(r'href="([^"#]+)(?:#[^"]*)?"', section)
    assert len(links) >= 5
    for href in links:
        assert client.get(href).status_code == 200, href
