"""`flask tickets simulate`: a stream of web and e-mail tickets posted over HTTP to the Open API, assigned as they
arrive to the agents at work, within their capacity."""
import re

import pytest
from sqlalchemy import select

from portal.devtools.ticket_simulator import tickets
from portal.extensions import db
from portal.models import Member, Organization, Service, Ticket
from portal.services import Actor, agent_states
from portal.services.organizations import rotate_api_key
from tests.test_cti_simulator import server  # noqa: F401  (the live test server)


def test_the_stream_is_web_and_email_in_korean_and_english():
    stream = tickets(60, seed=3)
    assert {t["channel"] for t in stream} == {"web", "email"}
    assert any(re.search("[가-힣]", t["title"]) for t in stream) and any(t["title"].isascii() for t in stream)
    assert all(t["requester"]["email"] and t["title"] and t["body"] for t in stream)
    assert len({t["external_id"] for t in stream}) == 60


@pytest.fixture
def desk(make, app, monkeypatch):
    monkeypatch.setitem(app.config, "API_RATE_LIMIT", "100000 per minute")
    org = make.org(domain="acme")
    service = make.service(org, "desk", name="Desk", auto_assign=True)
    agents = [make.member(org, f"agt{i}") for i in (1, 2)]
    away = make.member(org, "resting")
    for member in (*agents, away):
        make.place(service, member)
    with app.app_context():
        svc = db.session.get(Service, service.id)
        svc.ticket_capacity = 3
        for member, state in ((agents[0], "ready"), (agents[1], "ready"), (away, "break")):
            m = db.session.get(Member, member.id)
            agent_states.change(Actor(org.id, m.id), m, svc, "phone", state)
        key = rotate_api_key(Actor(org.id, None), db.session.get(Organization, org.id))
        db.session.commit()
    return {"service": service, "key": key}


def simulate(app, *args):
    return app.test_cli_runner().invoke(args=["tickets", "simulate", *args])


def test_the_simulator_posts_tickets_that_go_to_agents_at_work_up_to_capacity(app, server, desk):
    result = simulate(app, "--service", "desk", "--count", "10", "--rate", "50", "--url", server, "--key",
                      desk["key"], "--seed", "4")
    assert result.exit_code == 0, result.output
    said = dict(re.findall(r"^#(\d+) \w+ +→ (\S+)", result.output, re.M))
    assert sorted(map(int, said)) == list(range(1, 11))
    assert "assigned 6 (agt1 3, agt2 3), waiting in the queue 4" in result.output
    with app.app_context():
        rows = db.session.execute(select(Ticket.number, Member.login_id).outerjoin(
            Member, Member.id == Ticket.assignee_id)).all()
    assert {str(n): login or "(queue)" for n, login in rows} == said  # what it printed is what happened
    assert "resting" not in said.values()


def test_the_simulator_explains_a_refusal(app, server, desk):
    result = simulate(app, "--service", "desk", "--count", "2", "--url", server, "--key", "oc_wrong")
    assert result.exit_code != 0 and "the API answered 401" in result.output
    assert "No service 'nosuch'" in simulate(app, "--service", "nosuch").output


def test_a_fresh_demo_shows_assignment_working(app, server):
    """What scripts/dev.sh runs on a first start: the demo data, then a small stream to the support desk."""
    runner = app.test_cli_runner()
    assert runner.invoke(args=["seed-demo", "--password", "demo-pass-9876"]).exit_code == 0
    result = simulate(app, "--service", "support", "--domain", "demo", "--count", "8", "--rate", "50", "--url",
                      server, "--rotate-key", "--seed", "1")
    assert result.exit_code == 0, result.output
    assert "assigned 8 (" in result.output and "waiting in the queue 0" in result.output, result.output
