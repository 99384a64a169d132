"""``flask --app example_app demo-setup`` and ``flask --app example_app seed``."""

from __future__ import annotations

import click
import sqlalchemy as sa
from flask import Flask, current_app
from flask.cli import with_appcontext

from .extensions import db
from .models import new_session_token
from .seed import DemoAccount, seed_demo, seed_demo_requests


def register(app: Flask) -> None:
    app.cli.add_command(demo_setup_command)
    app.cli.add_command(seed_command)


def create_schema(app: Flask) -> None:
    """The extension's tables through its own migrations, then the site's tables."""
    from flask_ome_privacy.migrate import upgrade

    upgrade(app)
    db.create_all()
    _add_session_tokens()


def _add_session_tokens() -> None:
    """Demo databases made before ``users.session_token`` existed get the column (one token each)."""
    inspector = sa.inspect(db.engine)
    if "session_token" in {column["name"] for column in inspector.get_columns("users")}:
        return
    with db.engine.begin() as connection:
        connection.execute(sa.text("ALTER TABLE users ADD COLUMN session_token VARCHAR(64)"))
        for (user_id,) in connection.execute(sa.text("SELECT id FROM users")).all():
            connection.execute(
                sa.text("UPDATE users SET session_token = :token WHERE id = :id"),
                {"token": new_session_token(), "id": user_id},
            )
        connection.execute(sa.text("CREATE UNIQUE INDEX uq_users_session_token ON users (session_token)"))


def _print_accounts(accounts: list[DemoAccount]) -> None:
    click.echo("Demo accounts:")
    for account in accounts:
        password = account.password if account.password else "(no password: use “Continue with Facebook”)"
        click.echo(f"  {account.email:<22} {password:<14}  {account.role}")


@click.command("demo-setup")
@with_appcontext
def demo_setup_command() -> None:
    """Create or update the database and add the demo accounts (safe to run again)."""
    create_schema(current_app._get_current_object())
    click.echo(f"Database ready: {db.engine.url.render_as_string(hide_password=True)}")
    _print_accounts(seed_demo())
    _seed_requests()


@click.command("seed")
@with_appcontext
def seed_command() -> None:
    """Add the demo accounts and their data (existing accounts are left alone)."""
    _print_accounts(seed_demo())
    _seed_requests()


def _seed_requests() -> None:
    """Demo rights requests for alice and bob in different states, unless they have some already."""
    added = seed_demo_requests()
    if added:
        click.echo(f"Demo requests: {added} (alice, bob, carol and one by post; every stage of the desk)")
