"""`flask cti simulate`: realistic event streams, posted over HTTP to a running portal, drive calls and tickets."""
import threading
from datetime import datetime, timezone

import pytest
from sqlalchemy import func, select
from werkzeug.serving import make_server

from portal.extensions import db
from portal.models import AgentStateInterval, Call, CtiAgent, CtiEvent, Organization, Service, Ticket
from portal.services import Actor, cti
from portal.services.contracts import sign_contract
from portal.services.cti_simulator import scenario
from portal.services.organizations import rotate_api_key


def test_every_agent_stream_is_a_plausible_working_stretch():
    streams = scenario(["a1", "a2", "a3"], 40, seed=7)
    now = datetime.now(timezone.utc)
    calls = {}
    for stream in streams:
        assert stream[0]["kind"] == "agent_login" and stream[-1]["kind"] == "agent_logout"
        times = [datetime.fromisoformat(e["occurred_at"]) for e in stream]
        assert times == sorted(times) and times[-1] < now
        for event in stream:
            if "call_id" in event:
                calls.setdefault(event["call_id"], []).append(event["kind"])
    assert len(calls) == 40
    for kinds in calls.values():
        assert kinds[0] in ("inbound_ringing", "outbound_dial") and kinds[-1] == "hangup"
    flat = [k for kinds in calls.values() for k in kinds]
    assert {"answered", "connected", "transfer"} <= set(flat)  # both directions, transfers
    assert any(kinds == ["inbound_ringing", "hangup"] for kinds in calls.values())  # abandoned
    assert len({e["event_id"] for s in streams for e in s}) == sum(len(s) for s in streams)


@pytest.fixture
def server(app):
    srv = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{srv.server_port}"
    srv.shutdown()


@pytest.fixture
def desk(make, app):
    org = make.org(domain="acme")
    service = make.service(org, "phone", name="Phone Desk")
    members = [make.member(org, f"agent{i}") for i in range(3)]
    for member in members:
        make.place(service, member, phone=True)
    with app.app_context():
        svc = db.session.get(Service, service.id)
        sign_contract(Actor(org.id, None), svc, {"base.seat": 3, "ticket.phone_cti": 3}, base_version=None)
        cti.set_toggle(Actor(org.id, None), svc, "log_monitoring", True)
        for i, member in enumerate(members):
            db.session.add(CtiAgent(organization_id=org.id, member_id=member.id, cti_id=f"agt{i}", cti_number=f"70{i}"))
        key = rotate_api_key(Actor(org.id, None), db.session.get(Organization, org.id))
        db.session.commit()
    return {"service": service, "key": key}


def simulate(app, *args):
    return app.test_cli_runner().invoke(args=["cti", "simulate", *args])


def test_the_simulator_drives_calls_tickets_and_states_over_http(app, server, desk):
    result = simulate(app, "--service", "phone", "--agents", "3", "--calls", "60", "--url", server,
                      "--key", desk["key"], "--batch", "7", "--concurrency", "2", "--seed", "3")
    assert result.exit_code == 0, result.output
    assert "rejected 0, kept with an error 0" in result.output
    with app.app_context():
        calls = list(db.session.scalars(select(Call)))
        assert len(calls) == 60 and all(c.ended_at is not None for c in calls)
        outcomes = {c.outcome for c in calls}
        assert "answered" in outcomes and "abandoned" in outcomes
        answered = [c for c in calls if c.answered_at]
        assert all(c.ticket_id for c in answered) and all(c.ticket_id is None for c in calls if c.outcome == "abandoned")
        assert db.session.scalar(select(func.count()).select_from(Ticket)) == len(answered)
        assert db.session.scalar(select(func.count()).select_from(CtiEvent).where(CtiEvent.error.is_not(None))) == 0
        assert db.session.scalar(select(func.count()).select_from(AgentStateInterval).where(
            AgentStateInterval.ended_at.is_(None))) == 0  # everyone logged out at the end
        states = set(db.session.scalars(select(AgentStateInterval.state)))
        assert {"ready", "inbound_call", "ticket_work"} <= states


def test_a_flood_is_throttled_and_nothing_accepted_is_lost(app, server, desk, monkeypatch):
    monkeypatch.setitem(app.config, "CTI_INGEST_LIMIT", "4 per second")
    result = simulate(app, "--service", "phone", "--agents", "1", "--calls", "12", "--url", server,
                      "--key", desk["key"], "--batch", "3", "--seed", "5")
    assert result.exit_code == 0, result.output
    throttled = int(result.output.split("429 answers ")[1].split(",")[0])
    assert throttled > 0
    with app.app_context():
        sent = int(result.output.split(" events in ")[0].split()[-1])
        assert db.session.scalar(select(func.count()).select_from(CtiEvent)) == sent
        assert db.session.scalar(select(func.count()).select_from(Call)) == 12


@pytest.mark.parametrize("args, message", [
    (["--service", "nosuch"], "No service 'nosuch'"),
    (["--service", "phone", "--agents", "9"], "has 3 phone agent(s) with CTI credentials"),
    (["--service", "phone", "--agents", "2"], "Give the organization API key"),
    (["--service", "phone", "--agents", "2", "--key", "oc_wrong", "--url", "{server}"], "ingest answered 401"),
])
def test_the_simulator_explains_what_is_wrong(app, server, desk, args, message):
    result = simulate(app, *[a.format(server=server) for a in args])
    assert result.exit_code != 0 and message in result.output
