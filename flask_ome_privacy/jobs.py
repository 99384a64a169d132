"""Long work off the request: inline by default, on RQ with Redis when configured.

Carrying out a request in every source, building a disclosure package, sending mail,
purging documents and closing expired requests can take longer than a page should.
They run as *jobs*: a task registered by name and called with ids and a language.

* ``OME_PRIVACY_JOBS = "inline"`` (default): a job runs in the process that enqueued it,
  right after the transaction that enqueued it commits. Nothing else to run (``make demo``).
  A failure is recorded (below), never raised into the page that enqueued it.
* ``OME_PRIVACY_JOBS = "rq"``: the job goes to the RQ queue ``OME_PRIVACY_JOB_QUEUE`` on
  ``OME_PRIVACY_REDIS_URL``; ``flask ome-privacy worker`` runs it with an app context of
  the host's app, so the host's sources are there. A failure is retried after each of
  ``OME_PRIVACY_JOB_RETRY_INTERVALS`` seconds (backoff) and then recorded.

A task that knows retrying cannot help (a recipient the mail server refuses for good)
raises ``GiveUp``: the job is recorded as failed at once, without the automatic retries.

The contract every task keeps (policy Art. 1.4: no personal data where it need not be):

* **Ids and a language only.** Arguments are keyword arguments named ``language`` or
  ``…_id`` / ``…_key`` / ``reference``, and their values are numbers or short tokens
  (letters, digits, ``_.:-``). A name, an email address or a document never goes into
  Redis, a log line or the failure table; ``enqueue`` refuses them (``JobArgumentError``).
* **After commit.** ``enqueue`` inside a transaction waits until that session commits,
  and is dropped when it rolls back: a worker never sees a request that does not exist.
* **Idempotent and resumable.** A task may run twice (a retry after a crash half-way, a
  staff retry) and must then finish the work without doing any part twice. The records
  the work leaves (execution receipts per source, withdrawal receipts, audit events)
  are the checkpoints: a task reads them first and skips what is already done.
* **One transaction.** A task receives the session, does its work through domain
  functions (which flush) and returns; the runner commits once, or rolls back on error.

When a job gives up it becomes a row in ``ome_privacy_job_failures`` (task, arguments,
attempts, the *type* of the last error — never its message), which staff see through
``failed_jobs()`` and re-run with ``retry()``. A retry that succeeds marks it resolved
in the same transaction as the work.

Registering a task (the host on its extension object; the package on ``BUILTIN``)::

    @privacy.task("site.email_notification")
    def email_notification(session, *, notification_id: int, language: str) -> None:
        ...

    jobs.enqueue(app, "site.email_notification", notification_id=n.id, language="ja")
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import logging
import re
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

import sqlalchemy as sa
from flask import Flask, current_app, has_app_context
from flask_babel import force_locale
from sqlalchemy import event
from sqlalchemy.orm import Session, scoped_session

from . import audit
from .config import ConfigError, config_value
from .models import JobFailure, utcnow
from .state import get_state

__all__ = [
    "BACKENDS",
    "BUILTIN",
    "GiveUp",
    "JobArgumentError",
    "JobFailed",
    "RetryRefused",
    "Task",
    "TaskRegistry",
    "UnknownTask",
    "check_arguments",
    "enqueue",
    "error_name",
    "failed_jobs",
    "failure_of_request",
    "lookup",
    "perform",
    "record_failure",
    "requests_with_failed_jobs",
    "retry",
    "retry_in_flight",
    "run_worker",
    "validate_config",
]

log = logging.getLogger(__name__)

BACKENDS = ("inline", "rq")
#: Statuses of a ``JobFailure`` row.
FAILED, RETRYING, RESOLVED = "failed", "retrying", "resolved"

_ARGUMENT_NAME = re.compile(r"^(language|reference|[a-z][a-z0-9_]*_(id|key|reference))$")
#: Ids, keys, references and language codes; no spaces, no "@", nothing beyond ASCII.
_TOKEN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")
_TASK_NAME = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")
#: Package modules that register built-in tasks; imported before a task is looked up.
BUILTIN_TASK_MODULES: tuple[str, ...] = ("flask_ome_privacy.execution", "flask_ome_privacy.mail")

_PENDING = "ome_privacy_pending_jobs"
_COMMITTED = "ome_privacy_jobs_committed"
_LISTENING = "ome_privacy_jobs_listening"
_REDIS = "ome_privacy.redis"


class JobArgumentError(TypeError):
    """Arguments a job may not carry (personal data, objects, or names the task does not take)."""


class UnknownTask(LookupError):
    """No task is registered under that name."""


class RetryRefused(ValueError):
    """The failure is unknown, already resolved, or being retried right now.

    ``reason`` says which (``"unknown"``, ``"resolved"``, ``"retrying"``), so a page can tell
    staff in their words without parsing the message.
    """

    def __init__(self, message: str, reason: str = "unknown") -> None:
        super().__init__(message)
        self.reason = reason


class GiveUp(Exception):
    """Raised by a task for a failure that trying again will not fix: recorded at once, not retried.

    ``error_type`` names what went wrong (e.g. ``"SMTPRecipientsRefused"``) for the failure
    table; like every error type there, a name, never a message. Staff may still retry it
    (after fixing the cause) from the failure table.
    """

    def __init__(self, error_type: str) -> None:
        super().__init__(error_type)
        self.error_type = error_type


class JobFailed(Exception):
    """A task raised. The message names the exception type and where, never the exception's text,
    which may quote personal data; this is what RQ stores and what the logs show.
    ``permanent``: the task gave up (``GiveUp``), so no automatic retry."""

    def __init__(self, task: str, error_type: str, where: str, *, permanent: bool = False) -> None:
        text = f"job {task} failed: {error_type} raised {where}".rstrip()
        super().__init__(f"{text} (permanent: not retried)" if permanent else text)
        self.task = task
        self.error_type = error_type
        self.permanent = permanent


# --- the registry ----------------------------------------------------------------------------------

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Task:
    """A function ``func(session, **arguments)`` registered under a stable ``name``."""

    name: str
    func: Callable[..., Any]
    parameters: frozenset[str]
    required: frozenset[str]


@dataclass
class TaskRegistry:
    """Tasks by name. Code, not state: every process that imports the host registers the same."""

    tasks: dict[str, Task] = field(default_factory=dict)

    def register(self, name: str, func: Callable[..., Any]) -> Task:
        if not _TASK_NAME.match(name) or len(name) > 128:
            raise ValueError(f"task name {name!r}: use dotted lower-case words, e.g. 'site.send_mail'")
        if name in self.tasks:
            raise ValueError(f"a task named {name!r} is already registered")
        params = list(inspect.signature(func).parameters.values())
        if not params or params[0].kind not in (params[0].POSITIONAL_ONLY, params[0].POSITIONAL_OR_KEYWORD):
            raise TypeError(f"task {name!r}: the first parameter must be the session")
        names, required = set(), set()
        for param in params[1:]:
            if param.kind not in (param.KEYWORD_ONLY, param.POSITIONAL_OR_KEYWORD):
                raise TypeError(f"task {name!r}: parameter {param.name!r} must be a plain keyword argument")
            if not _ARGUMENT_NAME.match(param.name):
                raise TypeError(
                    f"task {name!r}: parameter {param.name!r} — jobs take ids and a language only "
                    "(name them language, reference, …_id, …_key or …_reference)"
                )
            names.add(param.name)
            if param.default is param.empty:
                required.add(param.name)
        task = Task(name, func, frozenset(names), frozenset(required))
        self.tasks[name] = task
        return task

    def task(self, name: str) -> Callable[[F], F]:
        """Decorator: ``@registry.task("site.send_mail")``."""

        def decorate(func: F) -> F:
            self.register(name, func)
            return func

        return decorate

    def get(self, name: str) -> Task | None:
        return self.tasks.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self.tasks


#: The package's own tasks (names start with ``ome_privacy.``).
BUILTIN = TaskRegistry()


def lookup(app: Flask, name: str) -> Task:
    """The task called ``name``: the host's (on its extension object), else the package's."""

    found = get_state(app).extension.tasks.get(name)
    if found is None:
        for module in BUILTIN_TASK_MODULES:
            importlib.import_module(module)
        found = BUILTIN.get(name)
    if found is None:
        raise UnknownTask(f"no job task named {name!r} is registered (privacy.task or jobs.BUILTIN)")
    return found


def check_arguments(app: Flask, task: Task, arguments: Mapping[str, Any]) -> dict[str, Any]:
    """The arguments as they will be stored, or ``JobArgumentError`` naming the first bad one.

    The message names the argument, never its value (the value may be the very personal
    data that must not be logged).
    """
    unknown = sorted(set(arguments) - task.parameters)
    if unknown:
        raise JobArgumentError(f"task {task.name!r} takes no argument(s) {', '.join(unknown)}")
    missing = sorted(task.required - set(arguments))
    if missing:
        raise JobArgumentError(f"task {task.name!r} needs argument(s) {', '.join(missing)}")
    clean: dict[str, Any] = {}
    for name, value in arguments.items():
        if value is None or isinstance(value, bool):
            clean[name] = value
        elif isinstance(value, int):
            clean[name] = int(value)
        elif isinstance(value, str) and _TOKEN.match(value):
            clean[name] = value
        else:
            raise JobArgumentError(
                f"job argument {name!r} of task {task.name!r} must be a number or an id-like token "
                "(letters, digits, _.:-; at most 64): jobs carry ids and a language, never personal data"
            )
    language = clean.get("language")
    if language is not None and language not in config_value("LANGUAGES", app):
        raise JobArgumentError(
            f"job argument 'language' of task {task.name!r} is not one of OME_PRIVACY_LANGUAGES"
        )
    return clean


# --- configuration ---------------------------------------------------------------------------------


def validate_config(app: Flask) -> None:
    """Called by ``init_app``: an unknown backend or a missing Redis URL fails at start-up.

    Reads ``OME_PRIVACY_JOBS``, ``OME_PRIVACY_REDIS_URL``, ``OME_PRIVACY_JOB_RETRY_INTERVALS``.
    """
    backend = config_value("JOBS", app)
    if backend not in BACKENDS:
        raise ConfigError(f"OME_PRIVACY_JOBS = {backend!r}: use one of {', '.join(map(repr, BACKENDS))}")
    if backend == "rq" and not config_value("REDIS_URL", app):
        raise ConfigError(
            'OME_PRIVACY_JOBS = "rq" needs OME_PRIVACY_REDIS_URL (e.g. redis://127.0.0.1:6379/0)'
        )
    if backend == "rq" and importlib.util.find_spec("rq") is None:
        raise ConfigError('OME_PRIVACY_JOBS = "rq" needs the rq package: pip install "flask-ome-privacy[rq]"')
    intervals = config_value("JOB_RETRY_INTERVALS", app)
    if not isinstance(intervals, (list, tuple)) or not all(
        isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in intervals
    ):
        raise ConfigError(
            "OME_PRIVACY_JOB_RETRY_INTERVALS must be a list of whole seconds, e.g. [30, 120, 600]"
        )


def _redis(app: Flask) -> Any:
    """The app's Redis client (one per app; redis-py's pool reconnects after a fork)."""
    client = app.extensions.get(_REDIS)
    if client is None:
        from redis import Redis

        client = Redis.from_url(config_value("REDIS_URL", app))
        app.extensions[_REDIS] = client
    return client


def _queue(app: Flask, name: str | None = None) -> Any:
    from rq import Queue
    from rq.serializers import JSONSerializer

    return Queue(
        name or config_value("JOB_QUEUE", app),
        connection=_redis(app),
        serializer=JSONSerializer,
        default_timeout=config_value("JOB_TIMEOUT", app),
    )


# --- enqueueing, after commit ----------------------------------------------------------------------


@dataclass(frozen=True)
class _Job:
    app: Flask
    task: str
    arguments: dict[str, Any]
    failure_id: int | None = None


def enqueue(app: Flask, name: str, /, *, session: Session | None = None, **arguments: Any) -> None:
    """Run task ``name`` with ``arguments`` (ids and a language) in the background.

    Inside a transaction of ``session`` (default: the app's ``db.session``) the job waits
    until that transaction commits and is dropped if it rolls back; otherwise it goes at
    once. Bad arguments raise ``JobArgumentError`` here, in the caller, not in a worker.
    Reads ``OME_PRIVACY_JOBS`` (and for RQ the Redis URL, queue, retries and timeout).
    """
    task = lookup(app, name)
    job = _Job(app, task.name, check_arguments(app, task, arguments))
    _defer_or_dispatch(app, job, session)


def _defer_or_dispatch(app: Flask, job: _Job, session: Session | scoped_session[Session] | None) -> None:
    if session is None:
        if not has_app_context():
            _dispatch(job)  # no app context, so no transaction of the app's session is open
            return

        session = get_state(app).session
    real = session() if isinstance(session, scoped_session) else session
    if not real.in_transaction():
        _dispatch(job)
        return
    if not real.info.get(_LISTENING):
        event.listen(real, "after_commit", _mark_committed)
        event.listen(real, "after_transaction_end", _after_transaction_end)
        real.info[_LISTENING] = True
    real.info.setdefault(_PENDING, []).append(job)


def _mark_committed(session: Session) -> None:
    # A savepoint's commit fires after_commit too; only the outermost commit counts.
    if not session.in_nested_transaction():
        session.info[_COMMITTED] = True


def _after_transaction_end(session: Session, transaction: Any) -> None:
    if transaction.parent is not None:
        return  # a savepoint or subtransaction: the jobs follow the outermost transaction
    committed = session.info.pop(_COMMITTED, False)
    pending = session.info.pop(_PENDING, [])
    for job in pending:
        if committed:
            _dispatch(job)
        else:
            log.info("job %s %s dropped: its transaction was rolled back", job.task, _ids(job.arguments))


def _dispatch(job: _Job) -> None:
    """Hand a committed job to its backend. Never raises into the caller: the data is committed."""
    if config_value("JOBS", job.app) == "rq":
        try:
            _enqueue_rq(job)
        except Exception as exc:  # Redis down or refusing: record it so staff can retry
            log.error("job %s %s could not be queued: %s", job.task, _ids(job.arguments), type(exc).__name__)
            _record_in_new_context(job.app, job.task, job.arguments, 0, error_name(type(exc)), job.failure_id)
    else:
        _run_inline(job)


def _enqueue_rq(job: _Job) -> None:
    from rq import Retry

    intervals = list(config_value("JOB_RETRY_INTERVALS", job.app))
    _queue(job.app).enqueue(
        perform,
        job.task,
        job.arguments,
        job.failure_id,
        retry=Retry(max=len(intervals), interval=intervals) if intervals else None,
        description=f"{job.task} {_ids(job.arguments)}",
        meta={"ome_privacy_retries": len(intervals)},
        failure_ttl=7 * 24 * 3600,
    )


def _run_inline(job: _Job) -> None:
    """One attempt, now, in an app context of its own (so a session of its own)."""
    with job.app.app_context():
        try:
            perform(job.task, job.arguments, job.failure_id)
        except JobFailed as failed:
            log.warning("%s (inline: recorded for a retry)", failed)
            _record_in_new_context(
                job.app,
                job.task,
                job.arguments,
                1,
                failed.error_type,
                job.failure_id,
                permanent=failed.permanent,
            )
        except Exception as exc:  # the task could not even start (unknown task, database down)
            log.error("job %s %s failed: %s", job.task, _ids(job.arguments), type(exc).__name__)
            _record_in_new_context(job.app, job.task, job.arguments, 1, error_name(type(exc)), job.failure_id)


# --- running a job ---------------------------------------------------------------------------------


def perform(name: str, arguments: dict[str, Any], failure_id: int | None = None) -> None:
    """Run one job in the current app context, in one transaction; the worker's entry point.

    Commits on success (marking failure ``failure_id`` resolved in the same transaction);
    on error rolls back and raises ``JobFailed`` (type and place of the error only).
    """

    app = get_state(current_app).app
    session = get_state(app).session
    task = lookup(app, name)
    clean = check_arguments(app, task, arguments)
    try:
        language = clean.get("language") or config_value("LANGUAGES", app)[0]
        with force_locale(language):
            task.func(session, **clean)
        if failure_id is not None:
            _mark_resolved(session, failure_id)
        session.commit()
    except Exception as exc:
        session.rollback()
        frame = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
        where = f"in {frame.name} ({frame.filename}:{frame.lineno})" if frame else ""
        if isinstance(exc, GiveUp):
            raise JobFailed(name, exc.error_type[:255], where, permanent=True) from None
        raise JobFailed(name, error_name(type(exc)), where) from None


def error_name(kind: type[BaseException]) -> str:
    """``ValueError`` for built-ins, ``module.Class`` otherwise: what was raised, not what it said."""
    if kind.__module__ == "builtins":
        return kind.__qualname__
    return f"{kind.__module__}.{kind.__qualname__}"[:255]


def _ids(arguments: Mapping[str, Any]) -> str:
    return " ".join(f"{k}={v}" for k, v in sorted(arguments.items()))


def _mark_resolved(session: Session, failure_id: int) -> None:
    session.execute(
        sa.update(JobFailure)
        .where(JobFailure.id == failure_id)
        .values(status=RESOLVED, resolved_at=utcnow())
        .execution_options(synchronize_session=False)
    )


def record_failure(
    session: Session,
    task: str,
    arguments: Mapping[str, Any],
    *,
    attempts: int,
    error_type: str,
    failure_id: int | None = None,
    job_id: str | None = None,
    permanent: bool = False,
) -> JobFailure:
    """Record that a job gave up: a new row, or the row a staff retry came from (flushes).

    ``permanent``: the task raised ``GiveUp`` (trying again cannot help until the cause is fixed).
    """
    now = utcnow()
    failure = session.get(JobFailure, failure_id) if failure_id is not None else None
    if failure is None:
        request_id = arguments.get("request_id")
        failure = JobFailure(
            task=task,
            arguments=dict(arguments),
            request_id=request_id
            if isinstance(request_id, int) and not isinstance(request_id, bool)
            else None,
            attempts=0,
            first_failed_at=now,
        )
        session.add(failure)
    failure.status = FAILED
    failure.attempts = (failure.attempts or 0) + attempts
    failure.error_type = error_type[:255]
    failure.permanent = permanent
    failure.failed_at = now
    failure.job_id = job_id
    session.flush()
    return failure


def _record_in_new_context(
    app: Flask,
    task: str,
    arguments: Mapping[str, Any],
    attempts: int,
    error_type: str,
    failure_id: int | None,
    job_id: str | None = None,
    *,
    permanent: bool = False,
) -> None:
    """Write the failure in a transaction of its own; if even that fails, the log says so."""

    with app.app_context():
        session = get_state(app).session
        try:
            record_failure(
                session,
                task,
                arguments,
                attempts=attempts,
                error_type=error_type,
                failure_id=failure_id,
                job_id=job_id,
                permanent=permanent,
            )
            session.commit()
        except Exception as exc:
            session.rollback()
            log.error(
                "job %s %s: its failure could not be recorded: %s", task, _ids(arguments), type(exc).__name__
            )


# --- what staff see and do -------------------------------------------------------------------------


def failed_jobs(
    session: Session, request_id: int | None = None, *, include_resolved: bool = False
) -> list[JobFailure]:
    """Jobs that gave up (and those being retried), newest first; for one request if given."""
    statement = sa.select(JobFailure).order_by(JobFailure.failed_at.desc(), JobFailure.id.desc())
    if request_id is not None:
        statement = statement.where(JobFailure.request_id == request_id)
    if not include_resolved:
        statement = statement.where(JobFailure.status != RESOLVED)
    return list(session.scalars(statement))


def failure_of_request(session: Session, request_id: int, failure_id: int) -> JobFailure | None:
    """Failure ``failure_id`` if it belongs to request ``request_id`` (else ``None``: a page 404s)."""
    failure = session.get(JobFailure, failure_id)
    if failure is None or failure.request_id != request_id:
        return None
    return failure


def requests_with_failed_jobs(session: Session, request_ids: Sequence[int]) -> set[int]:
    """Which of ``request_ids`` have a job that failed and is not resolved: one indexed query.

    For the desk's queue mark; the statement is the same however many requests there are.
    """
    if not request_ids:
        return set()
    found = session.scalars(
        sa.select(JobFailure.request_id)
        .where(JobFailure.request_id.in_(list(request_ids)), JobFailure.status != RESOLVED)
        .distinct()
    )
    return {int(request_id) for request_id in found if request_id is not None}


def retry_in_flight(failure: JobFailure, app: Flask, now: datetime | None = None) -> bool:
    """Is a retry of ``failure`` still running or queued, so a second one would only run it twice?

    A retry marks the row ``retrying`` until the job ends. One that stays so longer than the
    job could take is stale (the process died, a worker was lost, Redis was emptied), and
    staff may retry it again: inline, one attempt of ``OME_PRIVACY_JOB_TIMEOUT``; on RQ,
    every attempt plus the backoff between them (``OME_PRIVACY_JOB_RETRY_INTERVALS``).
    """
    if failure.status != RETRYING or failure.retried_at is None:
        return False
    timeout = int(config_value("JOB_TIMEOUT", app))
    if config_value("JOBS", app) == "rq":
        intervals = [int(i) for i in config_value("JOB_RETRY_INTERVALS", app)]
        longest = timeout * (len(intervals) + 1) + sum(intervals)
    else:
        longest = timeout
    return (now or utcnow()) - failure.retried_at < timedelta(seconds=longest)


def retry(
    session: Session, job_id: int, *, actor_id: str | None = None, app: Flask | None = None
) -> JobFailure:
    """Run a failed job again, once ``session`` commits (the caller commits, as for every move).

    Marks it ``retrying`` and leaves an audit event; the job marks it resolved when it
    succeeds, or records the new failure on the same row. Raises ``RetryRefused`` for an
    unknown or resolved failure, or one whose last retry is still in flight
    (``retry_in_flight``). ``app`` defaults to the current app (its backend is used).
    """

    app = app or get_state(current_app).app
    failure = session.get(JobFailure, job_id, with_for_update=True)
    if failure is None:
        raise RetryRefused(f"no failed job {job_id}")
    if failure.status == RESOLVED:
        raise RetryRefused(f"failed job {job_id} is already resolved", "resolved")
    if retry_in_flight(failure, app):
        raise RetryRefused(f"failed job {job_id} is being retried", "retrying")
    task = lookup(app, failure.task)
    arguments = check_arguments(app, task, failure.arguments or {})
    failure.status = RETRYING
    failure.retried_at = utcnow()
    failure.retried_by = actor_id
    audit.append(
        session,
        "job.retried",
        actor_id=actor_id,
        actor_role="staff" if actor_id else "system",
        request_id=failure.request_id,
        data={"failure_id": failure.id, "task": failure.task},
    )
    session.flush()
    _defer_or_dispatch(app, _Job(app, failure.task, arguments, failure.id), session)
    return failure


# --- the RQ worker ---------------------------------------------------------------------------------


def run_worker(
    app: Flask,
    *,
    queues: tuple[str, ...] = (),
    burst: bool = False,
    with_scheduler: bool = True,
    logging_level: str = "INFO",
) -> bool:
    """Work the configured queue (or ``queues``) inside ``app``; returns whether any job ran.

    Each job runs in a forked work horse with an app context of its own; the scheduler
    (on by default) moves retries whose backoff has passed back onto the queue.
    """
    from rq.serializers import JSONSerializer

    if config_value("JOBS", app) != "rq":
        raise ConfigError(
            'OME_PRIVACY_JOBS is "inline": jobs run in the web process, so there is nothing for a worker '
            'to do. Set OME_PRIVACY_JOBS = "rq" and OME_PRIVACY_REDIS_URL to use workers.'
        )
    names = queues or (config_value("JOB_QUEUE", app),)
    worker_class = _worker_class()
    worker = worker_class(
        [_queue(app, name) for name in names], connection=_redis(app), serializer=JSONSerializer, app=app
    )
    return bool(worker.work(burst=burst, with_scheduler=with_scheduler, logging_level=logging_level))


def _worker_class() -> type:
    """RQ's forking ``Worker``, made to run each job inside the app and to record give-ups."""
    from rq import Worker

    class AppWorker(Worker):
        def __init__(self, *args: Any, app: Flask, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.app = app
            self._error_types: dict[str, str] = {}
            self._permanent: set[str] = set()

        def perform_job(self, job: Any, queue: Any, execution: Any) -> bool:
            with self.app.app_context():
                if self.is_horse:
                    # A forked child must not reuse the parent's pooled database connections.
                    get_state(self.app).db.engine.dispose(close=False)
                return bool(super().perform_job(job, queue, execution))

        def handle_exception(self, job: Any, *exc_info: Any) -> None:
            exc = exc_info[1]
            if isinstance(exc, JobFailed):
                self._error_types[job.id] = exc.error_type
                if exc.permanent:
                    self._permanent.add(job.id)
            elif exc_info[0] is not None:
                self._error_types[job.id] = error_name(exc_info[0])
            super().handle_exception(job, *exc_info)

        def handle_job_failure(self, job: Any, queue: Any, *args: Any, **kwargs: Any) -> None:
            retries = int(job.meta.get("ome_privacy_retries", 0))
            attempt = retries - int(job.retries_left or 0) + 1
            permanent = job.id in self._permanent
            if permanent:
                self._permanent.discard(job.id)
                job.retries_left = 0  # the task gave up: RQ must not schedule the remaining retries
            gives_up = not job.should_retry
            try:
                self._note_failure(job, gives_up, attempt, permanent)
            finally:
                super().handle_job_failure(job, queue, *args, **kwargs)

        def _note_failure(self, job: Any, gives_up: bool, attempt: int, permanent: bool = False) -> None:
            # A horse killed outright (SIGKILL, out of memory) never reached handle_exception.
            error_type = self._error_types.pop(job.id, "WorkHorseTerminated")
            try:
                name, arguments, failure_id = job.args
            except (ValueError, TypeError):
                log.error("job %s is not a flask-ome-privacy job; not recorded", job.id)
                return
            retries = int(job.meta.get("ome_privacy_retries", 0))
            if not gives_up:
                log.warning(
                    "job %s %s: attempt %d of %d failed (%s); retrying in %s s",
                    name,
                    _ids(arguments),
                    attempt,
                    retries + 1,
                    error_type,
                    job.get_retry_interval(),
                )
                return
            log.error("job %s %s gave up after %d attempt(s): %s", name, _ids(arguments), attempt, error_type)
            _record_in_new_context(
                self.app, name, arguments, attempt, error_type, failure_id, job.id, permanent=permanent
            )

    return AppWorker
