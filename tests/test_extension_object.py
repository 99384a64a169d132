"""The extension object: registration, configuration, prefixes, per-app state."""

from __future__ import annotations

import pytest
from flask import Flask
from flask_sqlalchemy import SQLAlchemy
from privacy_host import MakeHost

from flask_ome_privacy import OmePrivacy
from flask_ome_privacy.config import ConfigError
from flask_ome_privacy.extension import get_state


def bare_app(**config: object) -> Flask:
    app = Flask(__name__)
    app.config.update(SECRET_KEY="x", SQLALCHEMY_DATABASE_URI="sqlite://", **config)
    return app


def test_init_app_stores_state_in_app_extensions() -> None:
    app = bare_app()
    db = SQLAlchemy(app)
    privacy = OmePrivacy(app, db=db)
    state = app.extensions["ome_privacy"]
    assert state.extension is privacy
    assert state.db is db


def test_registering_twice_on_one_app_is_a_clear_error() -> None:
    app = bare_app()
    db = SQLAlchemy(app)
    privacy = OmePrivacy(app, db=db)
    with pytest.raises(RuntimeError, match="already registered"):
        privacy.init_app(app, db=db)


def test_missing_db_is_a_clear_error() -> None:
    with pytest.raises(RuntimeError, match=r"init_app\(app, db=db\)"):
        OmePrivacy(bare_app())


def test_unknown_setting_is_an_error_that_names_it() -> None:
    app = bare_app(OME_PRIVACY_FEE_YENN=500)
    with pytest.raises(ConfigError, match="OME_PRIVACY_FEE_YENN"):
        OmePrivacy(app, db=SQLAlchemy(app))


def test_defaults_are_applied_and_host_values_kept() -> None:
    app = bare_app(OME_PRIVACY_RESPONSE_DAYS=10)
    OmePrivacy(app, db=SQLAlchemy(app))
    assert app.config["OME_PRIVACY_RESPONSE_DAYS"] == 10
    assert app.config["OME_PRIVACY_FEE_YEN"] == 1000
    assert app.config["OME_PRIVACY_ACCOUNT_URL_PREFIX"] == "/account/privacy"


def test_state_without_init_app_tells_the_fix() -> None:
    with pytest.raises(RuntimeError, match="forget to call privacy.init_app"):
        get_state(bare_app())


def test_state_needs_an_app_context() -> None:
    with pytest.raises(RuntimeError, match="application context"):
        _ = OmePrivacy().purposes


def test_one_extension_serves_two_apps_without_mixing() -> None:
    privacy = OmePrivacy()
    first, second = (
        bare_app(),
        bare_app(
            OME_PRIVACY_PURPOSES=[
                {
                    "key": "user_info.newsletter",
                    "category": "user_info",
                    "text": "Newsletter",
                    "added_on": "2026-10-01",
                }
            ]
        ),
    )
    privacy.init_app(first, db=SQLAlchemy(first))
    privacy.init_app(second, db=SQLAlchemy(second))
    with first.app_context():
        assert "user_info.newsletter" not in privacy.purposes.purposes
    with second.app_context():
        assert "user_info.newsletter" in privacy.purposes.purposes


def test_prefixes_are_configurable(make_host: MakeHost) -> None:
    app = make_host(
        members=["1"],
        OME_PRIVACY_ACCOUNT_URL_PREFIX="/me/privacy",
        OME_PRIVACY_PUBLIC_URL_PREFIX="/legal",
        OME_PRIVACY_STAFF_URL_PREFIX="/desk",
    ).app
    client = app.test_client()
    assert client.get("/legal/purposes").status_code == 200
    assert client.get("/privacy/purposes").status_code == 404
    client.get("/_test/sign-in/1")
    assert client.get("/me/privacy/").status_code == 200
    assert client.get("/account/privacy/").status_code == 404
    assert client.get("/desk/").status_code == 403


def test_host_can_decline_the_page_blueprints(make_host: MakeHost) -> None:
    app = make_host(OME_PRIVACY_REGISTER_BLUEPRINTS=False).app
    client = app.test_client()
    assert client.get("/privacy/purposes").status_code == 404
    # The stylesheet (and templates) stay available for the host's own views.
    assert client.get("/_ome_privacy/static/privacy.css").status_code == 200


def test_staff_pages_follow_the_hosts_staff_loader(make_host: MakeHost) -> None:
    host = make_host(members=["1"])
    host.add_member(id="9", staff=True)
    client = host.app.test_client()
    anonymous = client.get("/admin/privacy/")
    assert anonymous.status_code == 401  # no login_view: Flask-Login answers 401
    client.get("/_test/sign-in/1")
    assert client.get("/admin/privacy/").status_code == 403
    client.get("/_test/sign-in/9")
    response = client.get("/admin/privacy/")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"


def test_readme_documents_every_setting_with_its_default() -> None:
    import re
    from pathlib import Path

    from flask_ome_privacy.config import DEFAULT_CONFIG

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"^\| `([A-Z_]+)` \|", readme, re.M))
    assert set(DEFAULT_CONFIG) <= documented, f"README lacks {sorted(set(DEFAULT_CONFIG) - documented)}"
