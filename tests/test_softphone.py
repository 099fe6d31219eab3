"""The phone widget: each button is one CTI event through the same ingest as the switch's events."""
import pytest
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import AgentStateInterval, Call, CtiAgent, CtiEvent, Service, Ticket
from portal.services import Actor, cti
from portal.services.contracts import sign_contract
from tests.conftest import csrf_token

EN = {"Accept-Language": "en"}


@pytest.fixture
def desk(make, app, login_as):
    org = make.org(domain="acme")
    service = make.service(org, "phone", name="Phone Desk")
    ann = make.member(org, "ann", name="Ann")
    make.place(service, ann, phone=True)
    with app.app_context():
        svc = db.session.get(Service, service.id)
        sign_contract(Actor(org.id, None), svc, {"base.seat": 2, "ticket.phone_cti": 2}, base_version=None)
        cti.set_toggle(Actor(org.id, None), svc, "log_monitoring", True)
        db.session.add(CtiAgent(organization_id=org.id, member_id=ann.id, cti_id="ann01", cti_number="7001"))
        db.session.commit()
    client = login_as(ann)
    return {"org": org, "service": service, "ann": ann, "client": client, "token": csrf_token(client, "/me/settings")}


def press(desk, action, **form):
    return desk["client"].post(f"/agent/phone/{action}", data={"csrf_token": desk["token"], **form},
                               headers={"HX-Request": "true", **EN})


def phone_state(app, member_id):
    with app.app_context():
        return db.session.scalars(select(AgentStateInterval.state).where(
            AgentStateInterval.member_id == member_id, AgentStateInterval.channel == "phone",
            AgentStateInterval.ended_at.is_(None))).first() or "offline"


def test_the_widget_shows_for_agents_with_cti_credentials_only(desk, make, login_as):
    page = desk["client"].get("/", headers=EN, follow_redirects=True).get_data(as_text=True)
    assert 'class="phone-widget"' in page and "Log in to the phone" in page
    bob = make.member(desk["org"], "bob")
    make.place(desk["service"], bob, phone=True)  # phone permission but no CTI credentials
    other = login_as(bob)
    assert 'class="phone-widget"' not in other.get("/", headers=EN, follow_redirects=True).get_data(as_text=True)
    assert other.get("/agent/phone").status_code == 404


def test_inbound_call_from_login_to_ticket_work(desk, app):
    assert press(desk, "login").status_code == 200
    assert phone_state(app, desk["ann"].id) == "ready"
    ringing = press(desk, "ring", number="010-5555-0101").get_data(as_text=True)
    assert "Incoming call from 010-5555-0101" in ringing and 'role="alert"' in ringing
    answered = press(desk, "answer").get_data(as_text=True)
    assert "On a call with 010-5555-0101" in answered and "Ticket #1" in answered
    top_bar = answered[answered.index('id="agent-states" hx-swap-oob="outerHTML"'):]
    assert "state-inbound_call" in top_bar  # the top bar's phone state follows the widget
    assert phone_state(app, desk["ann"].id) == "inbound_call"
    press(desk, "hangup")
    assert phone_state(app, desk["ann"].id) == "ticket_work"  # after-call bulk state is on by default
    with app.app_context():
        call = db.session.scalars(select(Call)).one()
        ticket = db.session.get(Ticket, call.ticket_id)
        assert call.outcome == "answered" and ticket.call_id == call.call_id and ticket.assignee_id == desk["ann"].id
        kinds = list(db.session.scalars(select(CtiEvent.kind).order_by(CtiEvent.id)))
        assert kinds == ["agent_login", "inbound_ringing", "answered", "hangup"]
        assert all(db.session.scalars(select(CtiEvent.logged)))  # the widget's events are in the CTI log too


def test_without_after_call_bulk_the_agent_is_prompted(desk, app):
    with app.app_context():
        cti.set_toggle(Actor(desk["org"].id, None), db.session.get(Service, desk["service"].id), "after_call_bulk", False)
        db.session.commit()
    press(desk, "login")
    press(desk, "dial", number="02-123-4567")
    assert phone_state(app, desk["ann"].id) == "outbound_call"
    press(desk, "answer")
    ended = press(desk, "hangup").get_data(as_text=True)
    assert "The call has ended. What next?" in ended
    assert phone_state(app, desk["ann"].id) == "ticket_work"  # off the call while choosing (issue 16, item 1)
    after = press(desk, "next", state="break").get_data(as_text=True)
    assert "What next?" not in after and phone_state(app, desk["ann"].id) == "break"


def test_picking_ticket_work_at_the_prompt_ends_the_prompt_and_keeps_the_time(desk, app):
    with app.app_context():
        cti.set_toggle(Actor(desk["org"].id, None), db.session.get(Service, desk["service"].id), "after_call_bulk", False)
        db.session.commit()
    press(desk, "login")
    press(desk, "dial", number="02-123-4567")
    assert "What next?" in press(desk, "hangup").get_data(as_text=True)
    after = press(desk, "next", state="ticket_work").get_data(as_text=True)
    assert "What next?" not in after and phone_state(app, desk["ann"].id) == "ticket_work"
    with app.app_context():  # the same interval goes on: the after-call time is not cut in two
        assert db.session.scalar(select(func.count()).select_from(AgentStateInterval).where(
            AgentStateInterval.state == "ticket_work")) == 1


def test_an_unanswered_incoming_call_is_abandoned_and_makes_no_ticket(desk, app):
    press(desk, "login")
    press(desk, "ring", number="0101234")
    press(desk, "hangup")
    with app.app_context():
        call = db.session.scalars(select(Call)).one()
        assert call.outcome == "abandoned" and call.ticket_id is None
        assert db.session.scalar(select(func.count()).select_from(Ticket)) == 0
    assert phone_state(app, desk["ann"].id) == "ready"


@pytest.mark.parametrize("action, form, message", [
    ("dial", {"number": ""}, "Enter the number to call."),
    ("dial", {"number": "call-me-maybe"}, "A phone number has at most 20 digits"),
    ("dial", {"number": "1" * 21}, "A phone number has at most 20 digits"),
    ("ring", {"number": "<script>"}, "A phone number has at most 20 digits"),
    ("next", {"state": "inbound_call"}, "Unknown state."),
    ("answer", {}, "There is no call to answer or hang up."),
    ("hangup", {}, "There is no call to answer or hang up."),
])
def test_bad_input_is_refused_on_the_widget(desk, app, action, form, message):
    press(desk, "login")
    response = press(desk, action, **form)
    assert response.status_code == 422 and message in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Call)) == 0


def test_logged_out_agents_cannot_dial_and_nobody_logs_out_mid_call(desk):
    assert "Log in to the phone first." in press(desk, "dial", number="0101234").get_data(as_text=True)
    press(desk, "login")
    press(desk, "dial", number="0101234")
    assert "Hang up the call before you log out" in press(desk, "logout").get_data(as_text=True)
    assert "You are already on a call." in press(desk, "ring", number="0109999").get_data(as_text=True)


def test_a_stale_form_is_refused(desk, app):
    response = desk["client"].post("/agent/phone/login", data={"csrf_token": "stale"}, headers={"HX-Request": "true", **EN})
    assert response.status_code == 400 and "expired" in response.get_data(as_text=True)
    assert phone_state(app, desk["ann"].id) == "offline"


def test_an_event_from_the_switch_shows_in_the_polled_panel(desk, app):
    press(desk, "login")
    with app.app_context():
        from portal.services import cti_events
        from portal.models.base import utcnow

        cti_events.ingest(db.session.get(Service, desk["service"].id), {
            "event_id": "sw-1", "kind": "inbound_ringing", "cti_id": "ann01", "call_id": "c-77", "direction": "IB",
            "counterpart": "0317778888", "occurred_at": utcnow().isoformat()})
        db.session.commit()
    assert "Incoming call from 0317778888" in desk["client"].get("/agent/phone", headers=EN).get_data(as_text=True)


def test_unknown_actions_are_404(desk):
    assert press(desk, "teleport").status_code == 404


def test_the_top_bar_and_the_widget_follow_each_other_but_polls_leave_the_top_bar_alone(desk):
    press(desk, "login")
    token = desk["token"]
    top = desk["client"].post("/agent/state", data={"csrf_token": token, "channel": "phone", "state": "break"},
                              headers={"HX-Request": "true", **EN}).get_data(as_text=True)
    assert '<div id="phone-panel" hx-swap-oob="innerHTML">' in top and "state-break" in top
    poll = desk["client"].get("/agent/phone", headers={"HX-Request": "true", **EN}).get_data(as_text=True)
    assert 'id="agent-states"' not in poll  # replacing it would shut a state menu the agent has open
