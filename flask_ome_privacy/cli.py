"""``flask ome-privacy …``: the commands a site operator runs."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import with_appcontext

from . import migrate as migrations
from .audit import verify_session
from .state import get_state


@click.group("ome-privacy", help="flask-ome-privacy: migrations and checks.")
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
@with_appcontext
def verify_audit_command() -> None:
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
