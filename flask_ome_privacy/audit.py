"""The audit trail: append-only events chained by SHA-256 (policy Art. 1.4, 3.2).

Each event's hash covers its content and the previous event's hash, so editing or
deleting any row breaks the chain from there on; ``verify_chain`` finds the first break.
Events carry ids and codes only — never names, addresses or document contents.

The chain alone proves little against whoever can write the database: the algorithm is
published, so they can edit an event and recompute every later hash, or delete the last
events. Two anchors outside the database close that gap:

* an HMAC per event (``mac``) with a key the database does not hold (``OME_PRIVACY_AUDIT_KEYS``,
  newest first; a key is retired by moving it down the list, and removed only once no event
  signed with it matters). Rewritten events cannot be re-signed without the key. It does not
  notice events cut off the end: the rest still verify.
* a head record (``Anchor``: last event id and hash) written to a file after each successful
  check (``flask ome-privacy verify-audit --anchor FILE``) and compared the next time: the
  anchored event must still be there, unchanged. It notices truncation and rewrites of
  anything up to the anchored event; events appended since the last check are covered only
  by the HMAC.

Events written before a key was configured have no ``mac``; ``verify_chain`` counts them as
unauthenticated and fails on an unsigned event after a signed one (or after the point the
anchor says signing began), so dropping the MACs is no way around them.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import tempfile
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import sqlalchemy as sa
from flask import Flask, current_app, has_app_context
from sqlalchemy.orm import Session

from .locks import serialize
from .models import AuditEvent, utcnow

GENESIS = "0" * 64


def event_hash(
    prev_hash: str,
    at: datetime,
    actor_id: str | None,
    actor_role: str,
    action: str,
    request_id: int | None,
    subject_user_id: str | None,
    data: dict[str, Any],
) -> str:
    payload = json.dumps(
        [prev_hash, at.isoformat(), actor_id, actor_role, action, request_id, subject_user_id, data],
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        default=str,
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def parse_keys(value: str | Iterable[str] | None) -> list[bytes]:
    """``OME_PRIVACY_AUDIT_KEYS`` as key bytes, newest first: a list, or a comma-separated string."""
    if not value:
        return []
    items = value.split(",") if isinstance(value, str) else list(value)
    return [item.strip().encode("utf-8") for item in items if item and item.strip()]


def configured_keys() -> list[bytes]:
    """The current app's audit keys (none outside an app context)."""
    if not has_app_context():
        return []
    return parse_keys(current_app.config.get("OME_PRIVACY_AUDIT_KEYS"))


def event_mac(key: bytes, hash_: str) -> str:
    """HMAC-SHA256 of an event's hash (which covers its content and its predecessor's hash)."""
    return hmac.new(key, b"flask-ome-privacy/audit/v1:" + hash_.encode("ascii"), hashlib.sha256).hexdigest()


def append(
    session: Session,
    action: str,
    *,
    actor_id: str | None,
    actor_role: str,
    request_id: int | None = None,
    subject_user_id: str | None = None,
    data: dict[str, Any] | None = None,
) -> AuditEvent:
    """Add one event to the chain in the caller's transaction (the caller commits).

    Signed with the newest ``OME_PRIVACY_AUDIT_KEYS`` key when one is configured.
    """
    # Two transactions appending at once would both link to the same predecessor.
    serialize(session, "ome_privacy:audit")
    last = session.execute(
        sa.select(AuditEvent.hash).order_by(AuditEvent.id.desc()).limit(1)
    ).scalar_one_or_none()
    prev = last or GENESIS
    # Microsecond precision survives both SQLite and PostgreSQL round trips.
    at = utcnow()
    payload = dict(data or {})
    hash_ = event_hash(prev, at, actor_id, actor_role, action, request_id, subject_user_id, payload)
    keys = configured_keys()
    event = AuditEvent(
        at=at,
        actor_id=actor_id,
        actor_role=actor_role,
        action=action,
        request_id=request_id,
        subject_user_id=subject_user_id,
        data=payload,
        prev_hash=prev,
        hash=hash_,
        mac=event_mac(keys[0], hash_) if keys else None,
    )
    session.add(event)
    session.flush()
    return event


@dataclass(frozen=True)
class Anchor:
    """The head of the trail as a successful check saw it, kept outside the database."""

    last_id: int | None
    last_hash: str
    events: int
    written_at: str
    #: The first event signed with an audit key: from there on every event must be signed.
    first_signed_id: int | None = None

    FORMAT = "flask-ome-privacy/audit-anchor"


class AnchorError(ValueError):
    """The anchor file cannot be read as one (a check must not pass on a garbled anchor)."""


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    checked: int
    first_bad_id: int | None = None
    problem: str = ""
    #: The last event checked, and the first signed one: what the next anchor records.
    last_id: int | None = None
    last_hash: str = GENESIS
    first_signed_id: int | None = None
    #: Ids of events without a MAC although keys are configured (written before the keys).
    unsigned_ids: tuple[int, ...] = field(default=(), repr=False)
    #: Events that carry a MAC which could not be checked because no key is configured.
    unchecked_macs: int = 0


def _matches(keys: Sequence[bytes], event: AuditEvent) -> bool:
    return any(hmac.compare_digest(event_mac(key, event.hash), event.mac or "") for key in keys)


def verify_chain(
    events: Iterable[AuditEvent],
    keys: Sequence[bytes] = (),
    anchor: Anchor | None = None,
    *,
    after: ChainReport | None = None,
) -> ChainReport:
    """Walk events in id order; report the first one whose link, hash, HMAC or anchor does not hold.

    ``keys``: the audit keys (any of them may have signed an event). ``anchor``: the head a
    previous check recorded; the trail must still contain that event, unchanged. ``after``:
    a passing report of the events before these; the walk carries on from its last event
    (``events`` are then only the later ones), so a long trail is checked a piece at a time.
    """
    if after is not None and (anchor is not None or not after.ok):
        raise ValueError("only a passing report is carried on, and not together with an anchor")
    prev = after.last_hash if after is not None else GENESIS
    checked = after.checked if after is not None else 0
    last_id: int | None = after.last_id if after is not None else None
    first_signed = after.first_signed_id if after is not None else None
    signed_from = anchor.first_signed_id if anchor is not None else None
    anchored = anchor is None or anchor.last_id is None
    unsigned: list[int] = list(after.unsigned_ids) if after is not None else []
    unchecked = after.unchecked_macs if after is not None else 0

    def broken(event_id: int | None, problem: str) -> ChainReport:
        return ChainReport(
            False, checked, event_id, problem, last_id, prev, first_signed, tuple(unsigned), unchecked
        )

    for event in events:
        if not anchored and anchor is not None and anchor.last_id is not None and event.id > anchor.last_id:
            missing = anchor.last_id
            return broken(missing, f"event {missing}, the head recorded by the anchor, is missing")
        if event.prev_hash != prev:
            return broken(event.id, "link to the previous event is broken")
        expected = event_hash(
            event.prev_hash,
            event.at,
            event.actor_id,
            event.actor_role,
            event.action,
            event.request_id,
            event.subject_user_id,
            event.data or {},
        )
        if expected != event.hash:
            return broken(event.id, "event content does not match its hash")
        if keys:
            if event.mac is None:
                if first_signed is not None or (signed_from is not None and event.id >= signed_from):
                    return broken(event.id, "event is not signed, although events before it are")
                unsigned.append(event.id)
            elif not _matches(keys, event):
                return broken(event.id, "event signature matches none of the audit keys")
            elif first_signed is None:
                first_signed = event.id
        elif event.mac is not None:
            unchecked += 1
        if anchor is not None and event.id == anchor.last_id:
            if event.hash != anchor.last_hash:
                return broken(
                    event.id,
                    f"event differs from the anchor written {anchor.written_at}: the trail was rewritten",
                )
            anchored = True
        prev = event.hash
        last_id = event.id
        checked += 1
    if not anchored and anchor is not None:
        return broken(
            anchor.last_id,
            f"the trail ends at event {last_id or 0}, but the anchor written {anchor.written_at} "
            f"recorded event {anchor.last_id}: events were deleted from the end",
        )
    if anchor is not None and checked < anchor.events:
        return broken(None, f"{checked} events, fewer than the {anchor.events} the anchor recorded")
    if first_signed is None and anchor is not None:
        first_signed = anchor.first_signed_id
    return ChainReport(True, checked, None, "", last_id, prev, first_signed, tuple(unsigned), unchecked)


def verify_session(
    session: Session,
    batch: int = 1000,
    *,
    keys: Sequence[bytes] | None = None,
    anchor: Anchor | None = None,
    after: ChainReport | None = None,
    limit: int | None = None,
) -> ChainReport:
    """``verify_chain`` over the events in the database. ``keys`` default: ``OME_PRIVACY_AUDIT_KEYS``.

    ``after`` (a passing report) carries on after its last event, which must still be there
    with the same hash; ``limit`` checks at most that many events (the report says how far).
    """
    stmt = sa.select(AuditEvent).order_by(AuditEvent.id).execution_options(yield_per=batch)
    if after is not None and after.last_id is not None:
        still = session.scalar(sa.select(AuditEvent.hash).where(AuditEvent.id == after.last_id))
        if still != after.last_hash:
            change = "is missing" if still is None else "has changed"
            return ChainReport(
                False,
                after.checked,
                after.last_id,
                f"event {after.last_id}, where the last check stopped, {change}",
                after.last_id,
                after.last_hash,
                after.first_signed_id,
                after.unsigned_ids,
                after.unchecked_macs,
            )
        stmt = stmt.where(AuditEvent.id > after.last_id)
        if limit == 0:
            return after  # only the checked head was to be confirmed
    if limit is not None:
        stmt = stmt.limit(limit)
    keys = configured_keys() if keys is None else keys
    return verify_chain(session.scalars(stmt), keys, anchor, after=after)


# --- the anchor file ---------------------------------------------------------------------------


def read_anchor(path: str | os.PathLike[str]) -> Anchor | None:
    """The anchor in ``path``; None when there is no such file yet (the first check writes it)."""
    try:
        with open(path, encoding="utf-8") as handle:
            raw = json.load(handle)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise AnchorError(f"cannot read the audit anchor {os.fspath(path)}: {exc}") from exc
    try:
        if raw.get("format") != Anchor.FORMAT:
            raise ValueError("not an audit anchor")
        last_id = raw["last_id"]
        first_signed = raw.get("first_signed_id")
        return Anchor(
            last_id=None if last_id is None else int(last_id),
            last_hash=str(raw["last_hash"]),
            events=int(raw["events"]),
            written_at=str(raw["written_at"]),
            first_signed_id=None if first_signed is None else int(first_signed),
        )
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        raise AnchorError(f"the audit anchor {os.fspath(path)} is not valid: {exc}") from exc


def write_anchor(path: str | os.PathLike[str], report: ChainReport) -> Anchor:
    """Record the head ``report`` checked in ``path`` (atomically, mode 0600). Only for a passing report."""
    if not report.ok:
        raise ValueError("only an intact trail is anchored")
    anchor = Anchor(
        last_id=report.last_id,
        last_hash=report.last_hash,
        events=report.checked,
        written_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        first_signed_id=report.first_signed_id,
    )
    text = json.dumps({"format": Anchor.FORMAT, **_fields(anchor)}, indent=2) + "\n"
    folder = os.path.dirname(os.path.abspath(path))
    handle, temporary = tempfile.mkstemp(dir=folder, prefix=".audit-anchor-")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temporary, 0o600)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise
    return anchor


def _fields(anchor: Anchor) -> dict[str, Any]:
    return {
        "last_id": anchor.last_id,
        "last_hash": anchor.last_hash,
        "events": anchor.events,
        "first_signed_id": anchor.first_signed_id,
        "written_at": anchor.written_at,
    }


# --- reading the trail: the staff audit page (policy Art. 3.2) --------------------------------


@dataclass(frozen=True)
class EventFilter:
    """What the audit page narrows the trail to; every part optional. Times are UTC bounds."""

    request_id: int | None = None
    actor_id: str | None = None
    action: str | None = None
    since: datetime | None = None  # inclusive
    until: datetime | None = None  # exclusive
    #: A reference that names no request: nothing matches (rather than everything).
    nothing: bool = False

    def where(self) -> list[sa.ColumnElement[bool]]:
        conditions: list[sa.ColumnElement[bool]] = []
        if self.nothing:
            conditions.append(sa.false())
        if self.request_id is not None:
            conditions.append(AuditEvent.request_id == self.request_id)
        if self.actor_id:
            conditions.append(AuditEvent.actor_id == self.actor_id)
        if self.action:
            conditions.append(AuditEvent.action == self.action)
        if self.since is not None:
            conditions.append(AuditEvent.at >= self.since)
        if self.until is not None:
            conditions.append(AuditEvent.at < self.until)
        return conditions


@dataclass(frozen=True)
class EventPage:
    """One page of events, newest first; ``older``/``newer``: the keys of the next pages, if any."""

    events: list[AuditEvent]
    older: int | None
    newer: int | None


def events_page(
    session: Session,
    selection: EventFilter,
    *,
    page_size: int,
    before: int | None = None,
    after: int | None = None,
) -> EventPage:
    """Keyset paging by id, newest first: page 500 costs what page 1 does (the primary key index).

    ``before``: the events older than this id (the next page); ``after``: the ones newer
    (the previous page). One query, plus one to know whether newer events exist.
    """
    conditions = selection.where()
    if after is not None:
        rows = list(
            session.scalars(
                sa.select(AuditEvent)
                .where(*conditions, AuditEvent.id > after)
                .order_by(AuditEvent.id)
                .limit(page_size + 1)
            )
        )
        has_newer = len(rows) > page_size
        events = list(reversed(rows[:page_size]))
        has_older = bool(events) and _exists(session, conditions, AuditEvent.id < events[-1].id)
    else:
        stmt = sa.select(AuditEvent).where(*conditions).order_by(AuditEvent.id.desc()).limit(page_size + 1)
        if before is not None:
            stmt = stmt.where(AuditEvent.id < before)
        rows = list(session.scalars(stmt))
        has_older = len(rows) > page_size
        events = rows[:page_size]
        has_newer = (
            before is not None and bool(events) and _exists(session, conditions, AuditEvent.id > events[0].id)
        )
    return EventPage(
        events=events,
        older=events[-1].id if events and has_older else None,
        newer=events[0].id if events and has_newer else None,
    )


def _exists(
    session: Session, conditions: list[sa.ColumnElement[bool]], extra: sa.ColumnElement[bool]
) -> bool:
    return session.scalar(sa.select(sa.exists().where(*conditions, extra))) is True


def iter_events(session: Session, selection: EventFilter, batch: int = 1000) -> Iterator[AuditEvent]:
    """Every event the filter selects, newest first, read ``batch`` at a time (the CSV download)."""
    stmt = (
        sa.select(AuditEvent)
        .where(*selection.where())
        .order_by(AuditEvent.id.desc())
        .execution_options(yield_per=batch)
    )
    yield from session.scalars(stmt)


def actions(session: Session) -> list[str]:
    """The action codes in the trail, for the page's filter."""
    return list(session.scalars(sa.select(AuditEvent.action).distinct().order_by(AuditEvent.action)))


@dataclass(frozen=True)
class ChainStatus:
    """What the audit page says about the chain: how far it is verified, out of how many events."""

    report: ChainReport
    head_id: int | None
    signed: bool

    @property
    def complete(self) -> bool:
        return self.report.ok and self.report.last_id == self.head_id


#: Events checked per page view at most: a page view stays quick on any trail, and each view
#: carries on where the last stopped (``flask ome-privacy verify-audit`` checks all at once).
STATUS_BATCH = 5_000
_CHECKPOINT_KEY = "ome_privacy.audit_checkpoint"
_checkpoint_lock = threading.Lock()


def chain_status(session: Session, app: Flask, *, batch: int | None = None) -> ChainStatus:
    """The chain's state for the audit page, checked incrementally from a checkpoint.

    The checkpoint (the last passing report) lives in this process's memory for ``app``,
    never in the database: whoever can write the database must not be able to move it. Each
    call first re-reads the checkpoint's event (a change or deletion up to there is caught),
    then checks at most ``batch`` (``STATUS_BATCH``) newer events. A break, once found, stays
    reported by this process. The daily ``verify-audit`` (with ``--anchor``) re-checks
    everything from the start.
    """
    keys = parse_keys(app.config.get("OME_PRIVACY_AUDIT_KEYS"))
    head = session.scalar(sa.select(sa.func.max(AuditEvent.id)))
    with _checkpoint_lock:
        checkpoint: ChainReport | None = app.extensions.get(_CHECKPOINT_KEY)
        if checkpoint is None or checkpoint.ok:
            if checkpoint is None or checkpoint.last_id != head:
                checkpoint = verify_session(
                    session, keys=keys, after=checkpoint, limit=batch or STATUS_BATCH
                )
            elif checkpoint.last_id is not None:
                # Nothing new: still make sure the checked head was not rewritten or removed.
                checkpoint = verify_session(session, keys=keys, after=checkpoint, limit=0)
            app.extensions[_CHECKPOINT_KEY] = checkpoint
    return ChainStatus(checkpoint, head, bool(keys))
