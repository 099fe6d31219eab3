"""`flask cti simulate`: realistic event streams, posted over HTTP to a running portal, drive calls and tickets."""
import json
import threading
from datetime import datetime, timezone

import pytest
from sqlalchemy import func, select
from werkzeug.serving import make_server

from portal.extensions import db
from portal.models import AgentStateInterval, Call, CtiAgent, CtiEvent, Organization, Service, Ticket
from portal.services import Actor, cti, cti_simulator
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
    # Two senders: a request would have to take half a second for the flood to stay under 4 per second.
    result = simulate(app, "--service", "phone", "--agents", "2", "--calls", "12", "--url", server,
                      "--key", desk["key"], "--batch", "3", "--concurrency", "2", "--seed", "5")
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


class _Throttling:
    """A stand-in ingest that answers `429 Retry-After: 0` (what flask-limiter says for most of a one-second
    window), or another `status`, to its first `refusals` requests, then stores every event."""

    def __init__(self, refusals: int, status: int = 429):
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        outer = self
        self.refusals, self.status, self.requests = refusals, status, 0

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # else every keep-alive answer waits for a delayed ACK

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.requests += 1
                if outer.requests <= outer.refusals:
                    status, payload, headers = outer.status, b"{}", {"Retry-After": "0"}
                else:
                    results = [{"event_id": e["event_id"], "status": "stored"} for e in body["events"]]
                    status, payload, headers = 200, json.dumps({"results": results}).encode(), {}
                self.send_response(status)
                for name, value in {**headers, "Content-Length": str(len(payload))}.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def waits(monkeypatch):
    """The sender's sleeps, recorded instead of slept: how long the test takes must not decide what it sees."""
    slept: list[float] = []
    monkeypatch.setattr(cti_simulator.time, "sleep", slept.append)
    return slept


def test_a_long_run_of_429_answers_is_waited_out_not_given_up(waits):
    ingest = _Throttling(refusals=60)
    try:
        streams = scenario(["a1"], 2, seed=1)
        stats = cti_simulator.send(ingest.url, "key", "phone", streams, batch=100)
    finally:
        ingest.close()
    assert stats.throttled == 60 and stats.stored == len(streams[0])
    # "Retry-After: 0" is no licence to hammer: every resend waited.
    assert len(waits) == 60 and min(waits) >= cti_simulator.THROTTLE_FLOOR


def test_a_server_that_never_lets_anything_through_is_given_up_on(waits, monkeypatch):
    monkeypatch.setattr(cti_simulator, "THROTTLED_IN_A_ROW_LIMIT", 30)
    ingest = _Throttling(refusals=10**9)
    try:
        with pytest.raises(RuntimeError, match="30 429 answers in a row"):
            cti_simulator.send(ingest.url, "key", "phone", scenario(["a1"], 1, seed=1), batch=100)
    finally:
        ingest.close()
    assert ingest.requests == 30


@pytest.mark.parametrize("status", [502, 503, 500])
def test_an_ingest_answering_5xx_for_a_while_gets_the_same_batch_again_and_nothing_is_lost(waits, status):
    # A web process restarting behind the load balancer: the telephony resends, events are idempotent by ID.
    ingest = _Throttling(refusals=5, status=status)
    try:
        streams = scenario(["a1"], 2, seed=1)
        stats = cti_simulator.send(ingest.url, "key", "phone", streams, batch=100)
    finally:
        ingest.close()
    assert stats.server_errors == 5 and stats.stored == len(streams[0])
    assert waits == sorted(waits) and waits[0] > 0  # each pause at least as long as the one before


def test_an_ingest_that_keeps_failing_is_given_up_on_naming_its_answer(waits):
    ingest = _Throttling(refusals=10**9, status=503)
    try:
        with pytest.raises(RuntimeError, match="after 20 failed attempts; the last: ingest answered 503"):
            cti_simulator.send(ingest.url, "key", "phone", scenario(["a1"], 1, seed=1), batch=100)
    finally:
        ingest.close()
    assert ingest.requests == 20 and sum(waits) >= 20  # about half a minute of patience, not four seconds
