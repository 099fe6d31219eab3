"""Agents' availability rules: the idle timeout, the after-call work limit (a real worker runs the scheduled
return), eligibility and the settings behind them."""
from datetime import timedelta

import pytest
from rq import SimpleWorker
from sqlalchemy import select

from portal.extensions import db
from portal.models import AgentStateInterval, CtiAgent, Member, Organization, Service
from portal.models.base import utcnow
from portal.queue import get_queue, get_redis
from portal.services import Actor, agent_states, cti, cti_events
from portal.services.contracts import sign_contract
from tests.conftest import csrf_token

EN = {"Accept-Language": "en"}


@pytest.fixture
def desk(make, app, login_as):
    org = make.org(domain="acme")
    service = make.service(org, "phone", name="Phone Desk")
    ann = make.member(org, "ann", name="Ann")
    make.place(service, ann, phone=True, chat=True)
    with app.app_context():
        svc = db.session.get(Service, service.id)
        sign_contract(Actor(org.id, None), svc, {"base.seat": 2, "ticket.phone_cti": 2}, base_version=None)
        db.session.add(CtiAgent(organization_id=org.id, member_id=ann.id, cti_id="ann01", cti_number="7001"))
        db.session.commit()
    return {"org": org, "service": service, "ann": ann, "admin": make.admin_of(org)}


def open_states(app, member_id):
    with app.app_context():
        return {i.channel: (i.state, i.reason) for i in db.session.scalars(select(AgentStateInterval).where(
            AgentStateInterval.member_id == member_id, AgentStateInterval.ended_at.is_(None)))}


# -- idle timeout -------------------------------------------------------------------------------------------

def test_an_idle_chat_agent_goes_offline_with_reason_idle(desk, app):
    with app.app_context():
        ann, svc = db.session.get(Member, desk["ann"].id), db.session.get(Service, desk["service"].id)
        start = utcnow() - timedelta(minutes=45)
        agent_states.change(Actor(ann.organization_id, ann.id), ann, svc, "chat", "waiting", at=start)
        ann.last_seen_at = start + timedelta(minutes=10)
        db.session.commit()
        assert agent_states.idle_sweep(start + timedelta(minutes=39)) == []  # 29 minutes idle: stays
        assert agent_states.idle_sweep() == [ann.id]
        closed = db.session.scalars(select(AgentStateInterval)).one()
        assert closed.end_reason == "idle" and closed.ended_at == start + timedelta(minutes=40)


def test_the_idle_timeout_is_the_organizations(desk, app):
    with app.app_context():
        org = db.session.get(Organization, desk["org"].id)
        org.idle_timeout_minutes = 120
        ann, svc = db.session.get(Member, desk["ann"].id), db.session.get(Service, desk["service"].id)
        agent_states.change(Actor(org.id, ann.id), ann, svc, "chat", "online", at=utcnow() - timedelta(minutes=60))
        db.session.commit()
        assert agent_states.idle_sweep() == []


def test_requests_count_as_activity_but_polling_does_not(desk, app, login_as):
    client = login_as(desk["ann"])
    with app.app_context():
        db.session.get(Member, desk["ann"].id).last_seen_at = None
        db.session.commit()
    client.get("/agent/phone", headers={"X-Poll": "1"})
    with app.app_context():
        assert db.session.get(Member, desk["ann"].id).last_seen_at is None
    client.get("/me/settings")
    with app.app_context():
        assert db.session.get(Member, desk["ann"].id).last_seen_at is not None


def test_logging_out_closes_every_interval_with_reason_logout(desk, app, login_as):
    client = login_as(desk["ann"])
    token = csrf_token(client, "/me/settings")
    for channel, state in (("phone", "ready"), ("chat", "waiting")):
        client.post("/agent/state", data={"csrf_token": token, "channel": channel, "state": state})
    assert set(open_states(app, desk["ann"].id)) == {"phone", "chat"}
    client.post("/logout", data={"csrf_token": token})
    assert open_states(app, desk["ann"].id) == {}
    with app.app_context():
        assert set(db.session.scalars(select(AgentStateInterval.end_reason))) == {"logout"}


@pytest.mark.parametrize("value", ["4", "481", "soon", "-1"])
def test_the_idle_timeout_setting_refuses_bad_values(desk, login_as, app, value):
    client = login_as(desk["admin"])
    page = client.post("/admin/organization", headers=EN, data={
        "csrf_token": csrf_token(client, "/admin/organization"), "name": "Acme", "domain": "acme",
        "idle_timeout": value})
    assert page.status_code == 422 and "The idle timeout is 5 to 480 minutes." in page.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(Organization, desk["org"].id).idle_timeout_minutes == 30


def test_the_idle_timeout_setting_is_saved(desk, login_as, app):
    client = login_as(desk["admin"])
    assert 'value="30"' in client.get("/admin/organization").get_data(as_text=True)
    client.post("/admin/organization", data={"csrf_token": csrf_token(client, "/admin/organization"),
                                              "name": "Acme", "domain": "acme", "idle_timeout": "15"})
    with app.app_context():
        assert db.session.get(Organization, desk["org"].id).idle_timeout_minutes == 15


# -- after-call work limit ----------------------------------------------------------------------------------

def _call(app, service_id, started, talk=30):
    with app.app_context():
        svc = db.session.get(Service, service_id)
        t = lambda s: (started + timedelta(seconds=s)).isoformat()
        for n, (kind, at) in enumerate((("agent_login", 0), ("inbound_ringing", 1), ("answered", 3),
                                        ("hangup", 3 + talk))):
            stored = cti_events.ingest(svc, {"event_id": f"{started.timestamp()}-{n}", "kind": kind,
                                             "cti_id": "ann01", "call_id": f"c{started.timestamp()}",
                                             "direction": "IB", "occurred_at": t(at)})
            assert stored.event.error is None
        db.session.commit()


def test_after_call_work_returns_to_ready_when_the_limit_runs_out(desk, app):
    with app.app_context():
        cti.set_acw_limit(Actor(desk["org"].id, None), db.session.get(Service, desk["service"].id), "60")
        db.session.commit()
    hung_up = utcnow() - timedelta(seconds=120)
    _call(app, desk["service"].id, hung_up - timedelta(seconds=33))
    assert open_states(app, desk["ann"].id)["phone"] == ("ticket_work", "after-call")
    with app.app_context():
        scheduled = [j for j in get_queue("scheduled").scheduled_job_registry.get_job_ids() if j.startswith("acw-")]
        assert len(scheduled) == 1
        # The scheduled return, run by a real worker (it is already due).
        queue = get_queue("scheduled")
        queue.enqueue_job(queue.fetch_job(scheduled[0]))
        SimpleWorker([queue], connection=get_redis()).work(burst=True)
    assert open_states(app, desk["ann"].id)["phone"] == ("ready", "acw-timeout")
    with app.app_context():
        ready = db.session.scalars(select(AgentStateInterval).filter_by(state="ready", reason="acw-timeout")).one()
        assert abs((ready.started_at - (hung_up + timedelta(seconds=60))).total_seconds()) < 1


def test_without_a_limit_after_call_work_lasts_until_the_agent_chooses(desk, app):
    _call(app, desk["service"].id, utcnow() - timedelta(hours=1))
    with app.app_context():
        assert agent_states.end_overdue_after_call_work() == []
    assert open_states(app, desk["ann"].id)["phone"] == ("ticket_work", "after-call")
    with app.app_context():
        assert not [j for j in get_queue("scheduled").scheduled_job_registry.get_job_ids() if j.startswith("acw-")]


def test_the_sweep_catches_a_lost_scheduled_return_and_leaves_other_ticket_work(desk, app, login_as):
    with app.app_context():
        cti.set_acw_limit(Actor(desk["org"].id, None), db.session.get(Service, desk["service"].id), "30")
        db.session.commit()
    _call(app, desk["service"].id, utcnow() - timedelta(minutes=10))
    with app.app_context():
        get_redis().flushdb()  # the scheduled job is lost
        assert agent_states.end_overdue_after_call_work() == [desk["ann"].id]
        db.session.commit()  # what the sweep's job does after it
    assert open_states(app, desk["ann"].id)["phone"] == ("ready", "acw-timeout")
    # Ticket work the agent picks by hand (not after a call) has no limit.
    client = login_as(desk["ann"])
    client.post("/agent/state", data={"csrf_token": csrf_token(client, "/me/settings"), "channel": "phone",
                                      "state": "ticket_work"})
    with app.app_context():
        assert agent_states.end_overdue_after_call_work(utcnow() + timedelta(hours=1)) == []


def test_the_widget_counts_down_to_ready(desk, app, login_as):
    with app.app_context():
        cti.set_acw_limit(Actor(desk["org"].id, None), db.session.get(Service, desk["service"].id), "90")
        db.session.commit()
    _call(app, desk["service"].id, utcnow() - timedelta(seconds=40))
    panel = login_as(desk["ann"]).get("/agent/phone", headers=EN).get_data(as_text=True)
    assert "Back to ready in" in panel and "data-until=" in panel


@pytest.mark.parametrize("value, ok", [("9", False), ("3601", False), ("1.5", False), ("abc", False), ("60", True),
                                       ("", True)])
def test_the_acw_limit_setting(desk, login_as, app, value, ok):
    client = login_as(desk["admin"])
    page = client.post("/admin/cti/phone/acw-limit", headers=EN, follow_redirects=True,
                       data={"csrf_token": csrf_token(client, "/admin/cti"), "seconds": value}).get_data(as_text=True)
    with app.app_context():
        saved = cti.settings_of(db.session.get(Service, desk["service"].id)).acw_limit_seconds
    if ok:
        assert saved == (int(value) if value else None)
        assert ("return to ready 60 seconds" in page) if value else ("stay in ticket work" in page)
    else:
        assert saved is None and "The after-call work limit is 10 to 3600 seconds" in page


# -- eligibility --------------------------------------------------------------------------------------------

def test_only_ready_phone_and_waiting_chat_agents_are_eligible(desk, app, make):
    with app.app_context():
        ann, svc = db.session.get(Member, desk["ann"].id), db.session.get(Service, desk["service"].id)
        actor = Actor(ann.organization_id, ann.id)
        assert agent_states.eligible(svc, "phone") == [] and agent_states.eligible(svc, "chat") == []
        agent_states.change(actor, ann, svc, "phone", "ready")
        agent_states.change(actor, ann, svc, "chat", "online")
        assert agent_states.eligible(svc, "phone") == [ann.id] and agent_states.eligible(svc, "chat") == []
        agent_states.change(actor, ann, svc, "chat", "waiting")
        agent_states.change(actor, ann, svc, "phone", "break")
        assert agent_states.eligible(svc, "phone") == [] and agent_states.eligible(svc, "chat") == [ann.id]


# -- assignment by hand -------------------------------------------------------------------------------------

@pytest.fixture
def ticket(desk, app):
    from portal.models import Ticket, TicketChannel

    with app.app_context():
        t = Ticket(organization_id=desk["org"].id, service_id=desk["service"].id, number=7, title="Refund",
                   channel=TicketChannel.phone_ib)
        db.session.add(t)
        db.session.commit()
        return t.id


def test_assigning_to_an_agent_on_break_warns_but_assigns(desk, app, ticket, make, login_as):
    from portal.models import Ticket

    boss = make.member(desk["org"], "boss", name="Boss")
    make.place(desk["service"], boss, "manager")
    with app.app_context():
        ann, svc = db.session.get(Member, desk["ann"].id), db.session.get(Service, desk["service"].id)
        agent_states.change(Actor(ann.organization_id, ann.id), ann, svc, "phone", "break")
        db.session.commit()
    client = login_as(boss)
    page = client.post(f"/services/phone/tickets/{ticket}/assign", headers=EN, follow_redirects=True, data={
        "csrf_token": csrf_token(client, "/services/phone/tickets"), "assignee": str(desk["ann"].id)}).get_data(as_text=True)
    assert "Ticket #7 is assigned." in page and "Ann is away (Break); the ticket waits until they are back." in page
    with app.app_context():
        t = db.session.get(Ticket, ticket)
        assert t.assignee_id == desk["ann"].id and t.status.value == "in_progress"


def test_assigning_to_a_ready_agent_has_no_warning_and_unassigning_puts_it_back(desk, app, ticket, login_as):
    from portal.models import Ticket

    with app.app_context():
        ann, svc = db.session.get(Member, desk["ann"].id), db.session.get(Service, desk["service"].id)
        agent_states.change(Actor(ann.organization_id, ann.id), ann, svc, "phone", "ready")
        db.session.commit()
    client = login_as(desk["ann"])
    token = csrf_token(client, "/services/phone/tickets")
    page = client.post(f"/services/phone/tickets/{ticket}/assign", headers=EN, follow_redirects=True,
                       data={"csrf_token": token, "assignee": str(desk["ann"].id)}).get_data(as_text=True)
    assert "Ticket #7 is assigned." in page and "the ticket waits" not in page
    client.post(f"/services/phone/tickets/{ticket}/assign", data={"csrf_token": token, "assignee": ""})
    with app.app_context():
        t = db.session.get(Ticket, ticket)
        assert t.assignee_id is None and t.status.value == "unassigned"


def test_assigning_to_an_offline_agent_warns(desk, ticket, login_as):
    client = login_as(desk["ann"])
    page = client.post(f"/services/phone/tickets/{ticket}/assign", headers=EN, follow_redirects=True, data={
        "csrf_token": csrf_token(client, "/services/phone/tickets"), "assignee": str(desk["ann"].id)}).get_data(as_text=True)
    assert "Ann is offline; the ticket waits until they log in." in page


@pytest.mark.parametrize("assignee", ["outsider", "999999"])
def test_tickets_go_only_to_members_of_the_service(desk, app, ticket, make, login_as, assignee):
    from portal.models import Ticket

    outsider = make.member(desk["org"], "outsider")
    client = login_as(desk["ann"])
    value = str(outsider.id) if assignee == "outsider" else assignee
    page = client.post(f"/services/phone/tickets/{ticket}/assign", headers=EN, follow_redirects=True, data={
        "csrf_token": csrf_token(client, "/services/phone/tickets"), "assignee": value}).get_data(as_text=True)
    assert "Assign tickets to members of this service." in page
    with app.app_context():
        assert db.session.get(Ticket, ticket).assignee_id is None


def test_an_org_admin_outside_the_service_reads_but_cannot_assign(desk, ticket, login_as):
    client = login_as(desk["admin"])
    assert "Assign</button>" not in client.get("/services/phone/tickets", headers=EN).get_data(as_text=True)
    response = client.post(f"/services/phone/tickets/{ticket}/assign",
                           data={"csrf_token": csrf_token(client, "/services/phone/tickets"), "assignee": ""})
    assert response.status_code == 403
