"""The migration that holds intervals to their order (20261129_1100) repairs history stored before it:
overlapping intervals are cut where the next one begins, empty ones removed, so its constraints can be added
to a database that already has the damage issue 15 found (overlaps, zero-length intervals). Run on a database
of its own, migrated to the revision before, on SQLite and on PostgreSQL (each has its own repair SQL)."""
from datetime import datetime

import flask_migrate
import pytest
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError

from portal import create_app
from portal.extensions import db
from tests.conftest import make_test_config

BEFORE = "6c4e8a2f1d97"


@pytest.fixture
def old_database(tmp_path, database_url):
    """A database of its own (a file for SQLite, a new database on the same PostgreSQL server)."""
    if database_url.startswith("sqlite"):
        yield "sqlite:///" + str(tmp_path / "old.db")
        return
    url = make_url(database_url)
    name = f"{url.database}_repair"
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        c.execute(text(f'CREATE DATABASE "{name}"'))
    yield url.set(database=name).render_as_string(hide_password=False)
    with admin.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _insert(conn, table: str, **values) -> int:
    """A row with `values` and something in every other NOT NULL column without a default (the schema of the
    revision under test, whatever it is)."""
    for column in inspect(conn).get_columns(table):
        if column["nullable"] or column.get("default") is not None or column["name"] in values or column["name"] == "id":
            continue
        kind = str(column["type"]).upper()
        values[column["name"]] = (datetime(2026, 1, 1) if "DATE" in kind or "TIME" in kind else
                                  False if "BOOL" in kind else 1 if "INT" in kind else "{}" if "JSON" in kind else "x")
    names = ", ".join(values)
    return conn.execute(text(f"INSERT INTO {table} ({names}) VALUES ({', '.join(':' + n for n in values)}) "
                             "RETURNING id"), values).scalar()


def test_overlapping_and_empty_intervals_are_repaired_before_the_constraints(old_database):
    app = create_app(make_test_config(old_database))
    at = lambda minute: datetime(2026, 3, 10, 9, minute)
    with app.app_context():
        flask_migrate.upgrade(revision=BEFORE)
        with db.engine.begin() as conn:
            org = _insert(conn, "organization", domain="old", name="Old")
            member = _insert(conn, "member", organization_id=org, login_id="ann", name="Ann", email="a@example.com",
                             status="active")
            for state, started, ended in [("ready", at(0), at(30)), ("break", at(10), at(20)),  # overlapping
                                          ("meal", at(20), at(20)),  # zero length
                                          ("ready", at(40), None)]:  # open
                _insert(conn, "agent_state_interval", organization_id=org, member_id=member, channel="phone",
                        state=state, started_at=started, ended_at=ended)
        flask_migrate.upgrade()
        with db.engine.connect() as conn:
            kept = conn.execute(text("SELECT state, started_at, ended_at FROM agent_state_interval "
                                     "ORDER BY started_at")).all()
        shown = lambda moment: str(moment)[:19] if moment else None  # SQLite gives text back, PostgreSQL datetimes
        assert [(state, shown(a), shown(b)) for state, a, b in kept] == [
            ("ready", shown(at(0)), shown(at(10))), ("break", shown(at(10)), shown(at(20))), ("ready", shown(at(40)), None)]
        with pytest.raises(IntegrityError), db.engine.begin() as conn:  # from now on the database refuses these
            _insert(conn, "agent_state_interval", organization_id=org, member_id=member, channel="chat",
                    state="online", started_at=at(50), ended_at=at(50))
        if db.engine.dialect.name == "postgresql":  # and an overlapping one
            with pytest.raises(IntegrityError), db.engine.begin() as conn:
                _insert(conn, "agent_state_interval", organization_id=org, member_id=member, channel="phone",
                        state="break", started_at=at(5), ended_at=at(8))
        db.engine.dispose()
