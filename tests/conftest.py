"""The test database and the fixtures every test file shares.

Which database: ``OME_TEST_DB`` — ``sqlite`` (default) or ``postgresql``.

* SQLite: one fresh file per test session, in pytest's temporary directory.
* PostgreSQL: ``OME_TEST_PG_URL`` (default ``postgresql+psycopg://postgres@127.0.0.1:5432/test``)
  is used only to ``CREATE DATABASE ome_test_<random>``; the run uses that database and
  drops it at the end. If PostgreSQL does not answer, the run stops at once: with
  ``CI=true`` as a failure, otherwise as a visible skip (exit code 0).

The schema is created once per session (our Alembic migrations, then the example site's
``db.create_all()``); after every test that used the database all tables are emptied, so
each test starts from empty tables (``seeded``/``seeded_app`` add the demo data).

The ``app`` fixture does not push an app context on purpose: a request made while one is
pushed reuses it, and with it ``g`` (Flask-Login's cached user) and the database session.
Use ``with app.app_context():`` around direct database work.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from helpers import (
    DEMO_PASSWORD,
    LOGIN_URL,
    QueryLog,
    base_config,
    data_tables,
    db_kind,
    empty_tables,
    extract_csrf_token,
    fresh_database,
    in_ci,
    log_queries,
    pg_admin_url,
    seed_demo_data,
)

# The small host of our own (tests/privacy_host.py) and its ``make_host`` / ``host`` fixtures.
pytest_plugins = ["privacy_host"]



# --- session start: is PostgreSQL there? ----------------------------------------------------


def pytest_report_header(config: pytest.Config) -> str:
    kind = db_kind()
    where = pg_admin_url().render_as_string(hide_password=True) if kind == "postgresql" else "temp file"
    return f"flask-ome-privacy test database: {kind} ({where})"


def pytest_sessionstart(session: pytest.Session) -> None:
    if db_kind() != "postgresql":
        return
    url = pg_admin_url()
    engine = sa.create_engine(url, connect_args={"connect_timeout": 3}, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
    except Exception as exc:  # any failure to connect means the same thing here
        where = f"{url.host or '127.0.0.1'}:{url.port or 5432}"
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if in_ci():
            pytest.exit(
                f"PostgreSQL not reachable at {where} (CI=true, so this is a failure): {reason}", returncode=3
            )
        print(f"\n({reason})", file=sys.stderr)
        pytest.exit(f"PostgreSQL not reachable at {where} — skipping the PostgreSQL run", returncode=0)
    finally:
        engine.dispose()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    kind = db_kind()
    skip_browser = pytest.mark.skip(reason="browser tests run in the SQLite run only")
    skip_postgres = pytest.mark.skip(reason="needs OME_TEST_DB=postgresql")
    for item in items:
        if kind == "postgresql" and "browser" in item.keywords:
            item.add_marker(skip_browser)
        if kind != "postgresql" and "postgres" in item.keywords:
            item.add_marker(skip_postgres)


# --- the database ------------------------------------------------------------------------


@pytest.fixture(scope="session")
def database_kind() -> str:
    """``"sqlite"`` or ``"postgresql"``: the database this run was asked for (``OME_TEST_DB``)."""
    return db_kind()


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of this session's empty test database (created here, dropped at the end)."""
    with fresh_database(tmp_path_factory.mktemp("db")) as url:
        yield url


@pytest.fixture(scope="session")
def document_key() -> str:
    """A Fernet key for identity documents, one per session."""
    from cryptography.fernet import Fernet

    return Fernet.generate_key().decode()


def create_schema(app: Any) -> None:
    """Our Alembic migrations, then the example site's own tables."""
    from example_app.models import db
    from flask_ome_privacy.migrate import upgrade

    upgrade(app)
    with app.app_context():
        db.create_all()


@pytest.fixture(scope="session")
def prepare_database(document_key: str) -> Callable[..., None]:
    """``prepare_database(url, seed=True)``: schema (and demo data) in another, empty database.

    For tests that need a database of their own, such as the browser tests' live server.
    """

    def prepare(url: str, seed: bool = True) -> None:
        import example_app
        from example_app.models import db

        app = example_app.create_app(base_config(url, document_key))
        create_schema(app)
        if seed:
            seed_demo_data(app)
        with app.app_context():
            db.engine.dispose()

    return prepare


@pytest.fixture(scope="session", autouse=True)
def _fast_password_hashing() -> Iterator[None]:
    """Hash passwords with one pbkdf2 round in tests: scrypt costs ~0.15 s per hash and per sign-in.

    Only the example site's ``models.generate_password_hash`` is replaced; checking reads the
    method from the stored hash, so signing in stays real. ``OME_TEST_REAL_HASHING=1`` turns it off.
    """
    if os.environ.get("OME_TEST_REAL_HASHING"):
        yield
        return
    from werkzeug.security import generate_password_hash

    from example_app import models

    patch = pytest.MonkeyPatch()
    if hasattr(models, "generate_password_hash"):
        quick = functools.partial(generate_password_hash, method="pbkdf2:sha256:1")
        patch.setattr(models, "generate_password_hash", quick)
    yield
    patch.undo()


@pytest.fixture(scope="session")
def _schema(database_url: str, document_key: str) -> list[str]:
    """Create the schema once per session; returns the names of the tables to empty."""
    import example_app

    app = example_app.create_app(base_config(database_url, document_key))
    create_schema(app)
    with app.app_context():
        from example_app.models import db

        tables = data_tables(db.engine)
        db.engine.dispose()
    return tables


# --- the app and its client ----------------------------------------------------------------


@pytest.fixture
def app_config(database_url: str, document_key: str) -> dict[str, Any]:
    """Config handed to ``create_app``. Override in a test module to add keys::

    @pytest.fixture
    def app_config(app_config):
        return {**app_config, "OME_PRIVACY_FEE_YEN": 0}
    """
    return base_config(database_url, document_key)


@pytest.fixture
def app(_schema: list[str], app_config: dict[str, Any]) -> Iterator[Any]:
    """The example site on the test database: schema present, every table empty, no app context pushed."""
    import example_app
    from example_app.models import db

    application = example_app.create_app(app_config)
    yield application
    with application.app_context():
        db.session.remove()
        empty_tables(db.engine, _schema)
        db.engine.dispose()


@pytest.fixture
def db(app: Any) -> Any:
    """The example site's Flask-SQLAlchemy object (use it inside ``with app.app_context():``)."""
    from example_app.models import db as site_db

    return site_db


@pytest.fixture
def client(app: Any) -> Any:
    return app.test_client()


@pytest.fixture
def seeded(app: Any) -> Any:
    """Runs ``example_app.seed.seed_demo`` on the empty database; the value is what it returns."""
    return seed_demo_data(app)


@pytest.fixture
def seeded_app(app: Any, seeded: Any) -> Any:
    """The ``app`` fixture with the demo users and data in it."""
    return app


# --- forms, CSRF and signing in --------------------------------------------------------------


@pytest.fixture
def csrf_token() -> Callable[[Any, str], str]:
    """``csrf_token(client, url)``: GET ``url`` (must answer 200) and return its form's CSRF token."""

    def get_token(client: Any, url: str) -> str:
        response = client.get(url)
        assert response.status_code == 200, f"GET {url} answered {response.status_code}, expected 200"
        return extract_csrf_token(response.get_data(as_text=True))

    return get_token


@pytest.fixture
def login(csrf_token: Callable[[Any, str], str]) -> Callable[..., Any]:
    """``login(client, email, password="demo-password")`` signs in through the real form.

    Returns the POST's response (not followed). Fails the test when the sign-in does not
    redirect, unless ``expect_success=False``.
    """

    def sign_in(
        client: Any, email: str, password: str = DEMO_PASSWORD, *, expect_success: bool = True
    ) -> Any:
        token = csrf_token(client, LOGIN_URL)
        response = client.post(LOGIN_URL, data={"email": email, "password": password, "csrf_token": token})
        if expect_success:
            assert response.status_code == 302, (
                f"signing in as {email} answered {response.status_code}, expected a redirect"
            )
        return response

    return sign_in


@pytest.fixture
def logout(csrf_token: Callable[[Any, str], str]) -> Callable[[Any], Any]:
    """``logout(client)``: POST /logout with a token taken from the signed-in home page."""

    def sign_out(client: Any, token_from: str = "/") -> Any:
        token = csrf_token(client, token_from)
        return client.post("/logout", data={"csrf_token": token})

    return sign_out


# --- counting queries ------------------------------------------------------------------------


@pytest.fixture
def count_queries(app: Any, db: Any) -> Callable[[], contextlib.AbstractContextManager[QueryLog]]:
    """``with count_queries() as queries: ...`` then ``assert queries.count <= 5, str(queries)``.

    Counts every SQL statement sent on the app's engine (``before_cursor_execute``).
    """
    with app.app_context():
        engine = db.engine
    return functools.partial(log_queries, engine)


# --- Redis (jobs) ------------------------------------------------------------------------------


@pytest.fixture
def redis_url() -> Iterator[str]:
    """A Redis database for jobs (``OME_TEST_REDIS_URL``, default db 15), flushed before and after.

    Skips the test when Redis does not answer, except under CI=true where that fails.
    """
    url = os.environ.get("OME_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
    try:
        import redis

        connection = redis.Redis.from_url(url, socket_connect_timeout=2)
        connection.ping()
    except Exception as exc:  # any failure: Redis is not usable here
        if in_ci():
            pytest.fail(f"Redis not reachable at {url}: {exc}")
        pytest.skip(f"Redis not reachable at {url}")
    connection.flushdb()
    try:
        yield url
    finally:
        connection.flushdb()
        connection.close()
