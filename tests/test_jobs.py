"""Background jobs: inline after commit by default; on a real RQ worker against Redis when configured.

The RQ tests start ``flask ome-privacy worker`` as a subprocess on this run's database (a
SQLite file or the run's PostgreSQL database: both work across processes) and on a Redis
database claimed for this module alone (``OME_TEST_REDIS_URL`` to choose one), flushed at
the end. Without Redis they skip with a message; under CI=true that is a failure.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jobs_tasks
import pytest
import sqlalchemy as sa
from helpers import REPO_ROOT, in_ci

from flask_ome_privacy import jobs
from flask_ome_privacy.config import ConfigError
from flask_ome_privacy.models import AuditEvent, JobFailure, Notification

CLAIM_KEY = "ome-privacy-test:claimed"


# --- a Redis database of our own -----------------------------------------------------------------


def _redis_unavailable(url: str, exc: Exception) -> None:
    message = f"Redis not reachable at {url} ({type(exc).__name__}) — skipping the RQ job tests"
    if in_ci():
        pytest.fail(f"{message} (CI=true, so this is a failure)")
    pytest.skip(message)


@pytest.fixture(scope="module")
def jobs_redis_url() -> Iterator[str]:
    """A Redis database nobody else uses during this module: claimed with SET NX, flushed after.

    Several test runs share the machine's Redis; each takes the highest-numbered empty
    database (below 15, which conftest's ``redis_url`` uses) and marks it as taken.
    """
    import redis

    explicit = os.environ.get("OME_TEST_REDIS_URL")
    base = explicit or "redis://127.0.0.1:6379/0"
    try:
        probe = redis.Redis.from_url(base, socket_connect_timeout=2)
        probe.ping()
    except Exception as exc:  # any failure: Redis is not usable here
        _redis_unavailable(base, exc)
    token = secrets.token_hex(8)
    chosen: redis.Redis | None = None
    url = explicit
    if explicit:
        chosen = probe
    else:
        try:
            count = int(probe.config_get("databases").get("databases", 16))
        except redis.ResponseError:  # CONFIG disabled: the default
            count = 16
        parts = urllib.parse.urlsplit(base)
        for number in range(min(count, 15) - 1, 0, -1):
            # The database goes in the URL: redis-py lets a URL's path override ``db=``.
            candidate_url = urllib.parse.urlunsplit(parts._replace(path=f"/{number}"))
            candidate = redis.Redis.from_url(candidate_url)
            if candidate.dbsize() == 0 and candidate.set(CLAIM_KEY, token, nx=True, ex=3600):
                if candidate.dbsize() == 1:
                    chosen = candidate
                    url = candidate_url
                    break
                candidate.delete(CLAIM_KEY)
            candidate.close()
        if chosen is None:
            pytest.fail("no empty Redis database (1-14) to claim for the job tests")
    assert chosen is not None and url is not None
    if explicit:
        chosen.flushdb()
    try:
        yield url
    finally:
        chosen.flushdb()
        chosen.close()
        probe.close()


# --- the app, configured for RQ, and its worker -------------------------------------------------


class Workers:
    """Starts ``flask ome-privacy worker`` subprocesses for one test and stops them after it."""

    def __init__(self, env: dict[str, str], log_dir: Path) -> None:
        self.env = env
        self.log_dir = log_dir
        self.running: list[subprocess.Popen[bytes]] = []
        self.logs: list[Path] = []

    def command(self, *options: str) -> list[str]:
        return [
            sys.executable,
            "-m",
            "flask",
            "--app",
            "jobs_tasks:create_app",
            "ome-privacy",
            "worker",
            *options,
        ]

    def burst(self, timeout: float = 90) -> subprocess.CompletedProcess[str]:
        """Work every queued job, then stop."""
        done = subprocess.run(
            self.command("--burst"),
            env=self.env,
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        self.logs.append(self.log_dir / f"burst-{len(self.logs)}.log")
        self.logs[-1].write_text(done.stdout + done.stderr)
        assert done.returncode == 0, done.stdout + done.stderr
        return done

    def start(self) -> subprocess.Popen[bytes]:
        """A long-running worker with its scheduler (retries after their backoff)."""
        log = self.log_dir / f"worker-{len(self.logs)}.log"
        self.logs.append(log)
        with open(log, "wb") as out:
            process = subprocess.Popen(
                self.command(),
                env=self.env,
                cwd=REPO_ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.running.append(process)
        return process

    def output(self) -> str:
        return "\n".join(path.read_text(errors="replace") for path in self.logs if path.exists())

    def stop(self) -> None:
        for process in self.running:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)  # RQ's warm shutdown
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)  # its own session: the worker, horse and scheduler
                    process.wait(timeout=10)
        self.running.clear()


@pytest.fixture
def job_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "jobs"
    folder.mkdir()
    return folder


@pytest.fixture
def rq_settings(database_url: str, jobs_redis_url: str, job_dir: Path) -> dict[str, Any]:
    queue = f"ome-test-{secrets.token_hex(4)}"
    return jobs_tasks.rq_config(database_url, jobs_redis_url, queue, [2, 3], str(job_dir))


@pytest.fixture
def rq_app(app: Any, app_config: dict[str, Any], rq_settings: dict[str, Any]) -> Iterator[Any]:
    """The example site with ``OME_PRIVACY_JOBS = "rq"`` (``app`` empties the tables afterwards)."""
    import example_app
    from example_app.models import db

    application = example_app.create_app({**app_config, **rq_settings})
    yield application
    with application.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def workers(rq_settings: dict[str, Any], document_key: str, tmp_path: Path) -> Iterator[Workers]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO_ROOT / "tests"), str(REPO_ROOT)]),
        "OME_TEST_DATABASE_URL": rq_settings["SQLALCHEMY_DATABASE_URI"],
        "OME_TEST_REDIS_URL": rq_settings["OME_PRIVACY_REDIS_URL"],
        "OME_TEST_JOB_QUEUE": rq_settings["OME_PRIVACY_JOB_QUEUE"],
        "OME_TEST_JOB_INTERVALS": json.dumps(rq_settings["OME_PRIVACY_JOB_RETRY_INTERVALS"]),
        "OME_TEST_JOB_DIR": rq_settings["JOBS_TEST_DIR"],
        "OME_PRIVACY_DOCUMENT_KEYS": document_key,
    }
    env.pop("FLASK_APP", None)
    runner = Workers(env, tmp_path)
    yield runner
    runner.stop()


def queued(app: Any) -> int:
    """How many jobs wait on the app's queue (RQ's own count, read from Redis)."""
    return int(jobs._queue(app).count)


def wait_until(check: Callable[[], Any], timeout: float = 60, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up after {timeout} s waiting for {what or check}")
        time.sleep(0.25)


def notifications(app: Any, db: Any) -> list[tuple[str, dict[str, Any]]]:
    with app.app_context():
        rows = db.session.scalars(
            sa.select(Notification).where(Notification.kind == jobs_tasks.NOTIFICATION_KIND)
        )
        return [(n.user_id, n.params) for n in rows]


def failures(app: Any, db: Any) -> list[JobFailure]:
    with app.app_context():
        rows = list(db.session.scalars(sa.select(JobFailure).order_by(JobFailure.id)))
        db.session.expunge_all()
        return rows


def audit_actions(app: Any, db: Any, request_id: int) -> list[str]:
    with app.app_context():
        return list(
            db.session.scalars(
                sa.select(AuditEvent.action)
                .where(AuditEvent.request_id == request_id)
                .order_by(AuditEvent.id)
            )
        )


def attempt_times(job_dir: Path, request_id: int) -> list[float]:
    path = job_dir / f"attempts-{request_id}"
    return [float(line) for line in path.read_text().split()] if path.exists() else []


# --- inline (the default) ------------------------------------------------------------------------


def test_inline_job_runs_once_the_transaction_commits(app: Any, db: Any) -> None:
    with app.app_context():
        db.session.execute(sa.select(1))  # a transaction is open, as in any request
        jobs.enqueue(app, "test_jobs.leave_notification", user_id="7", language="en")
        assert notifications(app, db) == [], "ran before the transaction that asked for it committed"
        db.session.commit()
    assert notifications(app, db) == [("7", {"language": "en"})]


def test_inline_job_from_a_rolled_back_transaction_never_runs(app: Any, db: Any) -> None:
    with app.app_context():
        db.session.execute(sa.select(1))
        jobs.enqueue(app, "test_jobs.leave_notification", user_id="7", language="ja")
        db.session.rollback()
        db.session.commit()  # a later commit of the same session does not bring it back
    with app.app_context():
        db.session.execute(sa.select(1))
        app.extensions["ome_privacy"].extension.enqueue(
            "test_jobs.leave_notification", user_id="8", language="ja"
        )
    # The app context ended without a commit: dropped too.
    assert notifications(app, db) == []


def test_inline_failure_is_recorded_not_raised_and_a_retry_runs_it(
    app: Any, db: Any, job_dir: Path, app_config: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    app.config["JOBS_TEST_DIR"] = str(job_dir)
    (job_dir / "fail-41").touch()
    with app.app_context():
        jobs.enqueue(app, "test_jobs.flaky", request_id=41)  # no transaction open: runs at once, and fails
    [failure] = failures(app, db)
    assert (failure.task, failure.arguments, failure.request_id) == (
        "test_jobs.flaky",
        {"request_id": 41},
        41,
    )
    assert (failure.status, failure.attempts, failure.error_type) == ("failed", 1, "RuntimeError")
    assert jobs_tasks.SECRET not in repr(vars(failure)) and "hanako" not in caplog.text
    assert "test.flaky_done" not in audit_actions(app, db, 41)

    (job_dir / "fail-41").unlink()
    with app.app_context():
        [listed] = jobs.failed_jobs(db.session, request_id=41)
        assert jobs.failed_jobs(db.session, request_id=40) == []
        jobs.retry(db.session, listed.id, actor_id="staff-1")
        assert "test.flaky_done" not in audit_actions(app, db, 41), "retried before the staff move committed"
        db.session.commit()
    [failure] = failures(app, db)
    assert (
        failure.status == "resolved" and failure.resolved_at is not None and failure.retried_by == "staff-1"
    )
    assert audit_actions(app, db, 41) == ["job.retried", "test.flaky_done"]
    with app.app_context():
        assert jobs.failed_jobs(db.session) == []
        with pytest.raises(jobs.RetryRefused):
            jobs.retry(db.session, failure.id)


def test_inline_retry_that_fails_again_updates_the_same_failure(app: Any, db: Any, job_dir: Path) -> None:
    app.config["JOBS_TEST_DIR"] = str(job_dir)
    (job_dir / "fail-45").touch()
    with app.app_context():
        jobs.enqueue(app, "test_jobs.flaky", request_id=45)
    [first] = failures(app, db)
    with app.app_context():
        jobs.retry(db.session, first.id)
        db.session.commit()
    [again] = failures(app, db)
    assert again.id == first.id and (again.status, again.attempts) == ("failed", 2)
    assert again.failed_at > first.failed_at and again.first_failed_at == first.first_failed_at
    assert len(attempt_times(job_dir, 45)) == 2


@pytest.mark.parametrize(
    "arguments, complaint",
    [
        ({"user_id": "hanako@example.com", "language": "ja"}, "'user_id'"),
        ({"user_id": "山田花子", "language": "ja"}, "'user_id'"),
        ({"user_id": "7 Hanako Yamada", "language": "ja"}, "'user_id'"),
        ({"user_id": {"name": "Hanako"}, "language": "ja"}, "'user_id'"),
        ({"user_id": "7", "language": "ja", "email": "h@example.com"}, "takes no argument(s) email"),
        ({"user_id": "7", "language": "fr"}, "'language'"),
        ({"language": "ja"}, "needs argument(s) user_id"),
    ],
)
def test_arguments_other_than_ids_and_a_language_are_refused(
    app: Any, db: Any, arguments: dict[str, Any], complaint: str
) -> None:
    with app.app_context(), pytest.raises(jobs.JobArgumentError) as refused:
        jobs.enqueue(app, "test_jobs.leave_notification", **arguments)
    assert complaint in str(refused.value)
    assert "hanako" not in str(refused.value).lower() and "Hanako" not in str(refused.value)
    assert notifications(app, db) == []


def test_a_task_cannot_even_declare_a_personal_data_parameter() -> None:
    registry = jobs.TaskRegistry()
    with pytest.raises(TypeError, match="ids and a language"):
        registry.register("site.mail", lambda session, *, email: None)
    with pytest.raises(ValueError, match="already registered"):
        registry.register("site.ok", lambda session, *, user_id: None)
        registry.register("site.ok", lambda session, *, user_id: None)
    with pytest.raises(jobs.UnknownTask):
        jobs.lookup(
            jobs_tasks.create_site({"TESTING": True, "SQLALCHEMY_DATABASE_URI": "sqlite://"}), "site.nothing"
        )


def test_unknown_backend_or_rq_without_redis_stops_the_app(app_config: dict[str, Any]) -> None:
    import example_app

    with pytest.raises(ConfigError, match="OME_PRIVACY_JOBS"):
        example_app.create_app({**app_config, "OME_PRIVACY_JOBS": "celery"})
    with pytest.raises(ConfigError, match="OME_PRIVACY_REDIS_URL"):
        example_app.create_app({**app_config, "OME_PRIVACY_JOBS": "rq", "OME_PRIVACY_REDIS_URL": None})


def test_worker_command_explains_that_inline_needs_no_worker(app: Any) -> None:
    result = app.test_cli_runner().invoke(args=["ome-privacy", "worker", "--burst"])
    assert result.exit_code == 2
    assert 'OME_PRIVACY_JOBS is "inline"' in result.output


def test_redis_down_when_queueing_is_recorded_for_a_retry_not_raised(
    app: Any, db: Any, app_config: dict[str, Any], job_dir: Path
) -> None:
    import example_app

    closed_port = "redis://127.0.0.1:9/0"  # discard port: nothing listens there
    down = example_app.create_app(
        {
            **app_config,
            **jobs_tasks.rq_config(
                app_config["SQLALCHEMY_DATABASE_URI"], closed_port, "q", [1], str(job_dir)
            ),
        }
    )
    with down.app_context():
        db.session.execute(sa.select(1))
        jobs.enqueue(down, "test_jobs.flaky", request_id=43)
        db.session.commit()  # the data is committed; the job could not be queued
        db.engine.dispose()
    [failure] = failures(app, db)
    assert (failure.request_id, failure.status, failure.attempts) == (43, "failed", 0)
    assert failure.error_type.endswith("ConnectionError")


# --- on a real RQ worker ----------------------------------------------------------------------------


def test_rq_job_waits_for_commit_then_a_worker_runs_it_in_the_app(
    rq_app: Any, db: Any, workers: Workers
) -> None:
    with rq_app.app_context():
        db.session.execute(sa.select(1))
        jobs.enqueue(rq_app, "test_jobs.leave_notification", user_id="7", language="en")
        assert queued(rq_app) == 0, "queued before the transaction committed"
        db.session.commit()
    assert queued(rq_app) == 1
    assert notifications(rq_app, db) == [], "an RQ job must not run in the web process"

    workers.burst()
    assert queued(rq_app) == 0
    assert notifications(rq_app, db) == [("7", {"language": "en"})]


def test_rq_job_from_a_rolled_back_transaction_is_never_sent(rq_app: Any, db: Any) -> None:
    with rq_app.app_context():
        db.session.execute(sa.select(1))
        jobs.enqueue(rq_app, "test_jobs.leave_notification", user_id="7", language="en")
        db.session.rollback()
    assert queued(rq_app) == 0
    with rq_app.app_context():
        jobs.enqueue(rq_app, "test_jobs.leave_notification", user_id="7", language="en")  # no transaction
    assert queued(rq_app) == 1


def test_rq_failure_is_retried_with_backoff_then_recorded_and_retry_reruns_it(
    rq_app: Any, db: Any, workers: Workers, job_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (job_dir / "fail-42").touch()
    with rq_app.app_context():
        jobs.enqueue(rq_app, "test_jobs.flaky", request_id=42)
    workers.start()

    [failure] = wait_until(lambda: failures(rq_app, db), timeout=90, what="the job to give up")
    times = attempt_times(job_dir, 42)
    assert len(times) == 3, "one attempt and two retries (OME_PRIVACY_JOB_RETRY_INTERVALS = [2, 3])"
    gaps = [later - earlier for earlier, later in zip(times, times[1:], strict=False)]
    # RQ schedules in whole seconds, so a retry may come up to a second early; without
    # backoff the gaps are a few hundredths of a second.
    assert gaps[0] >= 1 and gaps[1] >= 2, f"retried without waiting its backoff: {gaps}"
    assert (failure.status, failure.attempts, failure.error_type) == ("failed", 3, "RuntimeError")
    assert failure.job_id and failure.arguments == {"request_id": 42}
    assert "test.flaky_done" not in audit_actions(rq_app, db, 42)

    (job_dir / "fail-42").unlink()
    with rq_app.app_context():
        jobs.retry(db.session, failure.id, actor_id="staff-1")
        assert queued(rq_app) == 0, "sent before the staff move committed"
        db.session.commit()
    wait_until(lambda: failures(rq_app, db)[0].status == "resolved", timeout=60, what="the retry to succeed")
    assert audit_actions(rq_app, db, 42) == ["job.retried", "test.flaky_done"]
    assert len(attempt_times(job_dir, 42)) == 4

    workers.stop()
    logged = workers.output()
    assert "attempt 1 of 3 failed (RuntimeError)" in logged
    assert "gave up after 3 attempt(s): RuntimeError" in logged
    assert "hanako" not in logged.lower(), "the exception's text (personal data) reached the worker's log"
    assert "hanako" not in caplog.text.lower()


def test_rq_worker_killed_mid_job_is_retried_then_recorded(
    rq_app: Any, db: Any, workers: Workers, job_dir: Path
) -> None:
    (job_dir / "crash-44").touch()
    with rq_app.app_context():
        jobs.enqueue(rq_app, "test_jobs.crash", request_id=44)
    workers.start()
    [failure] = wait_until(lambda: failures(rq_app, db), timeout=90, what="the killed job to give up")
    assert (failure.task, failure.request_id, failure.status) == ("test_jobs.crash", 44, "failed")
    assert (failure.attempts, failure.error_type) == (3, "WorkHorseTerminated")
    assert len(attempt_times(job_dir, 44)) == 3
    workers.stop()
    assert "gave up after 3 attempt(s): WorkHorseTerminated" in workers.output()
