"""Faults (issue 10, "Reliability tests"): a source breaking half-way, a worker killed mid-job, the
database connection dropped mid-request — on PostgreSQL.

What must hold each time: the request stays ``executing`` (or where it was), nothing is
reported done that was not (a failed receipt, no release, no notice to the requester), a
retry finishes only what was left, and nothing is done twice: sources that succeeded are
not called again (calls are counted), each source's work is committed once, and the audit
trail has one run that counts. The flows go through the staff routes of the example site
(``test_staff_decide``'s helpers); the killed worker is a real RQ work horse
(``test_jobs``' fixtures, which skip without Redis and fail under CI=true).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jobs_tasks
import pytest
import sqlalchemy as sa
import test_jobs as jobs_tests
import test_staff_decide as staff_decide_tests
from helpers import extract_csrf_token
from test_staff_decide import STAFF, flashes, grant_all, load, open_request, post, sources

from flask_ome_privacy import audit
from flask_ome_privacy.models import AuditEvent, Notification
from flask_ome_privacy.state import get_state

pytestmark = pytest.mark.postgres

# The fixtures this file shares with its neighbours, by name (pytest finds them here).
staff_client = staff_decide_tests.staff_client
job_dir, jobs_redis_url = jobs_tests.job_dir, jobs_tests.jobs_redis_url
rq_app, workers, failures = jobs_tests.rq_app, jobs_tests.workers, jobs_tests.failures

ALICE = "alice@example.com"
#: What Facebook still holds after an erasure: the link itself (it goes only with unlinking).
FACEBOOK_LINK_ONLY = 1


# --- helpers ------------------------------------------------------------------------------------------


def receipts(app: Any, reference: str) -> dict[str, tuple[str, int]]:
    """(status, attempts) per source receipt (processors' manual tasks left out)."""
    return {r.target: (r.status, r.attempts) for r in load(app, reference).receipts if ":" not in r.target}


def audit_actions(app: Any, reference: str) -> Counter[str]:
    with app.app_context():
        session = get_state(app).session
        request = load(app, reference)
        return Counter(
            session.scalars(sa.select(AuditEvent.action).where(AuditEvent.request_id == request.id))
        )


def chain_verifies(app: Any) -> bool:
    with app.app_context():
        session = get_state(app).session
        return audit.verify_chain(session.scalars(sa.select(AuditEvent).order_by(AuditEvent.id))).ok


def decision_notices(app: Any, reference: str) -> int:
    with app.app_context():
        request_id = load(app, reference).id
        return len(
            get_state(app)
            .session.scalars(
                sa.select(Notification).where(
                    Notification.request_id == request_id, Notification.kind == "decision"
                )
            )
            .all()
        )


def held(app: Any, email: str) -> dict[str, int]:
    """How much each source still holds for ``email`` (values read through the sources themselves)."""
    from example_app.models import User

    with app.app_context():
        state = get_state(app)
        user = state.session.scalar(sa.select(User).where(User.email == email))
        counts = {source.key: sum(1 for _ in source.collect(user)) for source in state.sources}
        state.session.rollback()
        return counts


@pytest.fixture
def counted(seeded_app: Any, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Counter[str]]:
    """``counted(method, breaks=key, how=...)``: count every source's ``method`` calls; the source
    ``breaks`` does part of its work on its first call and then raises (``how``)."""
    calls: Counter[str] = Counter()

    def install(method: str, *, breaks: str, how: Callable[[], Exception]) -> Counter[str]:
        with seeded_app.app_context():
            every = list(get_state(seeded_app).sources)
        for source in every:
            real = getattr(source, method)
            key = source.key

            if method == "collect":

                def collect(user: Any, _real: Any = real, _key: str = key) -> Iterator[Any]:
                    calls[_key] += 1
                    records = _real(user)
                    if _key == breaks and calls[_key] == 1:
                        yield next(records)  # half-way: one value read, then the source breaks
                        raise how()
                    yield from records

                monkeypatch.setattr(source, "collect", collect)
            else:

                def erase(user: Any, fields: Any = None, _real: Any = real, _key: str = key) -> str:
                    calls[_key] += 1
                    summary = str(_real(user, fields))  # the work is done (flushed) ...
                    if _key == breaks and calls[_key] == 1:
                        raise how()  # ... and then the source breaks before it can say so
                    return summary

                monkeypatch.setattr(source, "erase", erase)
        return calls

    return install


def decide_and_carry_out(app: Any, client: Any, reference: str) -> None:
    post(client, app, reference, "decision", grant_all(len(sources(app))))
    post(client, app, reference, "execution")


# --- (a) a source that breaks half-way ----------------------------------------------------------------


def test_a_source_breaking_half_way_through_erasure_is_undone_and_only_it_runs_again(
    seeded_app, db, staff_client, counted
):
    seeded_app.config["OME_PRIVACY_FOUR_EYES"] = False
    before = held(seeded_app, ALICE)
    assert before["org_survey"] > 0 and before["facebook"] > 0
    calls = counted("erase", breaks="org_survey", how=lambda: RuntimeError("lost the survey store for 花子"))
    reference = open_request(seeded_app, db, ALICE, "erase")
    staff = staff_client("staff@example.com")
    decide_and_carry_out(seeded_app, staff, reference)

    # The survey's own deletion was rolled back with its savepoint: nothing gone that is not reported.
    assert held(seeded_app, ALICE)["org_survey"] == before["org_survey"]
    assert held(seeded_app, ALICE)["facebook"] == FACEBOOK_LINK_ONLY
    request = load(seeded_app, reference)
    failed = next(r for r in request.receipts if r.target == "org_survey")
    assert request.status == "executing"
    assert (failed.status, failed.error, failed.executed_at) == ("failed", "RuntimeError", None)
    assert "花子" not in (failed.summary or "") + (failed.error or "")
    assert receipts(seeded_app, reference) == {
        "profile": ("done", 1),
        "facebook": ("done", 1),
        "org_survey": ("failed", 1),
    }
    post(staff, seeded_app, reference, "release-notice")
    assert any("failed somewhere" in m for m in flashes(staff))
    assert load(seeded_app, reference).status == "executing" and decision_notices(seeded_app, reference) == 0

    post(staff, seeded_app, reference, "execution/retry")
    assert calls == {"profile": 1, "facebook": 1, "org_survey": 2}, "a source that succeeded ran again"
    assert receipts(seeded_app, reference) == {
        "profile": ("done", 1),
        "facebook": ("done", 1),
        "org_survey": ("done", 2),
    }
    assert held(seeded_app, ALICE)["org_survey"] == 0
    assert audit_actions(seeded_app, reference)["request.executed"] == 2  # the failed run and the retry
    assert chain_verifies(seeded_app)


def test_a_source_breaking_half_way_through_disclosure_is_not_reported_read_and_only_it_runs_again(
    seeded_app, db, staff_client, counted
):
    from flask_ome_privacy.sources import SourceError

    calls = counted("collect", breaks="facebook", how=lambda: SourceError("Facebook did not answer"))
    reference = open_request(seeded_app, db, ALICE, "disclose")
    staff = staff_client("staff@example.com")
    decide_and_carry_out(seeded_app, staff, reference)

    assert load(seeded_app, reference).status == "executing"
    state = receipts(seeded_app, reference)
    assert state["facebook"] == ("failed", 1) and state["profile"] == ("done", 1)
    assert state["org_survey"] == ("done", 1)
    failed = next(r for r in load(seeded_app, reference).receipts if r.target == "facebook")
    assert failed.error == "Facebook did not answer" and not failed.summary  # no "read N value(s)"
    post(staff, seeded_app, reference, "release-notice")
    assert any("failed somewhere" in m for m in flashes(staff))
    assert decision_notices(seeded_app, reference) == 0

    post(staff, seeded_app, reference, "execution/retry")
    assert calls == {"profile": 1, "facebook": 2, "org_survey": 1}, "a source that succeeded ran again"
    state = receipts(seeded_app, reference)
    assert all(status == "done" for status, _attempts in state.values()), state
    assert state["facebook"] == ("done", 2) and state["profile"] == ("done", 1)
    assert chain_verifies(seeded_app)


# --- (b) the worker killed half-way through a request ---------------------------------------------------


@pytest.fixture
def rq_settings(database_url: str, jobs_redis_url: str, job_dir: Path) -> dict[str, Any]:
    """As ``test_jobs``' but without automatic retries: the killed job gives up at once, so the
    state it left can be read before staff retry it."""
    import secrets

    queue = f"ome-test-{secrets.token_hex(4)}"
    return jobs_tasks.rq_config(database_url, jobs_redis_url, queue, [], str(job_dir))


def test_a_worker_killed_half_way_through_an_erasure_leaves_nothing_done_and_the_retry_does_it_once(
    rq_app, seeded, db, login, workers, job_dir
):
    """SIGKILL in the work horse after the first source erased: the job's one transaction dies with
    it, so that source's work is gone too; the receipts still say pending, the request is executing,
    the failure is on record; the staff retry then does every source once."""
    rq_app.config["OME_PRIVACY_FOUR_EYES"] = False
    before = held(rq_app, ALICE)
    reference = open_request(rq_app, db, ALICE, "erase")
    staff = rq_app.test_client()
    login(staff, "staff@example.com")
    with staff.session_transaction() as session:
        session["lang"] = "en"
    (job_dir / "kill-facebook").touch()  # the second source kills its horse (after profile erased)
    decide_and_carry_out(rq_app, staff, reference)
    assert receipts(rq_app, reference) == {s: ("pending", 0) for s in ("profile", "facebook", "org_survey")}

    workers.burst()
    [failure] = failures(rq_app, db)
    assert (failure.task, failure.error_type, failure.status) == (
        "ome_privacy.execute",
        "WorkHorseTerminated",
        "failed",
    )
    assert not (job_dir / "kill-facebook").exists(), "the horse never reached the second source"
    assert load(rq_app, reference).status == "executing"
    assert receipts(rq_app, reference) == {s: ("pending", 0) for s in ("profile", "facebook", "org_survey")}
    assert held(rq_app, ALICE) == before, "work of the killed job survived it"
    assert audit_actions(rq_app, reference)["request.executed"] == 0

    post(staff, rq_app, reference, "execution/retry")
    workers.burst()
    assert receipts(rq_app, reference) == {s: ("done", 1) for s in ("profile", "facebook", "org_survey")}
    calls = {
        key: len((job_dir / f"calls-{key}").read_text().split())
        for key in ("profile", "facebook", "org_survey")
    }
    # profile and facebook ran in the killed attempt (undone with it) and in the retry; the survey once.
    assert calls == {"profile": 2, "facebook": 2, "org_survey": 1}
    left = held(rq_app, ALICE)
    assert (left["facebook"], left["org_survey"]) == (FACEBOOK_LINK_ONLY, 0)
    assert audit_actions(rq_app, reference)["request.executed"] == 1
    assert chain_verifies(rq_app)


# --- (c) the database connection dropped mid-request ----------------------------------------------------


class Terminator:
    """Ends a session's PostgreSQL backend from outside (``pg_terminate_backend``), as a failover,
    a restart or an administrator would."""

    def __init__(self, database_url: str) -> None:
        url = sa.make_url(database_url)
        self.engine = sa.create_engine(url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
        self.killed: list[int] = []

    def kill(self, pid: int) -> None:
        with self.engine.connect() as conn:
            ended = conn.execute(sa.text("SELECT pg_terminate_backend(:pid, 10000)"), {"pid": pid}).scalar()
        assert ended, f"backend {pid} did not end"
        self.killed.append(pid)

    def kill_session_of(self, session: Any) -> None:
        self.kill(int(session.connection().exec_driver_sql("SELECT pg_backend_pid()").scalar()))


@pytest.fixture
def terminator(database_url: str) -> Iterator[Terminator]:
    ender = Terminator(database_url)
    yield ender
    ender.engine.dispose()


def test_the_connection_dropped_between_two_sources_rolls_the_run_back_and_the_retry_does_it_once(
    seeded_app, db, staff_client, terminator, monkeypatch
):
    seeded_app.config["OME_PRIVACY_FOUR_EYES"] = False
    before = held(seeded_app, ALICE)
    with seeded_app.app_context():
        facebook = get_state(seeded_app).sources["facebook"]
    real_erase = facebook.erase
    calls: Counter[str] = Counter()

    def erase(user: Any, fields: Any = None) -> str:
        calls["facebook"] += 1
        if calls["facebook"] == 1:  # profile has erased; the database connection goes away now
            terminator.kill_session_of(get_state(seeded_app).session)
        return str(real_erase(user, fields))

    monkeypatch.setattr(facebook, "erase", erase)
    reference = open_request(seeded_app, db, ALICE, "erase")
    staff = staff_client("staff@example.com")
    decide_and_carry_out(seeded_app, staff, reference)  # the page answers; the job failed behind it

    assert terminator.killed, "the connection was never dropped"
    assert load(seeded_app, reference).status == "executing"
    assert receipts(seeded_app, reference) == {
        s: ("pending", 0) for s in ("profile", "facebook", "org_survey")
    }
    assert held(seeded_app, ALICE) == before, "work of the interrupted run survived it"
    [failure] = failures(seeded_app, db)
    assert failure.task == "ome_privacy.execute" and failure.error_type.endswith("OperationalError")

    post(staff, seeded_app, reference, "execution/retry")
    assert receipts(seeded_app, reference) == {s: ("done", 1) for s in ("profile", "facebook", "org_survey")}
    assert calls["facebook"] == 2
    left = held(seeded_app, ALICE)
    assert (left["facebook"], left["org_survey"]) == (FACEBOOK_LINK_ONLY, 0)
    assert audit_actions(seeded_app, reference)["request.executed"] == 1
    assert chain_verifies(seeded_app)


def test_the_connection_dropped_during_a_staff_post_rolls_back_and_the_same_form_then_works(
    seeded_app, db, staff_client, terminator
):
    """Verifying identity writes its audit event, then moves the request: the connection goes in
    between. The page says to try again (503); nothing of the step was kept; the same form, sent again,
    does it once."""
    from example_app.models import User
    from flask_ome_privacy import identity_checks, privacy_requests
    from flask_ome_privacy.state import user_id_of

    with seeded_app.app_context():
        state = get_state(seeded_app)
        alice = state.session.scalar(sa.select(User).where(User.email == ALICE))
        request = privacy_requests.submit(state, user_id=user_id_of(alice), kind="disclose")
        identity_checks.start_identity_review(state.session, request, actor_id="1")
        checks = [c.value for c in identity_checks.checks_for(request)]
        identity_checks.record_checks(state.session, request, checks, actor_id="1")
        state.session.commit()
        reference = request.reference
    staff = staff_client("staff@example.com")
    seen = load(seeded_app, reference)
    token = extract_csrf_token(staff.get(f"{STAFF}/requests/{reference}").get_data(as_text=True))
    form = {"csrf_token": token, "version": str(seen.version), "method": "uploaded_documents"}
    url = f"{STAFF}/requests/{reference}/identity/verify"

    with seeded_app.app_context():
        engine = get_state(seeded_app).db.engine
    updates = Counter[str]()

    def drop_before_the_move(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        # The first UPDATE records "verified" (then its audit event); the second is the move.
        if statement.startswith("UPDATE ome_privacy_requests"):
            updates["request"] += 1
            if updates["request"] == 2:
                terminator.kill(cursor.connection.info.backend_pid)

    seeded_app.config["PROPAGATE_EXCEPTIONS"] = False  # answer as in production, not raise into the test
    sa.event.listen(engine, "before_cursor_execute", drop_before_the_move)
    try:
        dropped = staff.post(url, data=form)
    finally:
        sa.event.remove(engine, "before_cursor_execute", drop_before_the_move)
    assert terminator.killed, "the connection was never dropped"
    # The site says to try again (nothing was saved halfway), not a bare 500.
    assert dropped.status_code == 503, dropped.get_data(as_text=True)[:300]
    assert dropped.headers["Retry-After"] == "5"
    body = dropped.get_data(as_text=True)
    assert "Nothing you sent was saved halfway" in body or "途中まで保存されたものはありません" in body
    after = load(seeded_app, reference)
    assert (after.status, after.version, after.identity_verified_at) == (
        "identity_review",
        seen.version,
        None,
    )
    assert audit_actions(seeded_app, reference)["identity.verified"] == 0

    again = staff.post(url, data=form)
    assert again.status_code == 303, again.get_data(as_text=True)[:500]
    done = load(seeded_app, reference)
    assert done.status == "under_review" and done.identity_verified_at is not None
    logged = audit_actions(seeded_app, reference)
    # Two moves in all: to identity review (before the test) and, once, on to the review.
    assert (logged["identity.verified"], logged["request.moved"]) == (1, 2)
    assert chain_verifies(seeded_app)
