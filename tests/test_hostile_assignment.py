"""Hostile and clumsy input to what issue 17 added: the Open API's tickets (custom values at the edge of what a
date or a number can be), the assignment switch's "off until", and tickets given to someone who cannot log in.
Each case here was a 500 or stored what should have been refused."""
from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from portal import json_bounds
from portal.extensions import db
from portal.models import Member, MemberStatus, Organization, Service, Ticket, TicketStatus
from portal.models.base import utcnow
from portal.services import Actor, ticket_fields
from portal.services.organizations import rotate_api_key
from tests.conftest import csrf_token

EN = {"Accept-Language": "en"}


@pytest.fixture
def desk(make, app, monkeypatch):
    monkeypatch.setitem(app.config, "API_RATE_LIMIT", "100000 per minute")
    org = make.org(domain="acme")
    service = make.service(org, "desk", name="Desk")
    ann = make.member(org, "ann", name="Ann", ui_language="en")
    gone = make.member(org, "gone", name="Gone Away")
    boss = make.member(org, "boss", name="Bea Boss", ui_language="en")
    make.place(service, ann)
    make.place(service, gone)
    make.place(service, boss, "manager")
    with app.app_context():
        svc = db.session.get(Service, service.id)
        svc.time_zone = "America/New_York"  # behind UTC: the last day of year 9999 overflows when moved to UTC
        actor = Actor(org.id, None)
        for key, type_ in (("due", "datetime"), ("day", "date"), ("amount", "number")):
            ticket_fields.add_custom_field(actor, svc, key=key, type=type_, label_ko=key, label_en=key.title())
        db.session.get(Member, gone.id).status = MemberStatus.disabled
        key = rotate_api_key(actor, db.session.get(Organization, org.id))
        db.session.commit()
    return {"org": org, "service": service, "ann": ann, "gone": gone, "boss": boss, "key": key}


def post(client, desk, body):
    return client.post("/api/v1/services/desk/tickets", json=body,
                       headers={"Authorization": f"Bearer {desk['key']}", **EN})


def tickets_stored(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Ticket))


@pytest.mark.parametrize("custom", [{"due": "0001-01-01 00:00"}, {"due": "9999-12-31 23:59"},
                                    {"day": "0001-01-01"}, {"day": "9999-12-31"}])
def test_an_api_ticket_with_a_day_at_the_end_of_the_calendar_is_refused_at_its_field(client, desk, app, custom):
    answer = post(client, desk, {"title": "Late delivery", "custom": custom})
    assert answer.status_code == 422, answer.get_data(as_text=True)[:300]
    path = f"custom.{next(iter(custom))}"
    assert answer.json["codes"] == {path: "date_range"}
    assert answer.json["errors"][path] == ["Enter a day from 1900-01-01 to 2999-12-31."]
    assert tickets_stored(app) == 0


def test_an_api_ticket_with_a_day_within_the_calendar_still_goes_in(client, desk):
    answer = post(client, desk, {"title": "Late delivery", "custom": {"due": "2999-12-31 23:59", "day": "1900-01-01"}})
    assert answer.status_code == 201, answer.json
    assert answer.json["custom"] == {"due": "3000-01-01T04:59:00+00:00", "day": "1900-01-01"}


def test_a_huge_number_is_kept_as_a_number_the_api_can_read_back(client, desk):
    """1e308 came back as a 309-digit integer, which the portal's own JSON bounds (and any 64-bit reader) refuse."""
    created = post(client, desk, {"title": "Big order", "custom": {"amount": 1e308}})
    assert created.status_code == 201, created.json
    read = client.get(created.headers["Location"], headers={"Authorization": f"Bearer {desk['key']}"})
    json_bounds.check(read.json)  # raises JsonRefused on an integer past 64 bits
    assert read.json["custom"]["amount"] == 1e308
    assert post(client, desk, {"title": "Order", "custom": {"amount": "12,000"}}).json["custom"]["amount"] == 12000


def test_an_api_ticket_for_a_disabled_member_is_refused(client, desk, app):
    answer = post(client, desk, {"title": "For someone gone", "assignee": "gone"})
    assert answer.status_code == 422, answer.json
    assert answer.json["codes"] == {"assignee": "member_disabled"}
    assert answer.json["errors"]["assignee"] == ["gone is disabled: enable the member first."]
    assert tickets_stored(app) == 0


def test_a_manager_cannot_hand_a_ticket_to_a_disabled_member(desk, app, login_as):
    with app.app_context():
        now = utcnow()
        ticket = Ticket(organization_id=desk["org"].id, service_id=desk["service"].id, number=1, title="Waiting",
                        status=TicketStatus.unassigned, priority="normal", channel="web", created_at=now,
                        updated_at=now)
        db.session.add(ticket)
        db.session.commit()
        ticket_id = ticket.id
    boss = login_as(desk["boss"])
    page = boss.post(f"/services/desk/tickets/{ticket_id}/assign", headers=EN, follow_redirects=True,
                     data={"csrf_token": csrf_token(boss, "/me/settings"), "assignee": str(desk["gone"].id)})
    assert "Gone Away is disabled: enable the member first." in page.get_data(as_text=True)
    with app.app_context():
        assert (db.session.get(Ticket, ticket_id).assignee_id, db.session.get(Ticket, ticket_id).status) == (
            None, TicketStatus.unassigned)


@pytest.mark.parametrize("until", ["2027-01-01T10:00junk", "२०२७-01-01T10:00", "2027-06-30T23:59:60",
                                   "2027-01-01T10:00:00Z"])
def test_off_until_must_be_a_date_and_time_as_the_input_sends_it(desk, app, login_as, until):
    """strptime took the Devanagari year for 2027 and dropped whatever followed the minutes."""
    ann = login_as(desk["ann"])
    page = ann.post("/me/settings/assignment", headers=EN, data={
        "csrf_token": csrf_token(ann, "/me/settings"), "state": "off", "until": until})
    assert page.status_code == 422
    assert "Enter dates and times as YYYY-MM-DD HH:MM." in page.get_data(as_text=True)
    with app.app_context():
        member = db.session.get(Member, desk["ann"].id)
        assert (member.assignment_on, member.assignment_off_until) == (True, None)


def test_off_until_with_the_seconds_a_browser_may_add_is_taken(desk, app, login_as):
    ann = login_as(desk["ann"])
    day = (utcnow() + timedelta(days=30)).astimezone(ZoneInfo("America/New_York")).date()
    page = ann.post("/me/settings/assignment", headers=EN, data={
        "csrf_token": csrf_token(ann, "/me/settings"), "state": "off", "until": f"{day.isoformat()}T10:00:30"})
    assert page.status_code == 303
    with app.app_context():
        until = db.session.get(Member, desk["ann"].id).assignment_off_until
        assert until == datetime.combine(day, time(10, 0), tzinfo=ZoneInfo("America/New_York"))
