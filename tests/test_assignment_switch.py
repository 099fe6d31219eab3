"""The member's own assignment switch (issue 17, item 1): the personal settings section (off until a time in the
member's time zone, a note, returning open tickets), the one click in the top bar, the return when the time
passes, and the activity trail."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from html import unescape
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.models import Activity, Member, MemberStatus, Service, Ticket, TicketChannel, TicketStatus
from portal.models.base import utcnow
from portal.queue import get_queue
from portal.services import Actor, ServiceError, assignment
from tests.conftest import csrf_token

EN = {"Accept-Language": "en"}
HTMX = {**EN, "HX-Request": "true"}
ZONE = "Europe/Berlin"  # the service's, not the portal's default (Asia/Seoul): times are read and shown in it


@pytest.fixture
def desk(make, app, login_as):
    org = make.org(domain="acme")
    service = make.service(org, "desk", name="Desk")
    ann = make.member(org, "ann", name="Ann", ui_language="en")
    boss = make.member(org, "boss", name="Bea Boss")
    make.place(service, ann)
    make.place(service, boss, "manager")
    with app.app_context():
        db.session.get(Service, service.id).time_zone = ZONE
        db.session.commit()
    return {"org": org, "service": service, "ann": ann, "boss": boss, "client": login_as(ann)}


def local_input(moment: datetime) -> str:
    return moment.astimezone(ZoneInfo(ZONE)).strftime("%Y-%m-%dT%H:%M")


def switch_row(app, member_id):
    with app.app_context():
        m = db.session.get(Member, member_id)
        return m.assignment_on, m.assignment_off_until, m.assignment_note


def post_settings(client, headers=EN, **data):
    token = csrf_token(client, "/me/settings")
    return client.post("/me/settings/assignment", headers=headers, data={"csrf_token": token, **data})


def topbar(html: str) -> str:
    match = re.search(r'<div class="assignment-switch.*?</div>', html, re.S)
    assert match, "no assignment switch in the top bar"
    return unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", match.group(0))))


def tomorrow_at_nine() -> datetime:
    day = utcnow().astimezone(ZoneInfo(ZONE)).date() + timedelta(days=1)
    return datetime(day.year, day.month, day.day, 9, 0, tzinfo=ZoneInfo(ZONE)).astimezone(timezone.utc)


# -- personal settings ---------------------------------------------------------------------------------------

def test_the_settings_offer_the_switch_with_the_time_zone_named(desk):
    html = desk["client"].get("/me/settings", headers=EN).get_data(as_text=True)
    assert 'id="assignment"' in html and "Assignment is on." in html
    assert f"In {ZONE}." in html and 'type="datetime-local"' in html
    assert 'action="/me/settings/assignment"' in html and re.search(r'name="csrf_token" type="hidden" value="[^"]+"',
                                                                     html.split('id="assignment"')[1])


def test_off_until_a_time_is_read_in_the_members_zone_and_shown_in_it(desk, app):
    until = tomorrow_at_nine()
    page = post_settings(desk["client"], state="off", until=local_input(until), note="vacation")
    assert page.status_code == 303 and page.headers["Location"] == "/me/settings"
    assert switch_row(app, desk["ann"].id) == (False, until, "vacation")
    html = desk["client"].get("/me/settings", headers=EN).get_data(as_text=True)
    when = until.astimezone(ZoneInfo(ZONE)).strftime("%Y-%m-%d %H:%M")
    assert f"Assignment is off until {when} ({ZONE})." in unescape(html)  # the flash and the section
    assert f'value="{local_input(until)}"' in html and 'value="vacation"' in html  # the form as it stands
    assert f"until {when} ({ZONE})" in topbar(html) and "Assignment off" in topbar(html)


def test_the_dialog_reloads_the_page_behind_it_after_a_change(desk, app):
    page = post_settings(desk["client"], headers=HTMX, state="off")
    assert page.status_code == 204 and page.headers["HX-Refresh"] == "true"
    assert switch_row(app, desk["ann"].id) == (False, None, None)
    assert "Assignment is off until you turn it on." in desk["client"].get("/me/settings", headers=EN).get_data(as_text=True)


def test_turning_it_on_in_the_settings_drops_the_time_and_the_note(desk, app):
    post_settings(desk["client"], state="off", until=local_input(tomorrow_at_nine()), note="vacation")
    assert switch_row(app, desk["ann"].id) == (False, tomorrow_at_nine(), "vacation")
    post_settings(desk["client"], state="on", until=local_input(tomorrow_at_nine()), note="ignored")
    assert switch_row(app, desk["ann"].id) == (True, None, None)


def _ticket(app, service_id, assignee_id, number, status=TicketStatus.in_progress):
    with app.app_context():
        db.session.add(Ticket(organization_id=db.session.get(Service, service_id).organization_id,
                              service_id=service_id, number=number, title=f"T{number}", channel=TicketChannel.web,
                              status=status, assignee_id=assignee_id))
        db.session.commit()


def test_turning_it_off_can_return_my_open_tickets_to_the_queue(desk, app):
    for n in (1, 2):
        _ticket(app, desk["service"].id, desk["ann"].id, n)
    _ticket(app, desk["service"].id, desk["ann"].id, 3, TicketStatus.resolved)
    post_settings(desk["client"], state="off", return_tickets="y")
    page = desk["client"].get("/me/settings", headers=EN).get_data(as_text=True)
    assert "Tickets returned to the queue: 2." in page
    with app.app_context():
        rows = dict(db.session.execute(select(Ticket.number, Ticket.assignee_id)).all())
    assert rows == {1: None, 2: None, 3: desk["ann"].id}


def test_turning_it_off_keeps_my_tickets_unless_asked(desk, app):
    _ticket(app, desk["service"].id, desk["ann"].id, 1)
    assert post_settings(desk["client"], state="off").status_code == 303
    assert switch_row(app, desk["ann"].id) == (False, None, None)
    with app.app_context():
        assert db.session.scalar(select(Ticket.assignee_id)) == desk["ann"].id


@pytest.mark.parametrize("until, note, field, message", [
    (lambda: utcnow() - timedelta(hours=1), "", "until", "Choose a time in the future for assignment to come back on."),
    (lambda: utcnow() + timedelta(days=400), "", "until", "Assignment can be off until at most a year from now."),
    (lambda: "0001-01-01T00:00", "", "until", "Choose a time in the future for assignment to come back on."),
    (lambda: "9999-12-31T23:59", "", "until", "Assignment can be off until at most a year from now."),
    (lambda: "tomorrow", "", "until", "Enter dates and times as YYYY-MM-DD HH:MM."),
    (lambda: "", "x" * 201, "note", "Keep the note under 200 characters."),
])
def test_a_refusal_shows_at_its_field_with_the_form_as_typed_and_nothing_changes(desk, app, until, note, field,
                                                                                   message):
    typed = until()
    typed = typed if isinstance(typed, str) else local_input(typed)
    for headers in (EN, HTMX):
        page = post_settings(desk["client"], headers=headers, state="off", until=typed, note=note, return_tickets="y")
        html = page.get_data(as_text=True)
        assert page.status_code == 422
        assert re.search(rf'<p class="field-error" id="{field}-error">{re.escape(message)}</p>', html), html
        assert f'aria-describedby="{field}-error"' in html
        assert f'value="{typed}"' in html and (not note or f'value="{note}"' in html)
        assert re.search(r'value="off"[^>]*checked|checked[^>]*value="off"', html)
        assert re.search(r'name="return_tickets"[^>]*checked|checked[^>]*name="return_tickets"', html)
    assert switch_row(app, desk["ann"].id) == (True, None, None)
    with app.app_context():
        assert db.session.scalar(select(Activity.id).where(Activity.action == "member.assignment")) is None


def test_a_form_without_its_csrf_token_changes_nothing(desk, app):
    page = desk["client"].post("/me/settings/assignment", headers=EN, data={"state": "off"})
    assert page.status_code in (400, 422)
    page = desk["client"].post("/me/assignment", headers=HTMX, data={"on": "0"})
    assert page.status_code == 400
    assert switch_row(app, desk["ann"].id) == (True, None, None)


def test_a_disabled_member_cannot_be_switched(desk, app):
    token = csrf_token(desk["client"], "/me/settings")
    with app.app_context():
        ann = db.session.get(Member, desk["ann"].id)
        ann.status = MemberStatus.disabled
        db.session.commit()
        with pytest.raises(ServiceError) as refused:
            assignment.switch(Actor(ann.organization_id, desk["boss"].id), ann, False, note="leave")
        assert refused.value.code == "member_disabled"
        db.session.rollback()
    page = desk["client"].post("/me/assignment", headers=EN,
                               data={"csrf_token": token, "on": "0"})  # the session ended with the account
    assert page.status_code in (302, 303) and "/login" in page.headers["Location"]
    assert switch_row(app, desk["ann"].id) == (True, None, None)


# -- the top bar -------------------------------------------------------------------------------------------------

def test_one_click_in_the_top_bar_turns_assignment_off_and_on(desk, app):
    client = desk["client"]
    html = client.get("/me/settings", headers=EN).get_data(as_text=True)
    assert "Assignment on" in topbar(html) and 'aria-checked="true"' in html
    token = csrf_token(client, "/me/settings")
    off = client.post("/me/assignment", headers=HTMX, data={"csrf_token": token, "on": "0"})
    part = off.get_data(as_text=True)
    assert off.status_code == 200 and part.lstrip().startswith('<div class="assignment-switch is-off"')
    assert "Assignment off" in topbar(part) and 'aria-checked="false"' in part and 'name="on" value="1"' in part
    assert switch_row(app, desk["ann"].id) == (False, None, None)  # off with no end
    on = client.post("/me/assignment", headers={**EN, "Referer": "http://localhost/me/performance"},
                     data={"csrf_token": token, "on": "1"})  # without JavaScript: back where the click was
    assert on.status_code == 303 and on.headers["Location"] == "/me/performance"
    assert switch_row(app, desk["ann"].id) == (True, None, None)
    assert "Assignment is on: automatic tickets and chats come to you again." in \
        client.get("/me/performance", headers=EN).get_data(as_text=True)


def test_the_top_bar_refuses_a_value_that_is_neither_on_nor_off(desk):
    token = csrf_token(desk["client"], "/me/settings")
    assert desk["client"].post("/me/assignment", data={"csrf_token": token, "on": "maybe"}).status_code == 400


def test_the_top_bar_says_who_switched_it_off_and_why(desk, app):
    with app.app_context():
        ann = db.session.get(Member, desk["ann"].id)
        assignment.switch(Actor(ann.organization_id, desk["boss"].id), ann, False, note="covering the phones")
        db.session.commit()
    html = desk["client"].get("/me/settings", headers=EN).get_data(as_text=True)
    assert "switched off by Bea Boss: covering the phones" in topbar(html)
    assert "Switched off by Bea Boss: covering the phones" in html  # and in the settings


def test_a_passed_off_until_shows_as_on_before_the_job_runs(desk, app):
    with app.app_context():
        ann = db.session.get(Member, desk["ann"].id)
        ann.assignment_on, ann.assignment_off_until = False, utcnow() - timedelta(seconds=5)
        db.session.commit()
    assert "Assignment on" in topbar(desk["client"].get("/me/settings", headers=EN).get_data(as_text=True))


def test_a_member_of_no_service_has_no_switch_in_the_top_bar(desk, make, login_as):
    assert 'id="assignment-switch"' in desk["client"].get("/me/settings").get_data(as_text=True)
    html = login_as(make.member(desk["org"], "loner")).get("/me/settings", headers=EN).get_data(as_text=True)
    assert 'id="assignment-switch"' not in html and 'id="assignment"' not in html


# -- back on by itself, and the trail ------------------------------------------------------------------------

def test_the_scheduled_job_and_the_sweep_turn_it_back_on_when_the_time_passes(desk, app, monkeypatch):
    import jobs.assignment as assignment_jobs

    until = tomorrow_at_nine()
    post_settings(desk["client"], state="off", until=local_input(until), note="vacation")
    with app.app_context():
        scheduled = get_queue("scheduled").scheduled_job_registry.get_job_ids()
    assert f"assign-on-{desk['ann'].id}-{int(until.timestamp())}" in scheduled

    with app.app_context():  # a worker's context, as SimpleWorker runs jobs in-process
        monkeypatch.setattr("portal.services.assignment.utcnow", lambda: until - timedelta(minutes=1))
        assignment_jobs.back_on(desk["ann"].id)  # early (a clock a little ahead of the database's): stays off
        assert switch_row(app, desk["ann"].id)[0] is False
        monkeypatch.setattr("portal.services.assignment.utcnow", lambda: until + timedelta(seconds=1))
        assert assignment_jobs.sweep()["switched_on"] == [desk["ann"].id]  # the safety net, had Redis lost the job
        assert switch_row(app, desk["ann"].id)[:2] == (True, None)
        assert assignment_jobs.back_on(desk["ann"].id) == []  # the job itself, later: nothing left to do
    html = desk["client"].get("/me/settings", headers=EN).get_data(as_text=True)
    assert "Assignment on" in topbar(html) and "Assignment is on." in html


def test_every_change_is_in_the_activity_trail_with_before_after_and_reason(desk, app, monkeypatch):
    until = tomorrow_at_nine()
    post_settings(desk["client"], state="off", until=local_input(until), note="vacation")
    token = csrf_token(desk["client"], "/me/settings")
    desk["client"].post("/me/assignment", data={"csrf_token": token, "on": "1"})
    with app.app_context():
        ann = db.session.get(Member, desk["ann"].id)
        assignment.switch(Actor(ann.organization_id, desk["boss"].id), ann, False, until=until, note="training")
        db.session.commit()
        assert assignment.back_on_due(now=until + timedelta(seconds=1)) == [ann.id]
        db.session.commit()
        rows = db.session.execute(select(Activity.actor_id, Activity.subject_id, Activity.details).where(
            Activity.action == "member.assignment").order_by(Activity.id)).all()
    ann_id, boss_id, at = desk["ann"].id, desk["boss"].id, until.isoformat()
    assert [(r.actor_id, r.subject_id, r.details["before"], r.details["after"], r.details["reason"]) for r in rows] == [
        (ann_id, ann_id, {"on": True, "until": None}, {"on": False, "until": at}, "vacation"),
        (ann_id, ann_id, {"on": False, "until": at}, {"on": True, "until": None}, None),
        (boss_id, ann_id, {"on": True, "until": None}, {"on": False, "until": at}, "training"),
        (None, ann_id, {"on": False, "until": at}, {"on": True, "until": None}, None),
    ]
    assert rows[-1].details["code"] == "until_passed"
