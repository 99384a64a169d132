"""The benchmark harness keeps running as the product grows (``make bench`` for real figures)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

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
