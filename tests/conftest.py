"""Fixtures: one migrated database per session (SQLite, or PostgreSQL when TEST_DATABASE_URL is set),
emptied after every test; a real Redis (TEST_REDIS_URL, started by scripts/test.sh)."""
from __future__ import annotations

import os
import re

import pytest
from redis import Redis
from sqlalchemy import text

from portal import create_app
from portal.extensions import db as _db
from tests.factories import PASSWORD, Factories

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
CSRF_RE = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"|name="csrf_token" value="([^"]+)"')


def make_test_config(database_url: str) -> dict:
    return {
        "TESTING": True,
        "SQLALCHEMY_DATABASE_URI": database_url,
        "REDIS_URL": REDIS_URL,
        "RATELIMIT_STORAGE_URI": REDIS_URL,
        "PASSWORD_HASH_PROFILE": "fast",
        "MAIL_SERVER": "",
        "PORTAL_URL": "http://portal.test",
    }


@pytest.fixture(scope="session")
def database_url(tmp_path_factory) -> str:
    return os.environ.get("TEST_DATABASE_URL") or "sqlite:///" + str(tmp_path_factory.mktemp("db") / "test.db")


@pytest.fixture(scope="session")
def app(database_url):
    import flask_migrate

    app = create_app(make_test_config(database_url))
    with app.app_context():
        if _db.engine.dialect.name == "postgresql":
            with _db.engine.begin() as conn:
                conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        flask_migrate.upgrade()  # the schema under test is the migrated one, not create_all's
    yield app
    with app.app_context():
        _db.engine.dispose()


@pytest.fixture(autouse=True)
def _clean_state(app):
    yield
    with app.app_context():
        _db.session.remove()
        tables = list(reversed(_db.metadata.sorted_tables))
        if _db.engine.dialect.name == "postgresql":
            with _db.engine.begin() as conn:
                conn.execute(text("TRUNCATE " + ", ".join(f'"{t.name}"' for t in tables) + " RESTART IDENTITY CASCADE"))
        else:
            with _db.engine.begin() as conn:
                for table in tables:
                    conn.execute(table.delete())
    Redis.from_url(REDIS_URL).flushdb()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def make(app) -> Factories:
    return Factories(app)


def csrf_token(client, path: str | None = None) -> str:
    """A CSRF token of this client's session, from a page that carries one (log-in page or settings)."""
    response = client.get(path or "/login")
    if path is None and response.status_code == 302:  # already logged in
        response = client.get("/me/settings")
    html = response.get_data(as_text=True)
    match = CSRF_RE.search(html)
    assert match, f"no CSRF token on {path}"
    return match.group(1) or match.group(2)


class Auth:
    def __init__(self, client):
        self.client = client

    def login(self, member, password: str = PASSWORD, domain: str | None = None):
        from portal.models import Organization

        if domain is None:
            with self.client.application.app_context():
                domain = _db.session.get(Organization, member.organization_id).domain
        return self.client.post("/login", data={
            "csrf_token": csrf_token(self.client), "organization": domain,
            "login_id": member.login_id, "password": password,
        })

    def logout(self):
        return self.client.post("/logout", data={"csrf_token": csrf_token(self.client, "/logout")})


@pytest.fixture
def auth(client) -> Auth:
    return Auth(client)


@pytest.fixture
def login_as(app):
    """`login_as(member)` gives a fresh logged-in test client for that member."""
    def _login(member):
        c = app.test_client()
        response = Auth(c).login(member)
        assert response.status_code == 303, response.get_data(as_text=True)[:500]
        return c

    return _login


@pytest.fixture
def smtp(app):
    """A real SMTP server on loopback (aiosmtpd); the app sends to it. `smtp.messages` holds what arrived."""
    import email
    import socket

    from aiosmtpd.controller import Controller

    from portal.extensions import mail

    class Inbox:
        def __init__(self):
            self.messages = []

        async def handle_DATA(self, server, session, envelope):
            self.messages.append(email.message_from_bytes(envelope.content))
            return "250 Message accepted"

        def last_body(self) -> str:
            message = self.messages[-1]
            part = message.get_payload()[0] if message.is_multipart() else message
            return part.get_payload(decode=True).decode(part.get_content_charset() or "utf-8")

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    saved_state, saved_server = app.extensions["mail"], app.config["MAIL_SERVER"]
    settings = {**app.config, "MAIL_SERVER": "127.0.0.1", "MAIL_PORT": port, "MAIL_SUPPRESS_SEND": False}
    app.extensions["mail"] = mail.init_mail(settings, False, False)
    app.config["MAIL_SERVER"] = "127.0.0.1"
    yield inbox
    app.extensions["mail"], app.config["MAIL_SERVER"] = saved_state, saved_server
    controller.stop()
