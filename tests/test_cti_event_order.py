"""Per-agent order of CTI events (issue 15, item 2): an event older than the agent's latest applied one is
stored and logged but changes no state, so late and parallel deliveries keep the intervals true.

The invariants, for every member and channel, whatever order and process the events arrive through:
no two intervals overlap, at most one is open, none has zero length, the state follows the agent's latest
event (a logged-out agent is offline), and My performance's times add up to the intervals, never more than
the time that passed."""
from __future__ import annotations

import random
import threading
from datetime import datetime, timedelta, timezone

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, func, select, update

from portal.extensions import db
from portal.models import AgentStateInterval, Call, CtiAgent, CtiEvent, Member, Organization, Service, Ticket
from portal.services import Actor, agent_states, cti, performance
from portal.services.contracts import sign_contract
from portal.services.organizations import rotate_api_key
from tests.processes import WebProcess
from tests.threads import run_together

AGENTS = 3
EN = {"Accept-Language": "en"}


@pytest.fixture(scope="module")
def web_processes(app, database_url):
    """Two web processes besides the test's own: the events of one example are split between them."""
    processes = [WebProcess(database_url) for _ in range(2)]
    yield processes
    for process in processes:
        process.stop()


def _desk(make, app):
    org = make.org(domain="acme")
    service = make.service(org, "phone", name="Phone Desk")
    members = [make.member(org, f"agent{n}", name=f"Agent {n}") for n in range(AGENTS)]
    for member in members:
        make.place(service, member, ticket=True, chat=True, phone=True)
    with app.app_context():
        svc = db.session.get(Service, service.id)
        svc.time_zone = "UTC"
        sign_contract(Actor(org.id, None), svc, {"base.seat": AGENTS, "ticket.phone_cti": AGENTS}, base_version=None)
        cti.set_toggle(Actor(org.id, None), svc, "log_monitoring", True)
        for n, member in enumerate(members):
            db.session.add(CtiAgent(organization_id=org.id, member_id=member.id, cti_id=f"a{n}", cti_number=f"700{n}"))
        key = rotate_api_key(Actor(org.id, None), db.session.get(Organization, org.id))
        db.session.commit()
    return {"org": org, "service": service, "members": members, "key": key}


@pytest.fixture
def desk(make, app):
    return _desk(make, app)


def post(url: str, key: str, events: list[dict]) -> dict:
    response = requests.post(f"{url}/api/v1/cti/events", json={"service": "phone", "events": events},
                             headers={"Authorization": f"Bearer {key}", **EN}, timeout=60)
    assert response.status_code == 200, response.text
    return response.json()


def intervals(app, member_id: int) -> list[AgentStateInterval]:
    with app.app_context():
        rows = list(db.session.scalars(select(AgentStateInterval).where(AgentStateInterval.member_id == member_id)
                                       .order_by(AgentStateInterval.started_at, AgentStateInterval.id)))
        db.session.expunge_all()
        return rows


def test_a_late_state_change_neither_reopens_a_closed_period_nor_changes_the_state(desk, app, web_processes):
    """The issue's case: log-in, ready and log-out through one web process, then a ready from 40 s before the
    log-out through the other: it is stored and logged as late, the agent stays offline, nothing overlaps."""
    now = datetime.now(timezone.utc).replace(microsecond=0)
    at = lambda seconds: (now - timedelta(seconds=seconds)).isoformat()
    first, second = web_processes
    post(first.url, desk["key"], [
        {"kind": "agent_login", "event_id": "in", "cti_id": "a0", "occurred_at": at(100)},
        {"kind": "state_change", "event_id": "ready", "cti_id": "a0", "state": "ready", "occurred_at": at(90)},
        {"kind": "agent_logout", "event_id": "out", "cti_id": "a0", "occurred_at": at(10)}])
    late = post(second.url, desk["key"], [
        {"kind": "state_change", "event_id": "late", "cti_id": "a0", "state": "ready", "occurred_at": at(50)}])
    assert late["results"] == [{"event_id": "late", "status": "stored", "code": "late",
                                "error": "Arrived after a later event of this agent: logged, the agent's state was "
                                         "not changed."}]
    rows = intervals(app, desk["members"][0].id)
    assert [(r.state, r.started_at, r.ended_at) for r in rows] == [
        ("ready", now - timedelta(seconds=100), now - timedelta(seconds=10))]
    with app.app_context():
        assert agent_states.state_of(desk["members"][0].id, "phone") == "offline"
        assert agent_states.eligible(db.session.get(Service, desk["service"].id), "phone") == []
        stored = db.session.scalars(select(CtiEvent).where(CtiEvent.external_id == "late")).one()
        assert stored.logged and stored.error_code == "late"


# -- the property: random streams, shuffled, split across two processes -------------------------------------

KINDS = ("agent_login", "agent_logout", "state_change", "inbound_ringing", "answered", "outbound_dial", "connected",
         "transfer", "hangup", "error")
STATES = agent_states.PHONE_STATES


def _event(agent: int, index: int, kind: str, state: str, call: int, t0: datetime) -> dict:
    event = {"kind": kind, "event_id": f"a{agent}-{index}", "cti_id": f"a{agent}",
             # the true order: one agent's events 7 s apart, agents interleaved, all times distinct
             "occurred_at": (t0 + timedelta(seconds=7 * index + agent)).isoformat()}
    if kind == "state_change":
        event["state"] = state
    if kind not in ("agent_login", "agent_logout", "state_change"):
        event["call_id"] = f"c{agent}-{call}"
        event["direction"] = "IB" if kind in ("inbound_ringing", "answered") else "OB"
        event["counterpart"] = "0101234"
    return event


stream = st.lists(st.tuples(st.sampled_from(KINDS), st.sampled_from(STATES), st.integers(0, 2)), min_size=1,
                  max_size=14)


@settings(max_examples=30, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(streams=st.lists(stream, min_size=AGENTS, max_size=AGENTS), seed=st.integers(0, 2**32 - 1),
       after_call_bulk=st.booleans())
def test_events_in_any_order_through_two_processes_keep_the_intervals_true(desk, app, web_processes, streams, seed,
                                                                          after_call_bulk):
    service_id, members = desk["service"].id, [m.id for m in desk["members"]]
    with app.app_context():  # each example starts from agents with no history
        for model in (AgentStateInterval, CtiEvent, Ticket, Call):
            db.session.execute(delete(model).where(model.organization_id == desk["org"].id))
        db.session.execute(update(Member).where(Member.id.in_(members)).values(last_cti_event_at=None))
        cti.set_toggle(Actor(desk["org"].id, None), db.session.get(Service, service_id), "after_call_bulk",
                       after_call_bulk)
        db.session.commit()
    t0 = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(hours=1)
    events = [_event(agent, index, *step, t0) for agent, steps in enumerate(streams)
              for index, step in enumerate(steps)]
    rng = random.Random(seed)
    rng.shuffle(events)
    sides: list[list[dict]] = [[], []]
    for event in events:
        sides[rng.randrange(2)].append(event)
    sizes = [rng.randint(1, 5) for _ in range(2)]
    barrier = threading.Barrier(2)

    def deliver(side: int):
        barrier.wait(timeout=30)
        batch, url = sides[side], web_processes[side].url
        for start in range(0, len(batch), sizes[side]):
            post(url, desk["key"], batch[start:start + sizes[side]])

    run_together(deliver, (0,), (1,), barrier=barrier, timeout=120)

    now = datetime.now(timezone.utc)
    with app.app_context():
        stored = db.session.scalar(select(func.count()).select_from(CtiEvent)
                                   .where(CtiEvent.service_id == service_id))
        assert stored == len(events)  # each stored once
        service = db.session.get(Service, service_id)
        for agent, member_id in enumerate(members):
            for channel in ("phone", "chat"):
                rows = db.session.execute(
                    select(AgentStateInterval.state, AgentStateInterval.started_at, AgentStateInterval.ended_at)
                    .where(AgentStateInterval.member_id == member_id, AgentStateInterval.channel == channel)
                    .order_by(AgentStateInterval.started_at, AgentStateInterval.id)).all()
                assert sum(1 for r in rows if r.ended_at is None) <= 1, rows
                assert all(r.ended_at is None or r.ended_at > r.started_at for r in rows), rows  # no zero-length
                for before, after in zip(rows, rows[1:]):  # no overlap (sorted by start)
                    assert before.ended_at is not None and before.ended_at <= after.started_at, (before, after)
            latest = max((e for e in events if e["cti_id"] == f"a{agent}"), key=lambda e: e["occurred_at"],
                         default=None)
            state = agent_states.state_of(member_id, "phone")
            if latest is not None and latest["kind"] == "agent_logout":
                assert state == "offline"
            elif latest is not None and latest["kind"] == "agent_login":
                assert state == "ready"
            elif latest is not None and latest["kind"] == "state_change" and latest["state"] != "ticket_work":
                assert state == latest["state"]
            # My performance adds up the intervals: never more time than passed since the first began.
            member = db.session.get(Member, member_id)
            figures = performance.figures(member, service, now=now)
            rows = db.session.execute(select(AgentStateInterval.started_at, AgentStateInterval.ended_at).where(
                AgentStateInterval.member_id == member_id, AgentStateInterval.channel == "phone")).all()
            total = sum(((r.ended_at or now) - r.started_at).total_seconds() for r in rows)
            assert sum(figures.phone.values()) == pytest.approx(total, abs=0.001)
            if rows:
                assert total <= (now - min(r.started_at for r in rows)).total_seconds() + 0.001
