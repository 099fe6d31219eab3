"""CTI settings, CTI agents' credentials and agents' state intervals."""
import re
import threading

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.models import Activity, AgentStateInterval, CtiAgent, CtiEvent, CtiSettings, Member, Organization, Service
from portal.services import Actor, ServiceError, agent_states, cti
from portal.services.contracts import sign_contract
from tests.conftest import csrf_token

EN = {"Accept-Language": "en"}


@pytest.fixture
def cti_world(make, login_as, app):
    org = make.org(domain="acme")
    phone = make.service(org, "phone", name="Phone Desk")
    plain = make.service(org, "plain", name="Plain Desk")
    with app.app_context():
        sign_contract(Actor(org.id, None), db.session.get(Service, phone.id), {"base.seat": 3, "ticket.phone_cti": 3},
                      base_version=None)
        sign_contract(Actor(org.id, None), db.session.get(Service, plain.id), {"base.seat": 3}, base_version=None)
        db.session.commit()
    ann = make.member(org, "ann", name="Ann")
    bob = make.member(org, "bob", name="Bob")
    cal = make.member(org, "cal", name="Cal")
    make.place(phone, ann, ticket=True, chat=True, phone=True)
    make.place(phone, bob, ticket=True, chat=False, phone=True)
    make.place(plain, cal, ticket=True, chat=True, phone=False)
    admin = make.admin_of(org)
    return {"org": org, "phone": phone, "plain": plain, "ann": ann, "bob": bob, "cal": cal, "admin": admin,
            "client": login_as(admin)}


def test_only_services_with_phone_cti_are_offered(cti_world):
    main = cti_world["client"].get("/admin/cti").get_data(as_text=True).split('<main id="main"')[1]
    assert "Phone Desk" in main and "Plain Desk" not in main  # (the sidebar lists every service)
    assert cti_world["client"].get("/admin/cti?service=plain").status_code == 404


def test_without_cti_services_the_page_points_to_the_contract(make, login_as):
    client = login_as(make.admin_of(make.org()))
    html = client.get("/admin/cti", headers=EN).get_data(as_text=True)
    assert "No service has phone CTI" in html and "/admin/services" in html


def test_toggles_save_at_once_and_re_render_themselves(cti_world, app):
    c = cti_world["client"]
    token = csrf_token(c, "/admin/cti")
    fragment = c.post("/admin/cti/phone/toggle", data={"name": "log_monitoring", "value": "on"},
                      headers={"HX-Request": "true", "X-CSRFToken": token}).get_data(as_text=True)
    assert fragment.lstrip().startswith('<div class="setting-row" id="setting-log_monitoring"')
    assert 'aria-checked="true"' in fragment
    with app.app_context():
        assert db.session.scalars(select(Activity).filter_by(action="cti.settings_changed")).one().details == {
            "log_monitoring": {"from": False, "to": True}}
    refused = c.post("/admin/cti/plain/toggle", data={"name": "log_monitoring", "value": "on"},
                     headers={"HX-Request": "true", "X-CSRFToken": token})
    assert refused.status_code == 404


def test_ipcc_needs_approval_and_mobile_needs_activation(cti_world, app):
    c = cti_world["client"]
    token = csrf_token(c, "/admin/cti")
    ipcc = c.post("/admin/cti?service=phone", headers=EN, data={"csrf_token": token, "version": "ipcc",
                                                               "tenant_id": "t-1", "tenant_name": "Tenant"})
    assert ipcc.status_code == 422 and "Contact the support center" in ipcc.get_data(as_text=True)
    mobile = c.post("/admin/cti?service=phone", headers=EN, data={"csrf_token": token, "version": "mobile"})
    assert mobile.status_code == 422 and "Activate Mobile Contact first." in mobile.get_data(as_text=True)
    c.post("/admin/cti/phone/toggle", data={"csrf_token": token, "name": "mobile_activated", "value": "on"})
    assert c.post("/admin/cti?service=phone", data={"csrf_token": token, "version": "mobile", "tenant_id": "t-1",
                                                    "tenant_name": "Tenant"}).status_code == 303
    with app.app_context():
        db.session.get(Organization, cti_world["org"].id).ipcc_approved = True
        db.session.commit()
    assert c.post("/admin/cti?service=phone", data={"csrf_token": token, "version": "ipcc"}).status_code == 303
    bad = c.post("/admin/cti?service=phone", headers=EN, data={"csrf_token": token, "version": "ipcc",
                                                              "tenant_id": "bad id!"})
    assert bad.status_code == 422 and "A tenant ID is 1–64" in bad.get_data(as_text=True)


def test_mobile_contact_activation_cannot_go_off_under_its_version_unless_the_version_goes_too(cti_world, app):
    c = cti_world["client"]
    token = csrf_token(c, "/admin/cti")
    hx = {"HX-Request": "true", "X-CSRFToken": token, **EN}
    on = c.post("/admin/cti/phone/toggle", data={"name": "mobile_activated", "value": "on"}, headers=hx)
    fragment = on.get_data(as_text=True)
    assert on.status_code == 200 and 'id="cti-version" hx-swap-oob="true"' in fragment  # the version follows
    mobile_radio = re.search(r'<input type="radio" name="version" value="mobile"[^>]*>', fragment).group(0)
    assert "disabled" not in mobile_radio
    assert c.post("/admin/cti?service=phone", data={"csrf_token": token, "version": "mobile"}).status_code == 303

    asked = c.post("/admin/cti/phone/toggle", data={"name": "mobile_activated", "value": "off"}, headers=hx)
    assert asked.status_code == 409
    assert "Switching its activation off removes that version" in asked.get_data(as_text=True)
    with app.app_context():
        settings = db.session.scalars(select(CtiSettings).filter_by(service_id=cti_world["phone"].id)).one()
        assert settings.mobile_activated and settings.version.value == "mobile"  # nothing changed

    removed = c.post("/admin/cti/phone/toggle", data={"name": "mobile_activated", "value": "off",
                                                      "remove_version": "yes"}, headers=hx)
    assert removed.status_code == 200 and 'aria-checked="false"' in removed.get_data(as_text=True)
    with app.app_context():
        settings = db.session.scalars(select(CtiSettings).filter_by(service_id=cti_world["phone"].id)).one()
        assert not settings.mobile_activated and settings.version is None
        assert db.session.scalars(select(Activity).filter_by(action="cti.settings_changed")
                                  .order_by(Activity.id.desc())).first().details == {
            "mobile_activated": {"from": True, "to": False}, "version": {"from": "mobile", "to": None}}


def test_cti_agents_lists_phone_members_and_searches(cti_world):
    c = cti_world["client"]
    html = c.get("/admin/cti/agents").get_data(as_text=True)
    assert "Ann" in html and "Bob" in html and "Cal" not in html  # Cal has no phone permission
    assert "Bob" not in c.get("/admin/cti/agents?q=ann").get_data(as_text=True)


def test_inline_edit_saves_and_cancel_restores(cti_world, app):
    c = cti_world["client"]
    ann = cti_world["ann"]
    hx = {"HX-Request": "true", "X-CSRFToken": csrf_token(c, "/admin/cti/agents")}
    editing = c.get(f"/admin/cti/agents/{ann.id}/edit", headers=hx).get_data(as_text=True)
    assert 'name="cti_id"' in editing and "<html" not in editing
    saved = c.post(f"/admin/cti/agents/{ann.id}", data={"cti_id": "ann01", "cti_number": "7001"}, headers=hx)
    assert saved.status_code == 200 and "ann01" in saved.get_data(as_text=True) and 'name="cti_id"' not in saved.get_data(as_text=True)
    cancel = c.get(f"/admin/cti/agents/{ann.id}", headers=hx).get_data(as_text=True)
    assert "ann01" in cancel and "<input" not in cancel


@pytest.mark.parametrize("values, message", [
    ({"cti_id": "", "cti_number": "7001"}, "A CTI ID is 2–32"),
    ({"cti_id": "x" * 33, "cti_number": "7001"}, "A CTI ID is 2–32"),
    ({"cti_id": "ann 01", "cti_number": "7001"}, "A CTI ID is 2–32"),
    ({"cti_id": "ann01", "cti_number": "70a1"}, "A CTI number is 2–20 digits."),
    ({"cti_id": "bob01", "cti_number": "7002"}, "The CTI ID bob01 is already used by another agent."),
    ({"cti_id": "ann01", "cti_number": "7002"}, "The CTI number 7002 is already used by another agent."),
])
def test_bad_or_duplicate_credentials_show_on_the_row(cti_world, app, values, message):
    c = cti_world["client"]
    hx = {**EN, "HX-Request": "true", "X-CSRFToken": csrf_token(c, "/admin/cti/agents")}
    c.post(f"/admin/cti/agents/{cti_world['bob'].id}", data={"cti_id": "bob01", "cti_number": "7002"}, headers=hx)
    response = c.post(f"/admin/cti/agents/{cti_world['ann'].id}", data=values, headers=hx)
    body = response.get_data(as_text=True)
    assert response.status_code == 422 and message in body and body.lstrip().startswith(f'<tr id="cti-agent-{cti_world["ann"].id}"')
    with app.app_context():
        assert db.session.scalars(select(CtiAgent).filter_by(member_id=cti_world["ann"].id)).first() is None


def test_a_member_without_phone_permission_gets_no_credentials(cti_world):
    c = cti_world["client"]
    response = c.post(f"/admin/cti/agents/{cti_world['cal'].id}", data={
        "csrf_token": csrf_token(c, "/admin/cti/agents"), "cti_id": "cal01", "cti_number": "7003"})
    assert response.status_code == 404


def test_two_admins_saving_the_same_number_at_once_cannot_both_win(cti_world, app):
    from portal.services import cti

    barrier = threading.Barrier(2)
    outcomes = []

    def save(member_id, cti_id):
        with app.test_request_context():
            member = db.session.get(Member, member_id)
            cti.has_phone_permission(member)
            barrier.wait()
            try:
                cti.set_credentials(Actor(cti_world["org"].id, cti_world["admin"].id), member, cti_id=cti_id,
                                    cti_number="7777")
                db.session.commit()
                outcomes.append("saved")
            except ServiceError as exc:
                db.session.rollback()
                outcomes.append(exc.code)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=save, args=(cti_world[name].id, f"{name}01")) for name in ("ann", "bob")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    # The loser is refused: by the check when the winner's commit is already visible, else by the constraint.
    assert len(outcomes) == 2 and outcomes.count("saved") == 1
    assert set(outcomes) - {"saved"} <= {"cti_number_taken", "duplicate"}
    with app.app_context():
        assert len(db.session.scalars(select(CtiAgent).filter_by(cti_number="7777")).all()) == 1


# -- agent states ---------------------------------------------------------------------------------------------

def test_each_state_change_closes_one_interval_and_opens_the_next(cti_world, app, login_as):
    ann = cti_world["ann"]
    client = login_as(ann)
    client.post("/me/current-service", data={"csrf_token": csrf_token(client), "service_key": "phone"})
    hx = {"HX-Request": "true", "X-CSRFToken": csrf_token(client)}
    for state in ("ready", "break", "ready"):
        response = client.post("/agent/state", data={"channel": "phone", "state": state}, headers=hx)
        assert response.status_code == 200 and 'id="agent-states"' in response.get_data(as_text=True)
    client.post("/agent/state", data={"channel": "chat", "state": "waiting"}, headers=hx)
    with app.app_context():
        rows = db.session.scalars(select(AgentStateInterval).order_by(AgentStateInterval.id)).all()
        phone = [(r.state, r.ended_at is None) for r in rows if r.channel == "phone"]
        assert phone == [("ready", False), ("break", False), ("ready", True)]
        assert all(a.ended_at == b.started_at for a, b in zip(
            [r for r in rows if r.channel == "phone"], [r for r in rows if r.channel == "phone"][1:]))
        assert agent_states.eligible(db.session.get(Service, cti_world["phone"].id), "phone") == [ann.id]
        assert agent_states.eligible(db.session.get(Service, cti_world["phone"].id), "chat") == [ann.id]
    client.post("/logout", data={"csrf_token": csrf_token(client, "/logout")})
    with app.app_context():
        assert db.session.scalars(select(AgentStateInterval).filter_by(ended_at=None)).all() == []


def test_states_need_the_channel_permission_and_call_states_come_from_the_telephony(cti_world, app, login_as):
    bob = login_as(cti_world["bob"])
    bob.post("/me/current-service", data={"csrf_token": csrf_token(bob), "service_key": "phone"})
    hx = {**EN, "HX-Request": "true", "X-CSRFToken": csrf_token(bob)}
    chat = bob.post("/agent/state", data={"channel": "chat", "state": "waiting"}, headers=hx)
    assert chat.status_code == 409 and "no chat permission" in chat.get_data(as_text=True)
    call = bob.post("/agent/state", data={"channel": "phone", "state": "inbound_call"}, headers=hx)
    assert call.status_code == 409 and "Call states come from the telephony." in call.get_data(as_text=True)
    assert bob.post("/agent/state", data={"channel": "phone", "state": "dancing"}, headers=hx).status_code == 409


def test_a_supervisor_sets_a_state_with_a_reason(cti_world, app):
    c = cti_world["client"]
    token = csrf_token(c, "/admin/cti")
    ann = cti_world["ann"]
    c.post(f"/services/phone/board/members/{ann.id}/state", headers=EN, data={"csrf_token": token, "channel": "phone",
                                                                    "state": "coaching"})
    with app.app_context():
        assert db.session.scalars(select(AgentStateInterval)).first() is None  # no reason: refused
    c.post(f"/services/phone/board/members/{ann.id}/state", data={"csrf_token": token, "channel": "phone",
                                                        "state": "coaching", "reason": "weekly coaching"})
    with app.app_context():
        interval = db.session.scalars(select(AgentStateInterval)).one()
        assert (interval.state, interval.reason, interval.changed_by_id) == (
            "coaching", "weekly coaching", cti_world["admin"].id)


@pytest.mark.parametrize("days", ["0", "6", "3651", "ninety", "", "30.5"])
def test_the_log_retention_refuses_bad_values(cti_world, app, days):
    c = cti_world["client"]
    response = c.post("/admin/cti/phone/retention", headers=EN, follow_redirects=True,
                      data={"csrf_token": csrf_token(c, "/admin/cti"), "days": days})
    assert "Keep the CTI log for 7 to 3650 days." in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalars(select(CtiSettings.log_retention_days)
                                  .filter_by(service_id=cti_world["phone"].id)).one() == 180


def test_the_log_retention_is_saved_and_recorded(cti_world, app):
    c = cti_world["client"]
    token = csrf_token(c, "/admin/cti")
    page = c.post("/admin/cti/phone/retention", headers=EN, follow_redirects=True,
                  data={"csrf_token": token, "days": " 30 "}).get_data(as_text=True)
    assert "The CTI log of Phone Desk is kept for 30 days." in page and 'value="30"' in page
    with app.app_context():
        assert db.session.scalars(select(Activity).filter_by(action="cti.settings_changed")).one().details == {
            "log_retention_days": {"from": 180, "to": 30}}
    assert c.post("/admin/cti/plain/retention", data={"csrf_token": token, "days": "30"}).status_code == 404


def test_the_nightly_job_deletes_days_past_the_retention_in_the_services_time_zone(cti_world, app):
    """Seoul is UTC+9: at 20:00 UTC on the 10th it is already the 11th there. With 180 days kept, the 11th's
    cutoff day is 180 days earlier; that day stays, the day before it goes."""
    from datetime import date, datetime, timedelta, timezone

    from rq import SimpleWorker

    from portal.queue import get_queue, get_redis
    from jobs.cti import purge_expired

    with app.app_context():
        service = db.session.get(Service, cti_world["phone"].id)
        service.time_zone = "Asia/Seoul"
        cti.settings_of(service)
        now = datetime(2026, 3, 10, 20, 0, tzinfo=timezone.utc)
        cutoff = date(2026, 3, 11) - timedelta(days=180)
        for n, day in enumerate((cutoff - timedelta(days=1), cutoff, date(2026, 3, 11))):
            db.session.add(CtiEvent(organization_id=service.organization_id, service_id=service.id,
                                    external_id=f"e{n}", kind="agent_login", local_day=day, logged=True,
                                    occurred_at=datetime.combine(day, datetime.min.time(), timezone.utc)))
        db.session.commit()
        assert purge_expired(now, chunk=1) == {"phone": 1}
        assert sorted(db.session.scalars(select(CtiEvent.local_day))) == [cutoff, date(2026, 3, 11)]
        # The scheduled job, run by a real worker today, finds both remaining days past the retention.
        get_queue().enqueue("jobs.cti.purge_log")
        SimpleWorker([get_queue()], connection=get_redis()).work(burst=True)
        db.session.expire_all()
        assert list(db.session.scalars(select(CtiEvent.id))) == []
        assert [job_id for job_id in get_queue("scheduled").scheduled_job_registry.get_job_ids()
                if job_id.startswith("cti-log-purge-")]  # and the next night's run is scheduled
