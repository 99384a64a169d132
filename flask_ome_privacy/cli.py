"""``flask ome-privacy …``: the commands a site operator runs."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import with_appcontext

from . import migrate as migrations
from .extension import get_state


@click.group("ome-privacy", help="flask-ome-privacy: migrations, checks and the job worker.")
def privacy_cli() -> None:
    pass


@privacy_cli.command("migrate", help="Create or upgrade the ome_privacy_* tables.")
@click.option("--revision", default="head", show_default=True, help="Target revision.")
@with_appcontext
def migrate_command(revision: str) -> None:
    app = current_app._get_current_object()  # the real app, for the engine
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
@with_appcontext
def verify_audit_command() -> None:
    from .audit import verify_session

    report = verify_session(get_state(current_app).session)
    if report.ok:
        click.echo(f"Audit trail intact: {report.checked} events checked.")
        return
    click.echo(
        f"Audit trail BROKEN at event {report.first_bad_id}: {report.problem} "
        f"({report.checked} events before it are intact).",
        err=True,
    )
    raise SystemExit(1)


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
    import logging

    from .config import ConfigError
    from .jobs import run_worker

    # RQ logs through its own handler; ours (retries, give-ups) get the same look when the host set none.
    ours = logging.getLogger("flask_ome_privacy")
    if not ours.handlers and not logging.getLogger().handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s: %(message)s", "%H:%M:%S"))
        ours.addHandler(handler)
        ours.setLevel(logging_level)
    try:
        run_worker(
            current_app._get_current_object(),
            queues=queues,
            burst=burst,
            with_scheduler=scheduler,
            logging_level=logging_level,
        )
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None
