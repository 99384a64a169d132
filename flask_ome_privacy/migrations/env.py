"""Alembic environment for flask-ome-privacy: our metadata, our version table, the host's engine."""

from __future__ import annotations

from alembic import context

from flask_ome_privacy.models import Base

config = context.config
engine = config.attributes["engine"]
version_table = config.attributes.get("version_table", "ome_privacy_alembic_version")


def include_object(obj: object, name: str | None, type_: str, reflected: bool, compare_to: object) -> bool:
    """Only ever look at our own tables, never the host's."""
    if type_ == "table":
        return name.startswith("ome_privacy_") and name != version_table
    return True


with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        version_table=version_table,
        include_object=include_object,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
