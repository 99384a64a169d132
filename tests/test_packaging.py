"""The wheel: it carries everything the package needs at run time, and works outside this repository.

Builds the wheel from a copy of the working tree, installs it with its dependencies into a
fresh venv in a temporary folder, and serves the public purposes page from a tiny host app
there, with the repository nowhere on ``sys.path``.

``python tests/test_packaging.py dist/*.whl`` checks a built wheel's contents (make wheel-check).
"""

from __future__ import annotations

import fnmatch
import os
import shutil
import subprocess
import sys
import textwrap
import venv
import zipfile
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "flask_ome_privacy"

#: Each pattern must match at least one file in the wheel.
REQUIRED = (
    f"{PACKAGE}/__init__.py",
    f"{PACKAGE}/py.typed",
    f"{PACKAGE}/templates/ome_privacy/*.html",
    f"{PACKAGE}/templates/ome_privacy/public/purposes.html",
    f"{PACKAGE}/static/*",
    f"{PACKAGE}/translations/ja/LC_MESSAGES/ome_privacy.po",
    f"{PACKAGE}/translations/ja/LC_MESSAGES/ome_privacy.mo",
    f"{PACKAGE}/translations/en/LC_MESSAGES/ome_privacy.po",
    f"{PACKAGE}/translations/en/LC_MESSAGES/ome_privacy.mo",
    f"{PACKAGE}/migrations/env.py",
    f"{PACKAGE}/migrations/script.py.mako",
    f"{PACKAGE}/migrations/versions/*.py",
)
#: No file in the wheel may match these.
FORBIDDEN = ("example_app/*", "tests/*", "bench/*", "*/__pycache__/*", "*.pyc")

# Not copied into the build folder: local state that must not leak into the wheel.
COPY_IGNORE = shutil.ignore_patterns(
    ".git",
    ".venv",
    "build",
    "dist",
    "*.egg-info",
    "__pycache__",
    "*.pyc",
    "instance",
    "test-artifacts",
    ".pytest_cache",
    ".ruff_cache",
)

HOST_APP = textwrap.dedent(
    """
    import sys
    from pathlib import Path

    from flask import Flask
    from flask_login import LoginManager
    from flask_sqlalchemy import SQLAlchemy

    import flask_ome_privacy
    from flask_ome_privacy import OmePrivacy
    from flask_ome_privacy.migrate import upgrade

    here = Path(__file__).resolve().parent
    assert "site-packages" in flask_ome_privacy.__file__, flask_ome_privacy.__file__
    assert not any(Path(p or ".").resolve() == Path(sys.argv[1]).resolve() for p in sys.path), sys.path

    app = Flask(__name__)
    app.config.update(SECRET_KEY="x", SQLALCHEMY_DATABASE_URI=f"sqlite:///{here / 'host.sqlite'}")
    db = SQLAlchemy(app)
    login = LoginManager(app)
    login.user_loader(lambda user_id: None)
    OmePrivacy(app, db=db)
    upgrade(app)

    for lang in ("ja", "en"):
        response = app.test_client().get("/privacy/purposes", headers={"Accept-Language": lang})
        body = response.get_data(as_text=True)
        assert response.status_code == 200, (lang, response.status_code, body[:2000])
    print("rendered /privacy/purposes from", flask_ome_privacy.__file__)
    """
)


def wheel_problems(wheel: Path) -> list[str]:
    """What is missing from, or should not be in, the wheel at ``wheel``."""
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
    problems = [f"missing: {pattern}" for pattern in REQUIRED if not fnmatch.filter(names, pattern)]
    for pattern in FORBIDDEN:
        problems += [f"should not ship: {name}" for name in fnmatch.filter(names, pattern)]
    return problems


def run(command: list[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, env=env)
    assert result.returncode == 0, (
        f"{' '.join(map(str, command))} exited {result.returncode}\n"
        f"--- stdout\n{result.stdout[-4000:]}\n--- stderr\n{result.stderr[-4000:]}"
    )
    return result


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    source = tmp_path_factory.mktemp("source") / "flask-ome-privacy"
    shutil.copytree(REPO_ROOT, source, ignore=COPY_IGNORE)
    out = tmp_path_factory.mktemp("wheelhouse")
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(out), str(source)], cwd=out)
    wheels = sorted(out.glob("flask_ome_privacy-*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        os.environ.get("OME_TEST_DB", "sqlite").lower().startswith("postgres"),
        reason="does not depend on the database: runs in the SQLite run only",
    ),
]


def test_the_wheel_is_named_for_version_0_1_0(wheel: Path) -> None:
    assert wheel.name.startswith("flask_ome_privacy-0.1.0-"), wheel.name


def test_the_wheel_carries_the_one_version_and_the_mit_license(wheel: Path) -> None:
    import flask_ome_privacy

    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        metadata_name = next(n for n in names if n.endswith(".dist-info/METADATA"))
        metadata = archive.read(metadata_name).decode("utf-8")
    assert f"Version: {flask_ome_privacy.__version__}\n" in metadata
    assert "License: MIT" in metadata or "License-Expression: MIT" in metadata
    assert any(n.endswith(".dist-info/licenses/LICENSE") or n.endswith(".dist-info/LICENSE") for n in names)
    # the dev extra is the test extra plus build, written once
    assert "Requires-Dist: flask-ome-privacy[test]; extra == \"dev\"" in metadata


def test_the_wheel_ships_templates_translations_migrations_and_py_typed(wheel: Path) -> None:
    problems = wheel_problems(wheel)
    assert not problems, "\n".join(problems)


def test_the_installed_wheel_serves_the_public_purposes_page(wheel: Path, tmp_path: Path) -> None:
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True, clear=True).create(env_dir)
    python = env_dir / "bin" / "python"
    outside = tmp_path / "host"
    outside.mkdir()
    environment = {
        k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")
    }
    run([str(python), "-m", "pip", "install", "--quiet", str(wheel)], cwd=outside, env=environment)
    (outside / "host_app.py").write_text(HOST_APP)
    result = run([str(python), "host_app.py", str(REPO_ROOT)], cwd=outside, env=environment)
    assert "rendered /privacy/purposes" in result.stdout


if __name__ == "__main__":  # make wheel-check
    found = [Path(arg) for arg in sys.argv[1:]]
    if len(found) != 1 or not found[0].is_file():
        sys.exit(f"usage: python {sys.argv[0]} path/to/flask_ome_privacy-*.whl (got {sys.argv[1:]})")
    trouble = wheel_problems(found[0])
    for line in trouble:
        print(line)
    print(
        f"{found[0].name}: " + ("NOT OK" if trouble else "templates, translations, migrations, py.typed: OK")
    )
    sys.exit(1 if trouble else 0)
