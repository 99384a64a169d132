"""Races (issue 10, "Reliability tests"): two and eight staff clients on the same requests, on PostgreSQL.

Each client is a thread with its own signed-in test client (so its own app context,
database session and connection). They work in rounds, 100 per client: every client reads
the state of one of a few shared open requests — what its page would show — then all of
them wait at a barrier and POST a step that is legal from what they saw (claim, assign,
release, the identity checks and moves, the fee, the decision, the approval, carrying it
out, the manual tasks, the release), chosen from ``lifecycle.TRANSITIONS``: in even rounds
all at once (overlapping commits: the model's version counter must stop the second), in odd
rounds one after another (stale pages: the version the form carries must stop them). Every
round is a real race: all clients on one request acted on the same version, so exactly one
of them may win and every other one must be told "someone else changed this request".
Closed requests are replaced by new ones between rounds.

Afterwards the audit trail must account for every accepted step exactly once and for no
refused one; every status move in it must be legal and follow on from the one before (the
same for the assignee), and the hash chain must verify. Remove the version guard and these
tests fail (tried: see the report of the reliability branch).
"""

from __future__ import annotations

import contextlib
import random
import threading
import traceback
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from helpers import extract_csrf_token

from flask_ome_privacy import audit, privacy_requests
from flask_ome_privacy.decisions import ReceiptState
from flask_ome_privacy.lifecycle import TRANSITIONS, FeeStatus, RequestKind, Status
from flask_ome_privacy.models import AuditEvent, PrivacyRequest
from flask_ome_privacy.state import get_state, user_id_of

STAFF_URL = "/admin/privacy"
STAFF = ("staff@example.com", "staff2@example.com")
REQUESTERS = ("alice@example.com", "bob@example.com")
ROUNDS = 100
#: What a refused step says, on the request page (409) and in the flashed message after a redirect.
STALE_TEXT = "Someone else changed"
#: A disclosure (fee, no approval) and a stop of provision (four-eyes approval, manual tasks).
KINDS = (
    (RequestKind.DISCLOSE, {"items": ["profile"]}),
    (RequestKind.STOP_THIRD_PARTY, {"items": ["profile"]}),
)
#: Audit events that are not a staff step (the request's own arrival, documents opened).
NOT_STEPS = {privacy_requests.SUBMITTED_ACTION}


# --- what a client sees and does -------------------------------------------------------------------


@dataclass(frozen=True)
class Seen:
    """One request as a staff page shows it at the start of a round."""

    id: int
    reference: str
    kind: RequestKind
    status: Status
    version: int
    assigned_to: str | None
    fee_status: FeeStatus
    checks_ticked: bool
    decided_by: str | None
    approved_by: str | None
    manual_tasks: tuple[int, ...]
    receipts_settled: bool


@dataclass(frozen=True)
class Step:
    """A POST a staff member may make from what they saw, and the audit events it leaves."""

    name: str
    path: str
    form: dict[str, Any]
    audits: tuple[str, ...]
    move: tuple[Status, Status] | None = None


@dataclass
class Attempt:
    client: int
    round: int
    request_id: int
    reference: str
    step: str
    version: int
    audits: tuple[str, ...]
    outcome: str = ""  # accepted | stale | other | error
    detail: str = ""


def legal_steps(seen: Seen, me: str, other: str, four_eyes_kinds: frozenset[RequestKind]) -> list[Step]:
    """Every step open to staff member ``me`` on ``seen``; status moves only along ``TRANSITIONS``."""
    base = f"{STAFF_URL}/requests/{seen.reference}"
    steps: list[Step] = []
    assigned = ("request.assigned",)
    if seen.assigned_to != me:
        steps.append(Step("claim", f"{base}/claim", {}, assigned))
    if seen.assigned_to is not None:
        steps.append(Step("release", f"{base}/release", {}, assigned))
    if seen.assigned_to != other:
        steps.append(Step("assign", f"{base}/assign", {"assignee": other}, assigned))
    status = seen.status
    allowed = TRANSITIONS[status]
    if Status.IDENTITY_REVIEW in allowed and status is Status.SUBMITTED:
        steps.append(
            Step(
                "start review",
                f"{base}/identity/start",
                {},
                ("request.moved",),
                (status, Status.IDENTITY_REVIEW),
            )
        )
    if status is Status.IDENTITY_REVIEW:
        checks = {"check": ["type_accepted", "name_address_match", "masking_done"]}
        steps.append(Step("tick checks", f"{base}/identity/checks", checks, ("identity.checks_recorded",)))
        if seen.checks_ticked and Status.UNDER_REVIEW in allowed:
            steps.append(
                Step(
                    "verify identity",
                    f"{base}/identity/verify",
                    {"method": "uploaded_documents"},
                    ("identity.verified", "request.moved"),
                    (status, Status.UNDER_REVIEW),
                )
            )
    if seen.fee_status is FeeStatus.OUTSTANDING and status.is_open:
        paid_on = (date.today() - timedelta(days=2)).isoformat()  # never "in the future" in any time zone
        fee = {"outcome": "received", "received_on": paid_on, "amount": "1000", "method": "transfer"}
        steps.append(Step("fee received", f"{base}/fee", fee, ("fee.received",)))
    if status is Status.UNDER_REVIEW and Status.APPROVED in allowed:
        steps.append(
            Step(
                "decide",
                f"{base}/decision",
                {"item-0-verdict": "granted"},
                ("request.decided", "request.moved"),
                (status, Status.APPROVED),
            )
        )
    needs_approval = seen.kind in four_eyes_kinds
    if status is Status.APPROVED:
        if needs_approval and seen.approved_by is None and seen.decided_by != me:
            steps.append(Step("approve", f"{base}/approval", {}, ("request.approved",)))
        if (not needs_approval or seen.approved_by is not None) and Status.EXECUTING in allowed:
            steps.append(
                Step(
                    "carry out",
                    f"{base}/execution",
                    {},
                    ("request.moved", "request.execution_started", "request.executed"),
                    (status, Status.EXECUTING),
                )
            )
    if status is Status.EXECUTING:
        for receipt_id in seen.manual_tasks:
            steps.append(
                Step(
                    "tick manual task",
                    f"{base}/tasks/{receipt_id}/done",
                    {"note": "Done by telephone."},
                    ("request.manual_task_done",),
                )
            )
        fee_settled = seen.fee_status is not FeeStatus.OUTSTANDING
        if fee_settled and seen.receipts_settled and Status.COMPLETED in allowed:
            steps.append(
                Step(
                    "release notice",
                    f"{base}/release-notice",
                    {},
                    ("request.moved", "request.released"),
                    (status, Status.COMPLETED),
                )
            )
    return steps


def choose(rng: random.Random, steps: list[Step]) -> Step:
    """Mostly a step that takes the request on (so requests go the whole way), else a hand-over."""
    onward = [step for step in steps if step.name not in ("claim", "release", "assign")]
    return rng.choice(onward if onward and rng.random() < 0.7 else steps)


def look(app: Any, request_id: int) -> Seen:
    """What the request page would show now (a session of the caller's own)."""
    with app.app_context():
        session = get_state(app).session
        found = session.get(PrivacyRequest, request_id)
        assert found is not None
        settled = {ReceiptState.DONE.value, ReceiptState.NOT_APPLICABLE.value}
        seen = Seen(
            id=found.id,
            reference=found.reference,
            kind=RequestKind(found.kind),
            status=Status(found.status),
            version=found.version,
            assigned_to=found.assigned_to,
            fee_status=FeeStatus(found.fee_status),
            checks_ticked=len(found.identity_checks or {}) >= 3,
            decided_by=found.decided_by if found.decided_at is not None else None,
            approved_by=found.approved_by,
            manual_tasks=tuple(r.id for r in found.receipts if r.status == ReceiptState.MANUAL.value),
            receipts_settled=bool(found.receipts) and all(r.status in settled for r in found.receipts),
        )
        session.rollback()
        return seen


def new_request(app: Any, number: int) -> int:
    """A fresh request from a demo requester, as if filed online (kinds alternate)."""
    from example_app.models import User

    kind, scope = KINDS[number % len(KINDS)]
    with app.app_context():
        state = get_state(app)
        email = REQUESTERS[number % len(REQUESTERS)]
        user = state.session.scalar(sa.select(User).where(User.email == email))
        request = privacy_requests.submit(state, user_id=user_id_of(user), kind=kind, scope=scope)
        state.session.commit()
        return request.id


# --- the race -----------------------------------------------------------------------------------------


@dataclass
class Race:
    app: Any
    clients: int
    pool_size: int
    staff_ids: dict[str, str]
    pool: list[int] = field(default_factory=list)
    created: list[int] = field(default_factory=list)
    attempts: list[Attempt] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    one_at_a_time: threading.Lock = field(default_factory=threading.Lock)

    def refill(self) -> None:
        """Between rounds (one thread): closed requests leave the pool, new ones take their place."""
        self.pool = [rid for rid in self.pool if look(self.app, rid).status.is_open]
        while len(self.pool) < self.pool_size:
            rid = new_request(self.app, len(self.created))
            self.created.append(rid)
            self.pool.append(rid)

    def record(self, attempt: Attempt) -> None:
        with self.lock:
            self.attempts.append(attempt)


def classify(client: Any, response: Any) -> tuple[str, str]:
    """accepted / stale / other / error, from the answer and the message flashed for the next page."""
    with client.session_transaction() as session:
        flashed = session.pop("_flashes", [])
    body = response.get_data(as_text=True)
    if response.status_code >= 500:
        return "error", f"{response.status_code}"
    if response.status_code == 409 and STALE_TEXT in body:
        return "stale", ""
    if response.status_code == 303:
        errors = [message for category, message in flashed if category.endswith("error")]
        if any(STALE_TEXT in message for message in errors):
            return "stale", ""
        if errors:
            return "other", "; ".join(errors)
        if flashed:
            return "accepted", ""
    return "other", f"{response.status_code}: {flashed} {body[:300]}"


def run_client(
    race: Race,
    number: int,
    client: Any,
    email: str,
    token: str,
    start: threading.Barrier,
    go: threading.Barrier,
    four_eyes_kinds: frozenset[RequestKind],
) -> None:
    rng = random.Random(1000 + number)
    me = race.staff_ids[email]
    other = race.staff_ids[STAFF[1] if email == STAFF[0] else STAFF[0]]
    headers = {"Referer": f"http://localhost{STAFF_URL}/"}
    for round_no in range(ROUNDS):
        start.wait()
        request_id = rng.choice(race.pool)
        seen = look(race.app, request_id)
        step = choose(rng, legal_steps(seen, me, other, four_eyes_kinds))
        attempt = Attempt(number, round_no, seen.id, seen.reference, step.name, seen.version, step.audits)
        go.wait()
        # Even rounds: everyone at once (the commits overlap: the version counter decides). Odd
        # rounds: one after another, each with the page it loaded before anyone acted (the
        # version in the form decides).
        with race.one_at_a_time if round_no % 2 else contextlib.nullcontext():
            try:
                form = {"csrf_token": token, "version": str(seen.version), **step.form}
                response = client.post(step.path, data=form, headers=headers)
                attempt.outcome, attempt.detail = classify(client, response)
            except Exception as exc:  # an unhandled exception in the app: the test fails with it
                attempt.outcome = "error"
                attempt.detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        race.record(attempt)


def staff_client(app: Any, login: Callable[..., Any], email: str) -> tuple[Any, str]:
    client = app.test_client()
    login(client, email)
    with client.session_transaction() as session:
        session["lang"] = "en"  # the messages are matched in English
    token = extract_csrf_token(client.get(f"{STAFF_URL}/").get_data(as_text=True))
    return client, token


def run_race(app: Any, login: Callable[..., Any], clients: int, pool_size: int) -> Race:
    from example_app.models import User

    with app.app_context():
        session = get_state(app).session
        staff_ids = {
            email: user_id_of(session.scalar(sa.select(User).where(User.email == email))) for email in STAFF
        }
        four_eyes_kinds = frozenset(
            kind for kind, _scope in KINDS if kind in (RequestKind.STOP_THIRD_PARTY, RequestKind.STOP_USE)
        )
    race = Race(app, clients, pool_size, staff_ids)
    signed_in = [(STAFF[n % 2], *staff_client(app, login, STAFF[n % 2])) for n in range(clients)]
    start = threading.Barrier(clients, action=race.refill, timeout=120)
    go = threading.Barrier(clients, timeout=120)
    threads = [
        threading.Thread(
            target=run_client,
            args=(race, n, client, email, token, start, go, four_eyes_kinds),
            name=f"staff-client-{n}",
        )
        for n, (email, client, token) in enumerate(signed_in)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=600)
    assert not any(thread.is_alive() for thread in threads), "a client hung"
    return race


# --- the checks ---------------------------------------------------------------------------------------


def trail(app: Any) -> tuple[list[AuditEvent], audit.ChainReport]:
    with app.app_context():
        session = get_state(app).session
        events = list(session.scalars(sa.select(AuditEvent).order_by(AuditEvent.id)))
        report = audit.verify_chain(events)
        session.expunge_all()
        return events, report


def check_race(app: Any, race: Race) -> Counter[str]:
    attempts = race.attempts
    assert len(attempts) == race.clients * ROUNDS, "every client made its 100 attempts"
    outcomes = Counter(a.outcome for a in attempts)
    bad = [a for a in attempts if a.outcome not in ("accepted", "stale")]
    assert not bad, f"refused for another reason than a concurrent change, or crashed: {bad[:5]}"

    # Exactly one winner per raced request per round: all acted on the same version.
    by_round: dict[tuple[int, int], list[Attempt]] = {}
    for a in attempts:
        by_round.setdefault((a.round, a.request_id), []).append(a)
    for (round_no, request_id), raced in sorted(by_round.items()):
        winners = [a for a in raced if a.outcome == "accepted"]
        assert len(winners) == 1, (
            f"round {round_no}, request {request_id}: {len(winners)} of {len(raced)} clients acting on "
            f"version {raced[0].version} were accepted: {[(a.client, a.step) for a in raced]}"
        )
    accepted = [a for a in attempts if a.outcome == "accepted"]
    versions: dict[int, list[int]] = {}
    for a in sorted(accepted, key=lambda a: a.round):
        versions.setdefault(a.request_id, []).append(a.version)
    for request_id, seen_versions in versions.items():
        assert seen_versions == sorted(set(seen_versions)), f"request {request_id}: a version won twice"

    events, report = trail(app)
    assert report.ok, f"the audit chain does not verify: {report}"
    by_request: dict[int, list[AuditEvent]] = {}
    for event in events:
        if event.request_id is not None:
            by_request.setdefault(event.request_id, []).append(event)
    with app.app_context():
        session = get_state(app).session
        final = {r.id: r for r in session.scalars(sa.select(PrivacyRequest))}
        session.expunge_all()
    for request_id in race.created:
        request_events = by_request.get(request_id, [])
        expected = Counter(name for a in accepted if a.request_id == request_id for name in a.audits)
        logged = Counter(e.action for e in request_events if e.action not in NOT_STEPS)
        assert logged == expected, (
            f"request {request_id}: audit {dict(logged)} != accepted steps {dict(expected)}"
        )

        status: str = Status.SUBMITTED.value
        for event in (e for e in request_events if e.action == privacy_requests.MOVED_ACTION):
            assert event.data["from"] == status, f"request {request_id}: a move from a state it was not in"
            assert Status(event.data["to"]) in TRANSITIONS[Status(status)], f"illegal move {event.data}"
            status = event.data["to"]
        assert final[request_id].status == status
        assignee: str | None = None
        for event in (e for e in request_events if e.action == "request.assigned"):
            assert event.data["from"] == assignee, f"request {request_id}: an assignment was overwritten"
            assignee = event.data["to"]
        assert final[request_id].assigned_to == assignee
    return outcomes


@pytest.mark.postgres  # the race needs PostgreSQL's row locks (conftest skips it on SQLite)
@pytest.mark.parametrize(("clients", "pool_size"), [(2, 1), (8, 3)], ids=["2-clients", "8-clients"])
def test_concurrent_staff_lose_no_update_and_every_move_is_legal_and_audited_once(
    seeded_app: Any,
    login: Callable[..., Any],
    clients: int,
    pool_size: int,
    capsys: pytest.CaptureFixture[str],
) -> None:
    race = run_race(seeded_app, login, clients, pool_size)
    outcomes = check_race(seeded_app, race)
    steps = Counter(a.step for a in race.attempts if a.outcome == "accepted")
    with capsys.disabled():  # shown in every run, not only with -s
        print(
            f"\n{clients} clients x {ROUNDS} rounds on {len(race.created)} requests: "
            f"{outcomes['accepted']} accepted, {outcomes['stale']} refused as stale; "
            f"accepted steps {dict(steps)}"
        )
    # Every round was a race somewhere, and the requests went the whole way more than once.
    assert outcomes["stale"] >= ROUNDS * (clients - pool_size) // 2
    assert steps["release notice"] >= 1 and steps["carry out"] >= 1


# --- what the race found (deterministic, on both databases) -------------------------------------------


def test_a_queue_step_on_a_request_closed_meanwhile_says_someone_else_changed_it(
    seeded_app: Any, login: Callable[..., Any]
) -> None:
    """The queue showed the request open; a colleague closed it before the click: not a bare 404."""
    request_id = new_request(seeded_app, 0)
    seen = look(seeded_app, request_id)
    client, token = staff_client(seeded_app, login, STAFF[0])
    with seeded_app.app_context():
        state = get_state(seeded_app)
        request = state.session.get(PrivacyRequest, request_id)
        privacy_requests.move(state.session, request, Status.WITHDRAWN, actor_id="1", actor_role="user")
        state.session.commit()
    form = {"csrf_token": token, "version": str(seen.version)}
    response = client.post(f"{STAFF_URL}/requests/{seen.reference}/claim", data=form)
    assert classify(client, response) == ("stale", "")
    assert look(seeded_app, request_id).assigned_to is None
    assert client.post(f"{STAFF_URL}/requests/PR-NONE-NONE/claim", data=form).status_code == 404


def test_a_manual_task_ticked_by_a_colleague_meanwhile_is_refused_as_a_concurrent_change(
    seeded_app: Any,
) -> None:
    """The loaded request predates the colleague's commit, its receipts do not: "someone else changed"."""
    from flask_ome_privacy import execution
    from flask_ome_privacy.decisions import ItemDecision, Verdict
    from flask_ome_privacy.request_decisions import STALE_ERRORS, approve, save_decision

    request_id = new_request(seeded_app, 1)  # a stop of provision: approval, then manual tasks
    with seeded_app.app_context():
        state = get_state(seeded_app)
        request = state.session.get(PrivacyRequest, request_id)
        for target in (Status.IDENTITY_REVIEW, Status.UNDER_REVIEW):
            privacy_requests.move(state.session, request, target, actor_id="s1", actor_role="staff")
        request.identity_verified_at = request.received_at
        save_decision(state, request, [ItemDecision("profile", verdict=Verdict.GRANTED)], staff_id="s1")
        approve(state, request, staff_id="s2")
        execution.start(state, request, staff_id="s1", language="en")
        state.session.commit()
    seen = look(seeded_app, request_id)
    assert seen.status is Status.EXECUTING and seen.manual_tasks, seen
    task = seen.manual_tasks[0]
    with seeded_app.app_context():
        mine = get_state(seeded_app).session
        request = mine.get(PrivacyRequest, request_id)  # loaded; its receipts are not yet
        with seeded_app.app_context():  # a colleague, in a session of their own, ticks it first
            state = get_state(seeded_app)
            theirs = state.session.get(PrivacyRequest, request_id)
            execution.complete_manual_task(
                state, theirs, task, staff_id="s2", note="Done.", expected_version=seen.version
            )
            state.session.commit()
        with pytest.raises(STALE_ERRORS):
            execution.complete_manual_task(
                get_state(seeded_app),
                request,
                task,
                staff_id="s1",
                note="Done.",
                expected_version=seen.version,
            )
        mine.rollback()
