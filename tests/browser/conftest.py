"""Browser fixtures: a live site in a thread, headless Chromium, accessibility and screenshots.

Every test in this folder is marked ``browser``; the PostgreSQL run skips them. Chromium is
the system one (``make system-deps``), never a Playwright download. The live server runs on
its own SQLite file, a copy of one seeded once per session, so each test starts from the
demo data and no test sees another's changes.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from werkzeug.serving import make_server

REPO_ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO_ROOT / "test-artifacts" / "screenshots"
CHROMIUM = os.environ.get("OME_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
]
FAILING_IMPACTS = ("serious", "critical")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.fspath).parents:
            item.add_marker(pytest.mark.browser)


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").strip().lower() in ("1", "true", "yes"):
        pytest.fail(f"{reason} (CI=true: run `make system-deps` / install the test extras)")
    pytest.skip(reason)


# --- the live site ---------------------------------------------------------------------------


@dataclass
class LiveServer:
    url: str
    app: Any
    database_url: str

    def __call__(self, path: str = "/") -> str:
        return self.url + path


@pytest.fixture(scope="session")
def _seeded_database_file(tmp_path_factory: pytest.TempPathFactory, prepare_database: Callable) -> Path:
    path = tmp_path_factory.mktemp("live") / "seeded.sqlite"
    prepare_database(f"sqlite:///{path}", seed=True)
    return path


@pytest.fixture
def live_server(tmp_path: Path, _seeded_database_file: Path, document_key: str) -> Iterator[LiveServer]:
    """The example site with the demo data, served on 127.0.0.1:<free port> in a thread."""
    import example_app
    from example_app.models import db

    path = tmp_path / "live.sqlite"
    shutil.copyfile(_seeded_database_file, path)
    database_url = f"sqlite:///{path}"
    app = example_app.create_app(
        {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": database_url,
            "WTF_CSRF_ENABLED": True,
            "SECRET_KEY": "test",
            "OME_PRIVACY_DOCUMENT_KEYS": document_key,
            "WORLD_OME_DEMO": True,  # as `make demo` serves it
        }
    )
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    try:
        yield LiveServer(f"http://127.0.0.1:{server.server_port}", app, database_url)
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
        with app.app_context():
            db.engine.dispose()


# --- Chromium --------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def _playwright() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("playwright is not installed")
    if not os.access(CHROMIUM, os.X_OK):
        _unavailable(f"no Chromium at {CHROMIUM}")
    with sync_playwright() as playwright:
        yield playwright


@pytest.fixture(scope="session")
def browser(_playwright: Any) -> Iterator[Any]:
    """Headless system Chromium, one per session."""
    browser = _playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
    yield browser
    browser.close()


@pytest.fixture
def browser_context_args() -> dict[str, Any]:
    """Options for ``browser.new_context``; override in a module (e.g. ``locale="en-US"``)."""
    return {"locale": "ja-JP", "timezone_id": "Asia/Tokyo", "viewport": {"width": 1280, "height": 900}}


@pytest.fixture
def page(
    browser: Any,
    live_server: LiveServer,
    browser_context_args: dict[str, Any],
    request: pytest.FixtureRequest,
) -> Iterator[Any]:
    """A fresh browser context and page; ``page.goto("/path")`` is relative to the live server."""
    context = browser.new_context(base_url=live_server.url, **browser_context_args)
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        with contextlib.suppress(Exception):  # a failed screenshot must not hide the real failure
            save_screenshot(page, f"FAILED-{request.node.name}")
    context.close()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[Any]:
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


# --- helpers ---------------------------------------------------------------------------------


def save_screenshot(page: Any, name: str) -> Path:
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{safe}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


@pytest.fixture
def screenshot() -> Callable[[Any, str], Path]:
    """``screenshot(page, name)`` saves a full-page PNG to test-artifacts/screenshots/<name>.png."""
    return save_screenshot


def format_violations(violations: list[dict[str, Any]]) -> str:
    lines = []
    for violation in violations:
        nodes = violation.get("nodes", [])
        targets = ", ".join(" ".join(map(str, node.get("target", []))) for node in nodes[:5])
        more = f" (+{len(nodes) - 5} more)" if len(nodes) > 5 else ""
        lines.append(
            f"- {violation['id']} [{violation.get('impact')}]: {violation.get('help')} "
            f"— {len(nodes)} element(s): {targets}{more}\n  {violation.get('helpUrl', '')}"
        )
    return "\n".join(lines)


@pytest.fixture
def check_a11y() -> Callable[..., list[dict[str, Any]]]:
    """``check_a11y(page)`` runs axe-core on the page as it is now.

    Fails the test on any violation of impact "serious" or "critical", listing each rule, the
    elements and the help link; returns all violations (minor/moderate ones included).
    ``context`` narrows the check to a selector, ``options`` is passed to ``axe.run``.
    """
    from axe_playwright_python.sync_playwright import Axe

    axe = Axe()

    def check(
        page: Any, *, context: Any = None, options: dict[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        results = axe.run(page, context=context, options=options or {"resultTypes": ["violations"]})
        violations = results.response.get("violations", [])
        failing = [v for v in violations if v.get("impact") in FAILING_IMPACTS]
        if failing:
            message = f"accessibility violations on {page.url}:\n{format_violations(failing)}"
            pytest.fail(message, pytrace=False)
        return violations

    return check


@pytest.fixture
def browser_login(live_server: LiveServer) -> Callable[..., None]:
    """``browser_login(page, email, password="demo-password")`` signs in through the sign-in form."""

    def sign_in(page: Any, email: str, password: str = "demo-password") -> None:
        page.goto("/login")
        form = page.locator("form:has(input[name=password])")
        form.locator("input[name=email]").fill(email)
        form.locator("input[name=password]").fill(password)
        form.locator("[type=submit]").first.click()
        page.wait_for_load_state()
        if "/login" in page.url:
            raise AssertionError(f"signing in as {email} in the browser stayed on {page.url}")

    return sign_in
