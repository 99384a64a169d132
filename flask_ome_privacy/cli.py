"""``flask ome-privacy …``: the commands a site operator runs."""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta

import click
from flask import current_app
from flask.cli import with_appcontext
from flask_babel import force_locale, get_timezone

from . import audit, deficiency_notices, report, retention
from . import migrate as migrations
from .config import ConfigError, config_value
from .documents import storage
from .export import BOM
from .i18n import translate
from .jobs import run_worker
from .models import utcnow
from .state import get_state


@click.group("ome-privacy", help="flask-ome-privacy: migrations, checks and the job worker.")
def privacy_cli() -> None:
    pass


@privacy_cli.command("migrate", help="Create or upgrade the ome_privacy_* tables.")
@click.option("--revision", default="head", show_default=True, help="Target revision.")
@with_appcontext
def migrate_command(revision: str) -> None:
    app = get_state(current_app).app  # the real app, not the proxy, for the engine
    before = migrations.current_revision(app)
    migrations.upgrade(app, revision)
    after = migrations.current_revision(app)
    if before == after:
        click.echo(f"ome_privacy tables already at {after}.")
    else:
        click.echo(f"ome_privacy tables upgraded from {before or 'empty'} to {after}.")


@privacy_cli.command("sources", help="List the registered data sources.")
@with_appcontext
def sources_command() -> None:
    state = get_state(current_app)
    sources = list(state.extension.sources)
    if not sources:
        click.echo("No data sources registered. Use privacy.register_source(...).")
        return
    for source in sources:
        category = state.purposes.categories.get(source.category)
        actions = ", ".join(sorted(a.value for a in source.actions))
        provider = f" ({source.provider})" if source.provider else ""
        click.echo(
            f"{source.key}\t{source.label}\torigin={source.origin.value}{provider}\t"
            f"category={source.category}{'' if category else ' (UNKNOWN CATEGORY)'}\t"
            f"fields={len(source.fields)}\tactions={actions}"
        )


@privacy_cli.command("verify-audit", help="Check that the audit trail is unbroken (policy Art. 3.2).")
@click.option(
    "--anchor",
    "anchor_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="A file outside the database holding the head of the trail: checked, then moved on. "
    "Keep it where whoever can write the database cannot.",
)
@with_appcontext
def verify_audit_command(anchor_path: str | None) -> None:
    """Reads ``OME_PRIVACY_AUDIT_KEYS`` (HMACs are checked when keys are set)."""
    try:
        anchor = audit.read_anchor(anchor_path) if anchor_path else None
    except audit.AnchorError as exc:
        click.echo(f"Audit trail NOT verified: {exc}", err=True)
        raise SystemExit(1) from None
    keys = audit.configured_keys()
    report = audit.verify_session(get_state(current_app).session, keys=keys, anchor=anchor)
    if not report.ok:
        where = f" at event {report.first_bad_id}" if report.first_bad_id is not None else ""
        click.echo(
            f"Audit trail BROKEN{where}: {report.problem} ({report.checked} events before it are intact).",
            err=True,
        )
        raise SystemExit(1)
    signed = "signed " if keys and not report.unsigned_ids else ""
    click.echo(f"Audit trail intact: {report.checked} {signed}events checked.")
    if unsigned := report.unsigned_ids:
        click.echo(
            f"Note: {len(unsigned)} events (ids {unsigned[0]}-{unsigned[-1]}) "
            "were written before OME_PRIVACY_AUDIT_KEYS was set and carry no HMAC; "
            "the chain (and the anchor) still cover them."
        )
    if report.unchecked_macs:
        click.echo(
            f"Note: {report.unchecked_macs} events carry an HMAC that was not checked: "
            "OME_PRIVACY_AUDIT_KEYS is not set."
        )
    if anchor_path:
        audit.write_anchor(anchor_path, report)
        if anchor is None:
            click.echo(f"Anchor created in {anchor_path}: head event {report.last_id or 'none'}.")
        else:
            click.echo(f"Anchor checked and moved on to event {report.last_id} in {anchor_path}.")


@privacy_cli.command(
    "rotate-document-keys",
    help="Re-encrypt every stored identity document with the newest key in OME_PRIVACY_DOCUMENT_KEYS.",
)
@click.option("--batch-size", default=100, show_default=True, type=click.IntRange(min=1))
@with_appcontext
def rotate_document_keys_command(batch_size: int) -> None:
    """Put the new key first in OME_PRIVACY_DOCUMENT_KEYS, run this, then drop the old key."""
    try:
        cipher = storage.cipher_for(current_app)
    except storage.DocumentKeyError as exc:
        raise click.ClickException(str(exc)) from None
    session = get_state(current_app).session
    report = storage.rotate_keys(session, cipher, batch_size=batch_size, after_batch=session.commit)
    audit.append(
        session,
        "documents.keys_rotated",
        actor_id=None,
        actor_role="system",
        data={
            "rotated": report.rotated,
            "already_newest": report.already_newest,
            "purged": report.purged,
            "unreadable": len(report.unreadable),
            "keys": cipher.key_count,
        },
    )
    session.commit()
    click.echo(
        f"Re-encrypted {report.rotated} document(s) with the newest key; "
        f"{report.already_newest} already used it; {report.purged} purged (no file kept)."
    )
    if report.unreadable:
        ids = ", ".join(str(i) for i in report.unreadable[:20])
        more = " …" if len(report.unreadable) > 20 else ""
        click.echo(
            f"{len(report.unreadable)} document(s) could not be opened with any configured key "
            f"(ids {ids}{more}). Put the key they were encrypted with back into "
            "OME_PRIVACY_DOCUMENT_KEYS (after the newest) and run this again.",
            err=True,
        )
        raise SystemExit(1)
    if cipher.key_count > 1:
        click.echo("Every stored file uses the newest key: the older key(s) can now be removed.")


@privacy_cli.command(
    "close-expired",
    help="Close requests whose deficiency notice went unanswered past its deadline (safe from cron).",
)
@with_appcontext
def close_expired_command() -> None:
    state = get_state(current_app)
    closed = deficiency_notices.close_expired(state.session)
    state.session.commit()
    click.echo(f"Closed {len(closed)} request(s) as incomplete.")


@privacy_cli.command("worker", help='Run background jobs from Redis (OME_PRIVACY_JOBS = "rq").')
@click.option("--burst", is_flag=True, help="Stop when the queue is empty instead of waiting for more.")
@click.option("--queue", "queues", multiple=True, help="Queue(s) to work; default OME_PRIVACY_JOB_QUEUE.")
@click.option(
    "--scheduler/--no-scheduler",
    default=True,
    show_default=True,
    help="Also move retries whose backoff has passed back onto the queue.",
)
@click.option("--logging-level", default="INFO", show_default=True)
@with_appcontext
def worker_command(burst: bool, queues: tuple[str, ...], scheduler: bool, logging_level: str) -> None:
    # RQ logs through its own handler; ours (retries, give-ups) get the same look when the host set none.
    ours = logging.getLogger("flask_ome_privacy")
    if not ours.handlers and not logging.getLogger().handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s: %(message)s", "%H:%M:%S"))
        ours.addHandler(handler)
        ours.setLevel(logging_level)
    try:
        run_worker(
            get_state(current_app).app,
            queues=queues,
            burst=burst,
            with_scheduler=scheduler,
            logging_level=logging_level,
        )
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None


@privacy_cli.command(
    "purge",
    help="Delete identity documents and requester texts of requests closed more than "
    "OME_PRIVACY_DOCUMENT_RETENTION_DAYS ago (policy Art. 4.4). Safe to run again.",
)
@with_appcontext
def purge_command() -> None:
    """One transaction; the run and every purged request are on the audit trail."""
    state = get_state(current_app)
    result = retention.purge_due(state)
    state.session.commit()
    drafts = "no drafts module" if result.drafts is None else f"{result.drafts} stale draft(s) deleted"
    click.echo(
        f"Purged {result.requests} closed request(s) past "
        f"{state.config('DOCUMENT_RETENTION_DAYS')} days: {result.documents} document file(s) deleted, "
        f"{result.messages} requester message(s) cleared; {drafts}."
    )


def _day(value: str | None, name: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date such as 2026-09-15", param_hint=name) from None


@privacy_cli.command("report", help="The review report (policy Art. 3.2) for requests received in a period.")
@click.option("--since", required=True, help="First day of the period (YYYY-MM-DD, the app's time zone).")
@click.option("--until", default=None, help="Last day, included (default: today).")
@click.option("--format", "output", type=click.Choice(["text", "csv"]), default="text", show_default=True)
@click.option("--language", default=None, help="Language of the labels (default: the first configured).")
@with_appcontext
def report_command(since: str, until: str | None, output: str, language: str | None) -> None:
    """The same figures as /admin/privacy/report and its CSV."""
    state = get_state(current_app)
    first = _day(since, "--since")
    assert first is not None  # nosec B101  # typing only: --since is required
    last = _day(until, "--until") or state.today()
    if last < first:
        raise click.BadParameter("the last day is before the first", param_hint="--until")
    zone = get_timezone()

    def start(day: date) -> datetime:
        return report.start_of_day(day, zone)

    language = language or config_value("LANGUAGES")[0]
    with force_locale(language):
        summary = report.gather(state, start(first), start(last + timedelta(days=1)), now=utcnow())
        rows = list(report.csv_rows(summary, translate))
        if output == "csv":
            click.echo("".join(report.write_csv(summary, translate)).removeprefix(BOM), nl=False)
            return
    click.echo(f"{first.isoformat()} – {last.isoformat()}")
    width = max(len(label) for _section, _key, label, _value in rows)
    section = ""
    for name, _key, label, value in rows[2:]:
        if name != section:
            click.echo("")
            section = name
        click.echo(f"  {label.ljust(width)}  {value or '—'}")
