"""The test harness itself: the run uses the database it was asked for, and tests don't leak rows."""

from __future__ import annotations

import sqlalchemy as sa


def test_the_run_uses_the_database_it_was_asked_for(app, db, database_kind):
    with app.app_context():
        assert db.engine.dialect.name == database_kind
        if database_kind == "postgresql":
            assert db.engine.url.database.startswith("ome_test_")


def test_both_schemas_are_there(app, db):
    with app.app_context():
        tables = set(sa.inspect(db.engine).get_table_names())
    assert "users" in tables  # the example site's
    assert "ome_privacy_requests" in tables  # ours, from the Alembic migrations
    assert "ome_privacy_alembic_version" in tables


def test_a_row_written_in_one_test(app, db):
    from example_app.models import User

    with app.app_context():
        user = User(email="leak-check@example.com", name="Leak Check")
        db.session.add(user)
        db.session.commit()
        assert user.id == 1


def test_is_gone_in_the_next_and_ids_start_again(app, db):
    from example_app.models import User

    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == 0
        user = User(email="leak-check@example.com", name="Leak Check")
        db.session.add(user)
        db.session.commit()
        assert user.id == 1


def test_count_queries_counts_statements(app, db, count_queries):
    with app.app_context(), count_queries() as queries:
        db.session.execute(sa.text("SELECT 1"))
        db.session.execute(sa.text("SELECT 2"))
    assert queries.count == 2, str(queries)


def test_the_sign_in_form_carries_a_csrf_token(client, csrf_token):
    assert len(csrf_token(client, "/login")) > 20


def test_posting_without_the_token_is_refused(client):
    response = client.post("/login", data={"email": "a@example.com", "password": "x"})
    assert response.status_code == 400
    assert b"csrf" in response.data.lower()
