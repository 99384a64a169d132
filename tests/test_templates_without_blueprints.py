"""Our templates render from a host's own views with ``OME_PRIVACY_REGISTER_BLUEPRINTS = False``
(issue 6, point 5): the template helpers are installed app-wide, not on our blueprints.

A host that mounts the pages inside its own admin or account area registers our
blueprint builders under its own prefixes and serves pages from its own endpoints.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import render_template
from privacy_host import Host, MakeHost

from flask_ome_privacy.views import (
    account,
    build_account_blueprint,
    build_public_blueprint,
    build_staff_blueprint,
    consents,
    data,
    notifications,
    public,
    sns,
    staff,
)

#: Host URL -> our view function, each rendering one page template.
PAGES: dict[str, Callable[[], object]] = {
    "overview": account.overview,
    "data": data.data_page,
    "data-export": data.export_page,
    "account-purposes": consents.purposes,
    "sns": sns.sns,
    "notifications": notifications.notifications,
    "public-purposes": public.purposes,
    "staff-queue": staff.queue,
    "staff-register-mailed": staff.register_mailed,
}


@pytest.fixture
def host(make_host: MakeHost) -> Host:
    host = make_host(members=["1"], OME_PRIVACY_REGISTER_BLUEPRINTS=False)
    app = host.app
    assert "ome_privacy_account" not in app.blueprints
    app.register_blueprint(build_account_blueprint(), url_prefix="/members/privacy")
    app.register_blueprint(build_public_blueprint(), url_prefix="/legal")
    app.register_blueprint(build_staff_blueprint(), url_prefix="/backoffice/privacy")
    for name, view in PAGES.items():
        app.add_url_rule(f"/host/{name}", f"host_{name}", view)

    @app.route("/host/base")
    def host_base() -> str:
        return render_template("ome_privacy/base.html")

    return host


def test_the_base_template_renders_from_a_host_view(host: Host) -> None:
    response = host.app.test_client().get("/host/base", headers={"Accept-Language": "en"})
    assert response.status_code == 200
    assert "/_ome_privacy/static/privacy.css" in response.get_data(as_text=True)


@pytest.mark.parametrize("page", sorted(PAGES))
def test_each_page_template_renders_from_a_host_view(host: Host, page: str) -> None:
    response = host.client_for("1", language="en").get(f"/host/{page}")
    assert response.status_code == 200, response.get_data(as_text=True)[:2000]
    text = response.get_data(as_text=True)
    assert "omep" in text
    # links point where the host mounted the pages
    assert "/account/privacy" not in text
