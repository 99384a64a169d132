"""The example site's own security (issue 7, items 1-6, 9, 13 and 17's site part).

What a probe of `make demo` found, each through the real site: a public ``SECRET_KEY``, the
demo Facebook sign-in open to anyone, sessions that outlived sign-out and password changes,
unlimited sign-in attempts, ``/account`` cacheable, session cookie settings, 500s on a
hostile ``next``, and the "sign in again" reason that never reached the person.
"""

from __future__ import annotations

import logging
import os
import stat
import threading
import time
from html import unescape
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import sqlalchemy as sa

ALICE, BOB, CAROL, STAFF = "alice@example.com", "bob@example.com", "carol@example.com", "staff@example.com"
OLD_PUBLIC_KEY = "dev-only-not-secret-change-me"
WITHDRAW = "/account/privacy/sns/facebook/withdraw"
TOO_MANY_JA = "ログインの試行が多すぎます。"


def text(response: Any) -> str:
    return unescape(response.get_data(as_text=True))


def user_by_email(email: str) -> Any:
    from example_app.models import User, db

    return db.session.scalar(sa.select(User).where(User.email == email))


def attempt(client: Any, csrf_token: Any, email: str, password: str, **environ: str) -> Any:
    token = csrf_token(client, "/login")
    return client.post(
        "/login",
        data={"email": email, "password": password, "csrf_token": token},
        environ_base=environ,
    )


# --- 1. SECRET_KEY ---------------------------------------------------------------------------


@pytest.fixture
def production_config(database_url: str, document_key: str, monkeypatch: pytest.MonkeyPatch) -> dict:
    """The site as it starts outside testing, with no SECRET_KEY in the environment."""
    monkeypatch.delenv("SECRET_KEY", raising=False)
    return {"SQLALCHEMY_DATABASE_URI": database_url, "OME_PRIVACY_DOCUMENT_KEYS": document_key}


def test_without_a_secret_key_one_is_made_once_in_the_instance_folder(_schema, production_config, tmp_path):
    import example_app

    first = example_app.create_app(production_config, instance_path=str(tmp_path))
    path = tmp_path / "secret-key.txt"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert first.secret_key == path.read_text().strip()
    assert len(first.secret_key) >= 64 and first.secret_key != OLD_PUBLIC_KEY
    again = example_app.create_app(production_config, instance_path=str(tmp_path))
    assert again.secret_key == first.secret_key  # sessions survive a restart
    elsewhere = example_app.create_app(production_config, instance_path=str(tmp_path / "other"))
    assert elsewhere.secret_key != first.secret_key  # every installation its own


def test_processes_starting_together_share_one_key(tmp_path):
    from flask import Flask

    from example_app import _instance_secret, _random_secret_key

    app = Flask("race", instance_path=str(tmp_path))
    keys: list[str] = []
    start = threading.Barrier(8)

    def run() -> None:
        start.wait()
        keys.append(_instance_secret(app, "secret-key.txt", _random_secret_key))

    threads = [threading.Thread(target=run) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(keys) == 8 and len(set(keys)) == 1 and keys[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["secret-key.txt"]  # no partial files left


def test_a_cookie_signed_with_the_old_public_key_signs_nobody_in(seeded_app, production_config, tmp_path):
    from flask import Flask
    from flask.sessions import SecureCookieSessionInterface

    import example_app

    app = example_app.create_app(production_config, instance_path=str(tmp_path))
    with app.app_context():
        alice = user_by_email(ALICE)
        forged_session = {"_user_id": alice.get_id(), "_fresh": True, "ome_privacy_auth_at": int(time.time())}
    forger = Flask("attacker")
    forger.secret_key = OLD_PUBLIC_KEY
    cookie = SecureCookieSessionInterface().get_signing_serializer(forger).dumps(forged_session)
    client = app.test_client()
    client.set_cookie("session", cookie)
    response = client.get("/account/privacy/data")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_the_site_refuses_to_start_with_the_old_public_key(_schema, production_config, tmp_path):
    import example_app

    with pytest.raises(RuntimeError, match="published key"):
        example_app.create_app(
            {**production_config, "SECRET_KEY": OLD_PUBLIC_KEY}, instance_path=str(tmp_path)
        )
    assert not hasattr(example_app, "DEV_SECRET_KEY")


# --- 2. the demo Facebook sign-in ------------------------------------------------------------


@pytest.fixture
def no_demo_app(app_config: dict, _schema: list[str]) -> Any:
    import example_app

    application = example_app.create_app({**app_config, "WORLD_OME_DEMO": False})
    from helpers import seed_demo_data

    seed_demo_data(application)
    return application


def test_without_the_demo_flag_there_is_no_facebook_demo_and_no_list_of_accounts(no_demo_app, seeded_app):
    client = no_demo_app.test_client()
    page = text(client.get("/login"))
    for email in (ALICE, CAROL):
        assert email not in page
    assert "Facebookでログイン" not in page
    assert "/login/facebook/demo" not in page
    token = client.get("/login")
    from helpers import extract_csrf_token

    response = client.post(
        "/login/facebook/demo",
        data={"email": CAROL, "csrf_token": extract_csrf_token(token.get_data(as_text=True))},
    )
    assert response.status_code == 404
    assert client.get("/account").status_code == 302  # carol is not signed in


def test_the_demo_flag_comes_from_the_environment(app, monkeypatch):
    import example_app

    monkeypatch.delenv("WORLD_OME_DEMO", raising=False)
    assert example_app.default_config(app)["WORLD_OME_DEMO"] is False
    monkeypatch.setenv("WORLD_OME_DEMO", "1")
    assert example_app.default_config(app)["WORLD_OME_DEMO"] is True


def test_makefile_demo_turns_the_demo_on():
    makefile = (Path(__file__).resolve().parent.parent / "Makefile").read_text()
    demo = makefile.split("\ndemo:", 1)[1].split("\n\n", 1)[0]
    assert "WORLD_OME_DEMO=1" in demo


def test_with_the_demo_flag_the_sign_in_page_says_the_facebook_button_is_a_demo(seeded_app, client):
    page = text(client.get("/login"))
    assert "デモ専用" in page
    assert "Facebookには接続しません" in page
    assert CAROL in page


def test_setting_a_first_password_long_after_sign_in_asks_to_sign_in_again_and_says_why(
    seeded_app, client, csrf_token
):
    token = csrf_token(client, "/login")
    client.post("/login/facebook/demo", data={"email": CAROL, "csrf_token": token})
    with client.session_transaction() as session:
        session["ome_privacy_auth_at"] = int(time.time()) - 3600
    token = csrf_token(client, "/account")
    response = client.post(
        "/account/password",
        data={"new_password": "carol-new-pass", "confirm": "carol-new-pass", "csrf_token": token},
    )
    assert response.status_code == 303
    assert response.headers["Location"].startswith("/login?next=")
    page = text(client.get(response.headers["Location"]))
    # the package's reason, on the sign-in page
    assert "安全のため、続けるにはもう一度ログインしてください。" in page
    assert 'name="next" type="hidden" value="/account"' in page  # Flask-Login drops the #fragment
    with seeded_app.app_context():
        assert user_by_email(CAROL).password_hash is None


# --- 3. sessions end -------------------------------------------------------------------------


def test_a_saved_cookie_stops_working_after_sign_out(seeded_app, client, login, logout):
    login(client, ALICE)
    saved = client.get_cookie("session").value
    assert client.get("/account/privacy/data").status_code == 200
    logout(client)

    thief = seeded_app.test_client()
    thief.set_cookie("session", saved)
    response = thief.get("/account/privacy/data")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_a_password_change_signs_out_the_other_browsers_but_not_this_one(seeded_app, login, csrf_token):
    here, other = seeded_app.test_client(), seeded_app.test_client()
    login(here, BOB)
    login(other, BOB)
    assert other.get("/account").status_code == 200
    token = csrf_token(here, "/account")
    changed = here.post(
        "/account/password",
        data={
            "current_password": "demo-password",
            "new_password": "bob-new-password",
            "confirm": "bob-new-password",
            "csrf_token": token,
        },
    )
    assert changed.status_code == 302
    assert here.get("/account").status_code == 200
    assert other.get("/account").status_code == 302


def test_the_staff_desk_can_end_every_session_of_an_account(seeded_app, client, login):
    from example_app.auth import end_all_sessions
    from example_app.models import db

    login(client, ALICE)
    with seeded_app.app_context():
        end_all_sessions(user_by_email(ALICE))
        db.session.commit()
    assert client.get("/account").status_code == 302


def test_privacy_records_keep_the_stable_id_when_sessions_end(seeded_app, client, login, logout):
    from example_app import privacy
    from flask_ome_privacy.extension import user_id_of

    with seeded_app.app_context():
        alice = user_by_email(ALICE)
        token_before, alice_id = alice.get_id(), alice.id
        assert user_id_of(alice) == str(alice_id)
        privacy.notify(alice, "test", "KEEP-THIS-NOTICE")
    login(client, ALICE)
    logout(client)
    login(client, ALICE)
    with seeded_app.app_context():
        assert user_by_email(ALICE).get_id() != token_before
        assert privacy.load_user(str(alice_id)).email == ALICE  # the staff pages' loader
    assert "KEEP-THIS-NOTICE" in text(client.get("/account/privacy/notifications"))


def test_signing_in_starts_a_new_session_but_keeps_the_language(seeded_app, client, csrf_token, login):
    token = csrf_token(client, "/")
    client.post("/lang", data={"lang": "en", "next": "/", "csrf_token": token})
    old_token = csrf_token(client, "/")
    login(client, ALICE)
    assert "Account settings" in text(client.get("/account"))  # still English
    refused = client.post("/lang", data={"lang": "ja", "next": "/", "csrf_token": old_token})
    assert refused.status_code == 400  # the form token from before signing in no longer works


def test_signing_out_starts_a_new_session_but_keeps_the_language(seeded_app, client, csrf_token, login):
    login(client, ALICE)
    token = csrf_token(client, "/account")
    client.post("/lang", data={"lang": "en", "next": "/", "csrf_token": token})
    old_token = csrf_token(client, "/")
    client.post("/logout", data={"csrf_token": old_token})
    assert "You have signed out." in text(client.get("/"))
    assert client.post("/lang", data={"lang": "ja", "csrf_token": old_token}).status_code == 400


# --- 4. sign-in rate limit -------------------------------------------------------------------


def test_many_wrong_passwords_then_the_right_one_is_refused_for_a_while(
    seeded_app, client, csrf_token, caplog
):
    caplog.set_level(logging.INFO)
    for _ in range(10):  # the shipped limit: 10 failed sign-ins per account in 15 minutes
        assert attempt(client, csrf_token, ALICE, "wrong-password").status_code == 200
    response = attempt(client, csrf_token, ALICE, "demo-password")
    assert response.status_code == 429
    assert 0 < int(response.headers["Retry-After"]) <= 15 * 60 + 1  # whole seconds, rounded up
    page = text(response)
    assert TOO_MANY_JA in page
    assert f'value="{ALICE}"' in page  # what was typed is kept
    assert client.get("/account").status_code == 302
    assert "ratelimit" in caplog.text  # the limiter logged the breach ...
    assert ALICE not in caplog.text and "127.0.0.1" not in caplog.text  # ... without the email or address


LOW_LIMITS = {
    "SIGN_IN_LIMIT_PER_ACCOUNT": "3 per 15 minutes",
    "SIGN_IN_LIMIT_PER_ADDRESS": "6 per 15 minutes",
}


@pytest.fixture
def low_limits(seeded_app: Any) -> Any:
    """Lower limits, so the tests need few attempts (the limits are read on every request)."""
    seeded_app.config.update(LOW_LIMITS)
    return seeded_app


@pytest.mark.parametrize("email", [ALICE, "nobody@example.com"])
def test_known_and_unknown_accounts_get_the_same_answer(low_limits, client, csrf_token, email):
    for _ in range(3):
        attempt(client, csrf_token, email, "wrong-password")
    response = attempt(client, csrf_token, email, "wrong-password")
    assert response.status_code == 429
    assert "Retry-After" in response.headers
    page = text(response)
    assert TOO_MANY_JA in page
    assert "正しくありません" not in page
    assert "Facebookで登録された方" not in page  # the wrong-password hint does not belong here


def test_the_account_limit_holds_from_another_address_and_other_accounts_still_sign_in(
    low_limits, client, csrf_token
):
    for _ in range(3):
        attempt(client, csrf_token, ALICE, "wrong-password", REMOTE_ADDR="10.0.0.1")
    elsewhere = low_limits.test_client()
    assert attempt(elsewhere, csrf_token, ALICE, "demo-password", REMOTE_ADDR="10.0.0.2").status_code == 429
    assert attempt(elsewhere, csrf_token, BOB, "demo-password", REMOTE_ADDR="10.0.0.2").status_code == 302


def test_one_address_trying_many_accounts_is_limited(low_limits, client, csrf_token):
    for n in range(6):
        assert attempt(client, csrf_token, f"guess{n}@example.com", "x-password").status_code == 200
    assert attempt(client, csrf_token, BOB, "demo-password").status_code == 429
    other_address = low_limits.test_client()
    assert attempt(other_address, csrf_token, BOB, "demo-password", REMOTE_ADDR="10.9.9.9").status_code == 302


def test_successful_sign_ins_are_not_counted(low_limits, client, csrf_token, logout):
    for _ in range(5):
        assert attempt(client, csrf_token, BOB, "demo-password").status_code == 302
        logout(client)


def test_limits_are_shared_through_redis_when_configured(_schema, app_config, redis_url, csrf_token):
    from helpers import seed_demo_data

    import example_app

    config = {
        **app_config,
        **LOW_LIMITS,
        "RATELIMIT_STORAGE_URI": redis_url,
        "RATELIMIT_KEY_PREFIX": f"t{os.getpid()}",
    }
    worker_one = example_app.create_app(config)
    seed_demo_data(worker_one)
    worker_two = example_app.create_app(config)  # another process of the same site
    client_one, client_two = worker_one.test_client(), worker_two.test_client()
    for _ in range(3):
        attempt(client_one, csrf_token, ALICE, "wrong-password")
    assert attempt(client_two, csrf_token, ALICE, "demo-password").status_code == 429

    import redis

    stored = redis.Redis.from_url(redis_url).keys(f"*t{os.getpid()}*")
    assert stored, "the counts were not kept in Redis"
    assert not any(b"alice" in key or b"127.0.0.1" in key for key in stored)  # no personal data in keys
    from example_app.models import db

    with worker_one.app_context():
        from helpers import empty_tables

        db.session.remove()
        empty_tables(db.engine, _schema)
        db.engine.dispose()


def test_the_storage_comes_from_the_environment(app, monkeypatch):
    import example_app

    for name in ("RATELIMIT_STORAGE_URI", "REDIS_URL"):
        monkeypatch.delenv(name, raising=False)
    assert example_app.default_config(app)["RATELIMIT_STORAGE_URI"] == "memory://"
    monkeypatch.setenv("REDIS_URL", "redis://cache.internal:6379/0")
    assert example_app.default_config(app)["RATELIMIT_STORAGE_URI"] == "redis://cache.internal:6379/0"
    monkeypatch.setenv("RATELIMIT_STORAGE_URI", "redis://limits.internal:6379/2")
    assert example_app.default_config(app)["RATELIMIT_STORAGE_URI"] == "redis://limits.internal:6379/2"


# --- 5. and 6. caching and the session cookie ------------------------------------------------


def test_the_account_page_is_never_stored(seeded_app, client, login, csrf_token):
    login(client, ALICE)
    assert client.get("/account").headers["Cache-Control"] == "no-store"
    token = csrf_token(client, "/account")
    shown_again = client.post("/account/password", data={"new_password": "short", "csrf_token": token})
    assert shown_again.status_code == 200
    assert shown_again.headers["Cache-Control"] == "no-store"


def test_the_session_cookie_is_samesite_lax_and_not_secure_over_http(seeded_app, client, login):
    response = login(client, ALICE)
    cookie = response.headers["Set-Cookie"]
    assert "SameSite=Lax" in cookie and "HttpOnly" in cookie
    assert "Secure" not in cookie


def test_the_session_cookie_is_secure_when_the_site_is_served_over_https(
    _schema, app_config, monkeypatch, csrf_token
):
    from helpers import extract_csrf_token

    import example_app

    monkeypatch.setenv("WORLD_OME_HTTPS", "1")
    config = {key: value for key, value in app_config.items()}
    config.pop("SESSION_COOKIE_SECURE", None)
    https_app = example_app.create_app(config)
    client = https_app.test_client()
    page = client.get("/login", base_url="https://localhost")
    token = extract_csrf_token(page.get_data(as_text=True))
    assert "Secure" in page.headers["Set-Cookie"]
    assert "SameSite=Lax" in page.headers["Set-Cookie"]
    assert token


# --- 9. hostile ``next`` ---------------------------------------------------------------------

HOSTILE_NEXT = [
    "/account\nSet-Cookie: x=1",
    "/\r\nLocation: https://evil.example/",
    "\n",
    "/\t/evil.example/",
    "/acc\x00ount",
    "/" + "a" * 10_000,
    "//evil.example/",
    "https://evil.example/",
    "/\\evil.example",
    "javascript:alert(1)",
    "/%0d%0aSet-Cookie:%20x=1",
]


@pytest.mark.parametrize("next_url", HOSTILE_NEXT, ids=range(len(HOSTILE_NEXT)))
def test_hostile_next_on_sign_in_falls_back_to_the_default_page(seeded_app, client, csrf_token, next_url):
    assert client.get("/login?next=" + quote(next_url, safe="")).status_code == 200
    token = csrf_token(client, "/login")
    response = client.post(
        "/login", data={"email": BOB, "password": "demo-password", "next": next_url, "csrf_token": token}
    )
    assert response.status_code == 302
    location = response.headers["Location"]
    assert location in ("/account", next_url)
    assert "\n" not in location and "\r" not in location and not location.startswith("//")


@pytest.mark.parametrize("next_url", HOSTILE_NEXT, ids=range(len(HOSTILE_NEXT)))
def test_hostile_next_on_the_facebook_demo_and_language_switch(seeded_app, client, csrf_token, next_url):
    token = csrf_token(client, "/login")
    demo = client.post("/login/facebook/demo", data={"email": CAROL, "next": next_url, "csrf_token": token})
    assert demo.status_code == 302
    assert demo.headers["Location"] in ("/account", next_url)
    token = csrf_token(client, "/")
    switched = client.post("/lang", data={"lang": "en", "next": next_url, "csrf_token": token})
    assert switched.status_code == 302
    assert switched.headers["Location"] in ("/", next_url)


def test_the_percent_encoded_newline_is_a_harmless_path(seeded_app, client, csrf_token):
    token = csrf_token(client, "/")
    response = client.post("/lang", data={"lang": "en", "next": "/%0d%0a", "csrf_token": token})
    assert response.headers["Location"] == "/%0d%0a"  # stays encoded: no header is split


# --- 13. and 17. what the person is told ----------------------------------------------------


def test_the_sign_in_again_reason_reaches_the_sign_in_page(seeded_app, client, login):
    login(client, ALICE)
    with client.session_transaction() as session:
        session["ome_privacy_auth_at"] = int(time.time()) - 3600
    response = client.get(WITHDRAW)
    assert response.status_code == 303
    page = text(client.get(response.headers["Location"]))
    assert "安全のため、続けるにはもう一度ログインしてください。" in page
    assert "ログイン中です" in page  # and that they are signed in already
    assert f'name="email" required type="email" value="{ALICE}"' in page  # only the password to type


def test_the_layout_shows_the_privacy_extensions_messages_on_the_sites_pages(seeded_app, client):
    with client.session_transaction() as session:
        session["_flashes"] = [("ome_privacy", "PRIVACY-NOTICE"), ("ome_privacy_error", "PRIVACY-ERROR")]
    page = text(client.get("/"))
    assert page.count("PRIVACY-NOTICE") == 1 and page.count("PRIVACY-ERROR") == 1


def test_a_signed_out_visitor_is_asked_to_sign_in_to_continue(seeded_app, client, csrf_token):
    response = client.get("/account/privacy/data")
    assert response.status_code == 302
    page = text(client.get(response.headers["Location"]))
    assert "続行するにはログインしてください。" in page
    token = csrf_token(client, "/")
    client.post("/lang", data={"lang": "en", "next": "/", "csrf_token": token})
    page = text(client.get(client.get("/account").headers["Location"]))
    assert "Please sign in to continue." in page


def test_staff_land_on_the_queue_and_see_a_link_to_it(seeded_app, client, login):
    response = login(client, STAFF)
    assert response.headers["Location"] == "/admin/privacy/"
    for path in ("/", "/account"):
        assert 'href="/admin/privacy/"' in text(client.get(path))


def test_members_do_not_see_the_staff_queue_link(seeded_app, client, login):
    login(client, ALICE)
    for path in ("/", "/account"):
        assert 'href="/admin/privacy/"' not in text(client.get(path))


def test_carols_set_a_password_link_opens_the_password_form(seeded_app, client, csrf_token):
    token = csrf_token(client, "/login")
    client.post("/login/facebook/demo", data={"email": CAROL, "csrf_token": token})
    page = text(client.get("/account/privacy/sns"))
    assert 'href="/account#password"' in page
    assert 'id="password"' in text(client.get("/account"))


# --- an old demo database --------------------------------------------------------------------


def test_make_demo_gives_an_old_demo_database_session_tokens(tmp_path, document_key):
    """A demo database made before ``users.session_token``: ``demo-setup`` adds it, one token each."""
    import example_app
    from example_app.models import db

    url = f"sqlite:///{tmp_path / 'old-demo.sqlite'}"
    app = example_app.create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "test",
            "SQLALCHEMY_DATABASE_URI": url,
            "OME_PRIVACY_DOCUMENT_KEYS": document_key,
        }
    )
    with app.app_context():
        db.create_all()
        users = db.metadata.tables["users"]
        old_users = sa.Table(
            "users",
            sa.MetaData(),
            *(column._copy() for column in users.columns if column.name != "session_token"),
        )
        with db.engine.begin() as connection:  # the users table as it was
            connection.exec_driver_sql("DROP TABLE users")
            old_users.create(connection)
            connection.exec_driver_sql(
                "INSERT INTO users (id, email, name, is_staff, created_at) "
                "VALUES (99, 'early@example.com', 'Early', 0, '2026-01-01 00:00:00')"
            )
        db.engine.dispose()

    result = app.test_cli_runner().invoke(args=["demo-setup"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        tokens = db.session.execute(sa.text("SELECT email, session_token FROM users")).all()
        db.engine.dispose()
    assert len(tokens) >= 6 and all(token for _, token in tokens)
    assert len({token for _, token in tokens}) == len(tokens)
    client = app.test_client()
    from helpers import extract_csrf_token

    token = extract_csrf_token(client.get("/login").get_data(as_text=True))
    signed_in = client.post("/login", data={"email": BOB, "password": "demo-password", "csrf_token": token})
    assert signed_in.status_code == 302
    assert client.get("/account").status_code == 200
