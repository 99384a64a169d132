"""Two tasks for the job tests, and the app factory their RQ worker subprocess runs.

The tasks are registered on the example site's extension object, as a host registers its
own: the test process and the worker process both import this module, so both know them.

* ``test_jobs.leave_notification``: leaves an in-app notification (a real domain call).
* ``test_jobs.crash``: while ``<JOBS_TEST_DIR>/crash-<id>`` exists, its RQ work horse kills
  itself with SIGKILL (as the kernel's out-of-memory killer would); refuses to run elsewhere.
* ``test_jobs.flaky``: writes the time of each attempt to ``<JOBS_TEST_DIR>/attempts-<id>``;
  while ``<JOBS_TEST_DIR>/fail-<id>`` exists it raises with personal data in the message
  (which must never reach the database, Redis or the logs); otherwise it leaves an audit event.

In the worker, every source's ``erase`` is probed (``probe_sources``): each call adds a line to
``<JOBS_TEST_DIR>/calls-<source>``, and while ``<JOBS_TEST_DIR>/kill-<source>`` exists the call
removes it and SIGKILLs its work horse — half-way through carrying out a request, after the
sources before it have done their part (the reliability tests).

``create_app()`` (``flask --app jobs_tasks:create_app ome-privacy worker``) reads what the
test decided from the environment: ``OME_TEST_DATABASE_URL``, ``OME_TEST_REDIS_URL``,
``OME_TEST_JOB_QUEUE``, ``OME_TEST_JOB_INTERVALS`` (JSON list), ``OME_TEST_JOB_DIR`` and
``OME_PRIVACY_DOCUMENT_KEYS``.
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import Any

from flask import Flask, current_app
from sqlalchemy.orm import Session

from example_app import create_app as create_site
from example_app import privacy
from flask_ome_privacy import N_, audit, notify

#: Put into the failing job's exception message: it must never be stored or logged.
SECRET = "Hanako Yamada <hanako@example.com>"
NOTIFICATION_KIND = "job_test"


@privacy.task("test_jobs.leave_notification")
def leave_notification(session: Session, *, user_id: str, language: str) -> None:
    notify.add(session, user_id, NOTIFICATION_KIND, N_("Your export is ready"), params={"language": language})


@privacy.task("test_jobs.flaky")
def flaky(session: Session, *, request_id: int) -> None:
    folder = Path(current_app.config["JOBS_TEST_DIR"])
    with open(folder / f"attempts-{request_id}", "a") as attempts:
        attempts.write(f"{time.time()}\n")
    if (folder / f"fail-{request_id}").exists():
        raise RuntimeError(f"could not reach the mail server for {SECRET}")
    audit.append(session, "test.flaky_done", actor_id=None, actor_role="system", request_id=request_id)


@privacy.task("test_jobs.crash")
def crash(session: Session, *, request_id: int) -> None:
    if not os.environ.get("RQ_JOB_ID"):
        raise RuntimeError("test_jobs.crash only runs in an RQ work horse")
    folder = Path(current_app.config["JOBS_TEST_DIR"])
    with open(folder / f"attempts-{request_id}", "a") as attempts:
        attempts.write(f"{time.time()}\n")
    if (folder / f"crash-{request_id}").exists():
        os.kill(os.getpid(), signal.SIGKILL)


def rq_config(
    database_url: str, redis_url: str, queue: str, intervals: list[int], folder: str
) -> dict[str, Any]:
    """The settings the test process and its worker share."""
    return {
        "SQLALCHEMY_DATABASE_URI": database_url,
        "OME_PRIVACY_JOBS": "rq",
        "OME_PRIVACY_REDIS_URL": redis_url,
        "OME_PRIVACY_JOB_QUEUE": queue,
        "OME_PRIVACY_JOB_RETRY_INTERVALS": intervals,
        "JOBS_TEST_DIR": folder,
    }


def probe_sources(app: Flask, folder: Path) -> None:
    """Count each source's ``erase`` calls in files, and kill the work horse in one when asked."""
    from flask_ome_privacy.state import get_state

    with app.app_context():
        sources = list(get_state(app).sources)
    for source in sources:
        real = source.erase

        def erase(user: Any, fields: Any = None, *, _real: Any = real, _key: str = source.key) -> str:
            with open(folder / f"calls-{_key}", "a") as calls:
                calls.write(f"{os.getpid()}\n")
            marker = folder / f"kill-{_key}"
            if os.environ.get("RQ_JOB_ID") and marker.exists():
                marker.unlink()
                os.kill(os.getpid(), signal.SIGKILL)
            return str(_real(user, fields))

        source.erase = erase  # type: ignore[method-assign]


def create_app() -> Flask:
    """The example site as the worker subprocess sees it."""
    env = os.environ
    config = rq_config(
        env["OME_TEST_DATABASE_URL"],
        env["OME_TEST_REDIS_URL"],
        env["OME_TEST_JOB_QUEUE"],
        json.loads(env["OME_TEST_JOB_INTERVALS"]),
        env["OME_TEST_JOB_DIR"],
    )
    app = create_site(
        {
            "TESTING": True,
            "SECRET_KEY": "test",
            "OME_PRIVACY_DOCUMENT_KEYS": env["OME_PRIVACY_DOCUMENT_KEYS"],
            **config,
        }
    )
    probe_sources(app, Path(env["OME_TEST_JOB_DIR"]))
    return app
