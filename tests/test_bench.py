"""The benchmark harness keeps running as the product grows (``make bench`` for real figures)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from bench import server

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
@pytest.mark.skipif(
    os.environ.get("OME_TEST_DB", "sqlite").lower().startswith("postgres"),
    reason="the bench uses its own SQLite file: runs in the SQLite run only",
)
def test_a_quick_bench_run_prints_a_row_for_every_page() -> None:
    result = subprocess.run(
        [sys.executable, "bench/run.py", "--quick", "--requests", "3", "--budget", "2"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    pages = ("/privacy/purposes", "/account/privacy/ ", "/account/privacy/data ", "export", "/admin/privacy/")
    for page in pages:
        assert page in result.stdout, result.stdout


@pytest.mark.slow
@pytest.mark.postgres
def test_a_quick_real_server_run_prints_every_row_of_the_table(tmp_path: Path) -> None:
    """gunicorn on a fresh PostgreSQL database, loaded by wrk: every step runs, nothing crashes."""
    if shutil.which("wrk") is None:
        message = "wrk is not installed (make bench-deps installs it)"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message)
        pytest.skip(message)
    output = tmp_path / "RESULTS.md"
    env = dict(os.environ)
    if "OME_TEST_PG_URL" in env:
        env.setdefault("OME_BENCH_PG_URL", env["OME_TEST_PG_URL"])
    result = subprocess.run(
        [sys.executable, "bench/server.py", "--quick", "--output", str(output)],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    table = output.read_text()
    for row in (
        "/account/privacy/data (alice)",
        "/privacy/purposes (anonymous)",
        "/admin/privacy/ (staff)",
        "/account itself",
        "SQL statements per request",
        "queue page 1",
        "records/s",
        "peak RSS growth of the worker",
        "erase across 3 sources",
        "verify-audit over 20,000 events",
        "memory from 2,000 to 20,000 events",
    ):
        assert row in table, table
    assert "failed:" not in table, table
    # The run cleans up after itself: its database is dropped.
    name = re.search(r"database (ome_bench_[0-9a-f]+) seeded", result.stdout)
    assert name is not None, result.stdout
    admin = sa.create_engine(env.get("OME_BENCH_PG_URL", server.DEFAULT_PG_URL), poolclass=sa.pool.NullPool)
    try:
        with admin.connect() as conn:
            left = conn.scalar(
                sa.text("SELECT count(*) FROM pg_database WHERE datname = :n"), {"n": name.group(1)}
            )
    finally:
        admin.dispose()
    assert left == 0
