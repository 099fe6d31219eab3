"""Parallel CTI ingest (issue 15, item 3): batches that touch the same agents in opposite orders at the same
moment, through separate connections, neither deadlock nor lose an event."""
import threading
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from portal.extensions import db
from portal.models import CtiAgent, CtiEvent, Organization, Service
from portal.blueprints.api import cti as cti_api
from portal.services import Actor, cti, cti_events
from portal.services.contracts import sign_contract
from portal.services.organizations import rotate_api_key
from tests.threads import run_together

T0 = datetime.now(timezone.utc) - timedelta(hours=2)
STATES = ("ready", "break", "meal", "training", "reporting", "meeting")
PAIRS, ROUNDS, EVENTS_PER_AGENT = 3, 15, 3


@pytest.fixture
def desk(make, app):
    return _desk(make, app, postgresql_only=True)


def _desk(make, app, postgresql_only=False):
    org = make.org(domain="acme")
    service = make.service(org, "phone", name="Phone Desk")
    agents = [make.member(org, f"agent{n}", name=f"Agent {n}") for n in range(2)]
    for agent in agents:
        make.place(service, agent, ticket=True, chat=True, phone=True)
    with app.app_context():
        if postgresql_only and db.engine.dialect.name != "postgresql":
            pytest.skip("SQLite's write lock runs one ingest at a time: no row locks, no deadlock to provoke")
        svc = db.session.get(Service, service.id)
        sign_contract(Actor(org.id, None), svc, {"base.seat": 2, "ticket.phone_cti": 2}, base_version=None)
        cti.set_toggle(Actor(org.id, None), svc, "log_monitoring", True)
        for n, agent in enumerate(agents):
            db.session.add(CtiAgent(organization_id=org.id, member_id=agent.id, cti_id=f"a{n}", cti_number=f"700{n}"))
        key = rotate_api_key(Actor(org.id, None), db.session.get(Organization, org.id))
        db.session.commit()
    return {"key": key}


def batch(pair: int, rnd: int, side: str) -> list[dict]:
    """Side A changes agent 0's state, then agent 1's; side B agent 1's, then agent 0's: each request updates
    the open interval of one agent while the other request holds the other's."""
    order = (0, 1) if side == "A" else (1, 0)
    events = []
    for agent in order:
        for i in range(EVENTS_PER_AGENT):
            second = (pair * ROUNDS + rnd) * 100 + (0 if side == "A" else 50) + agent * 10 + i
            events.append({"kind": "state_change", "event_id": f"p{pair}-r{rnd}-{side}-a{agent}-{i}",
                           "cti_id": f"a{agent}", "state": STATES[(i + (side == "B")) % len(STATES)],
                           "occurred_at": (T0 + timedelta(seconds=second)).isoformat()})
    return events


def test_batches_touching_the_same_agents_in_opposite_orders_never_deadlock(desk, app):
    """Three pairs of requests, started together each round, send batches that change two agents' states in
    opposite orders: every request answers 200 and every event is stored exactly once."""
    barrier = threading.Barrier(2 * PAIRS)
    answers: list[tuple[str, int, list[str]]] = []

    def send(pair: int, side: str):
        client = app.test_client()
        for rnd in range(ROUNDS):
            events = batch(pair, rnd, side)
            barrier.wait(timeout=30)
            response = client.post("/api/v1/cti/events", json={"service": "phone", "events": events},
                                   headers={"Authorization": f"Bearer {desk['key']}"})
            body = response.get_json(silent=True) or {}
            answers.append((f"p{pair}-r{rnd}-{side}", response.status_code,
                            [r.get("status") for r in body.get("results", [])]))

    run_together(send, *[(pair, side) for pair in range(PAIRS) for side in "AB"], barrier=barrier, timeout=120)
    failed = [(name, status) for name, status, _ in answers if status != 200]
    assert failed == []
    assert all(statuses == ["stored"] * 2 * EVENTS_PER_AGENT for _, _, statuses in answers)
    total = PAIRS * ROUNDS * 2 * 2 * EVENTS_PER_AGENT
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(CtiEvent)) == total
        assert db.session.scalar(select(func.count(func.distinct(CtiEvent.external_id)))) == total


class FakeDeadlock(Exception):
    sqlstate = "40P01"  # what psycopg's DeadlockDetected carries


def lose_after_storing(monkeypatch, failures: int):
    """Make the batch store its events (and what they drive), then fail like a deadlock victim before the commit,
    `failures` times."""
    real, calls = cti_events.store, {"failed": 0}

    def store(*args, **kwargs):
        stored = real(*args, **kwargs)
        if calls["failed"] < failures:
            calls["failed"] += 1
            raise OperationalError("UPDATE agent_state_interval …", {}, FakeDeadlock())
        return stored

    monkeypatch.setattr(cti_events, "store", store)
    return calls


def test_a_batch_that_loses_a_deadlock_is_rolled_back_and_run_again(make, app, monkeypatch):
    """Second line of defence: the batch's savepoint is rolled back (the event it had stored with it) and the
    whole batch runs again; every event is stored once."""
    key = _desk(make, app)["key"]
    calls = lose_after_storing(monkeypatch, failures=2)
    response = app.test_client().post("/api/v1/cti/events", json={"service": "phone", "events": batch(0, 0, "A")},
                                      headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 200 and calls["failed"] == 2
    assert [r["status"] for r in response.json["results"]] == ["stored"] * 2 * EVENTS_PER_AGENT
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(CtiEvent)) == 2 * EVENTS_PER_AGENT


def test_a_batch_that_keeps_losing_gives_up_after_a_bounded_number_of_attempts(make, app, monkeypatch):
    key = _desk(make, app)["key"]
    calls = lose_after_storing(monkeypatch, failures=100)
    with pytest.raises(OperationalError):  # a 500 outside testing, nothing stored
        app.test_client().post("/api/v1/cti/events", json={"service": "phone", "events": batch(0, 0, "A")},
                               headers={"Authorization": f"Bearer {key}"})
    assert calls["failed"] == cti_api.ATTEMPTS
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(CtiEvent)) == 0
