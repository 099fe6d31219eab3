"""Redis down: /healthz says so, but log-in, the CTI ingest and the Open API keep working with their rate limits
counted in the process's memory, and a migration upload is saved and checked once a worker with Redis sweeps."""
import io
import logging
from datetime import datetime, timedelta, timezone

import pytest
from rq import SimpleWorker
from sqlalchemy import func, select

from portal import create_app
from portal.extensions import db, limiter
from portal.models import BatchStatus, CtiEvent, MigrationBatch, Organization, Service
from portal.queue import get_queue, get_redis
from portal.services import Actor, ticket_fields
from portal.services.organizations import rotate_api_key
from tests.conftest import Auth, csrf_token, make_test_config
from tests.migration_files import fill
from tests.test_cti_ingest import at, line  # noqa: F401  (line is a fixture)
from tests.test_migration import EN, GOOD, template

CLOSED_PORT = "redis://127.0.0.1:1/0"  # nothing listens there: every Redis call is refused


@pytest.fixture
def down(app, database_url):
    """An app whose Redis is down, on the same database as `app`."""
    down_app = create_app(make_test_config(database_url) | {"REDIS_URL": CLOSED_PORT,
                                                            "RATELIMIT_STORAGE_URI": CLOSED_PORT})
    yield down_app
    with down_app.app_context():
        db.engine.dispose()
    # The limiter is one object bound to the last app built: give it back to `app`, its storage alive again.
    limiter.init_app(app)
    limiter._storage_dead = False


@pytest.fixture
def warnings_logged(monkeypatch, caplog):
    """The warnings these tests read. The session's Alembic upgrade (its fileConfig) disabled the loggers that
    existed before it; a web process never runs it."""
    for name in ("flask-limiter", "portal.services.jobs"):
        monkeypatch.setattr(logging.getLogger(name), "disabled", False)
    caplog.set_level(logging.WARNING)
    return caplog


@pytest.fixture
def acme(make, app):
    """An organization with a service to migrate into, its admin and an API key."""
    org = make.org(domain="acme")
    service = make.service(org, "desk", name="Desk")
    make.place(service, make.member(org, "agt", name="Agent A"))  # the assignee of GOOD's rows
    with app.app_context():
        svc = db.session.get(Service, service.id)
        ticket_fields.add_custom_field(Actor(org.id, None), svc, key="mood", type="single_choice", label_ko="기분",
                                       label_en="Mood", choices="angry\ncalm\nhappy")
        key = rotate_api_key(Actor(org.id, None), db.session.get(Organization, org.id))
        db.session.commit()
    return {"org": org, "service": service, "admin": make.admin_of(org), "key": key}


def test_healthz_says_redis_is_down(down):
    response = down.test_client().get("/healthz")
    assert response.status_code == 503 and "redis" in response.get_data(as_text=True)


def test_log_in_works_and_is_still_throttled_in_memory_with_a_warning(down, acme, warnings_logged):
    auth = Auth(down.test_client())
    assert auth.login(acme["admin"]).status_code == 303
    assert "falling back to in-memory storage" in warnings_logged.text
    auth.logout()
    statuses = [auth.login(acme["admin"], password=f"wrong-{i}").status_code for i in range(6)]
    assert statuses == [401] * 5 + [429]
    page = auth.login(acme["admin"]).get_data(as_text=True)
    assert "Redis" not in page and "memory" not in page


def test_the_open_api_and_the_cti_ingest_answer(down, line, app):
    client = down.test_client()
    headers = {"Authorization": f"Bearer {line['key']}", "Accept-Language": "en"}
    listing = client.get("/api/v1/services", headers=headers)
    assert listing.status_code == 200 and listing.headers["RateLimit-Limit"]
    events = [  # the call ends in after-call work, whose timer is enqueued after the commit: Redis refuses it
        {"kind": "agent_login", "event_id": "1", "occurred_at": at(0), "cti_id": "ann01"},
        {"kind": "inbound_ringing", "event_id": "2", "occurred_at": at(10), "cti_id": "ann01", "call_id": "c1",
         "direction": "IB", "counterpart": "01012345678"},
        {"kind": "answered", "event_id": "3", "occurred_at": at(15), "cti_id": "ann01", "call_id": "c1"},
        {"kind": "hangup", "event_id": "4", "occurred_at": at(75), "cti_id": "ann01", "call_id": "c1"},
    ]
    ingest = client.post("/api/v1/cti/events", json={"service": "phone", "events": events}, headers=headers)
    assert ingest.status_code == 200, ingest.get_data(as_text=True)[:300]
    assert [r["status"] for r in ingest.json["results"]] == ["stored"] * 4
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(CtiEvent)) == 4


def test_an_upload_is_saved_says_it_waits_and_is_checked_by_the_sweep_once_redis_is_back(down, acme, app,
                                                                                        warnings_logged):
    client = down.test_client()
    assert Auth(client).login(acme["admin"]).status_code == 303
    response = client.post("/admin/migrations/new", headers=EN, content_type="multipart/form-data", data={
        "csrf_token": csrf_token(client, "/admin/migrations/new"), "service": "desk",
        "file": (io.BytesIO(fill(template(client), GOOD)), "tickets.xlsx")})
    assert response.status_code == 303, response.get_data(as_text=True)[:300]
    assert "migration.check" in warnings_logged.text and "not enqueued" in warnings_logged.text
    batch_id = int(response.headers["Location"].rsplit("/", 1)[1])
    page = client.get(f"/admin/migrations/{batch_id}", headers=EN).get_data(as_text=True)
    assert 'id="check-waiting"' in page and "you do not need to upload the file again" in page

    with app.app_context():  # Redis is back; the upload's heartbeat is as old as the outage
        batch = db.session.get(MigrationBatch, batch_id)
        assert batch.status == BatchStatus.checking and get_queue().count == 0
        batch.heartbeat_at = datetime.now(timezone.utc) - timedelta(hours=1)
        db.session.commit()
        get_queue("scheduled").enqueue("jobs.migration.sweep")
        SimpleWorker([get_queue("scheduled"), get_queue()], connection=get_redis()).work(burst=True)
        db.session.remove()
        checked = db.session.get(MigrationBatch, batch_id)
        assert checked.status == BatchStatus.ready and checked.rows == len(GOOD)
