"""Assignment as the manager sees it (issue 17, items 2, 3, 8): the service's automatic assignment settings and
each member's capacity on the members page, the assignment switch with a reason from the board (and the members
row), the switch and tickets against capacity on the board with its filters, and the manual assignment select
marking agents whose assignment is off."""
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.models import Activity, AssignMode, Member, MemberStatus, Service, ServiceMember, Ticket, TicketChannel, \
    TicketStatus
from portal.services import Actor, assignment
from tests.conftest import csrf_token

EN = {"Accept-Language": "en"}
SEOUL = ZoneInfo("Asia/Seoul")
SOON = (datetime.now(SEOUL) + timedelta(days=30)).replace(hour=9, minute=0, second=0, microsecond=0)
HX = {**EN, "HX-Request": "true"}


@pytest.fixture
def desk(make, app, login_as):
    """Desk (Asia/Seoul by default) with its manager Boss; Ann (phone, chat, tickets), Bob (tickets only, his own
    capacity 3 and three tickets in progress), Dan in Other only, whose manager is Olga."""
    org = make.org(domain="acme")
    service = make.service(org, "desk", name="Desk")
    other = make.service(org, "other", name="Other")
    boss, olga = make.member(org, "boss", name="Boss"), make.member(org, "olga", name="Olga")
    make.place(service, boss, "manager")
    make.place(other, olga, "manager")
    ann, bob, dan = (make.member(org, login, name=login.title()) for login in ("ann", "bob", "dan"))
    make.place(service, ann)
    make.place(service, bob, phone=False, chat=False)
    make.place(other, dan)
    with app.app_context():
        db.session.scalars(select(ServiceMember).where(ServiceMember.member_id == bob.id)).one().ticket_capacity = 3
        for n in range(1, 5):
            db.session.add(Ticket(organization_id=org.id, service_id=service.id, number=n, title=f"T{n}",
                                  channel=TicketChannel.web, status=TicketStatus.in_progress if n < 4
                                  else TicketStatus.unassigned, assignee_id=bob.id if n < 4 else None))
        db.session.commit()
    return {"org": org, "service": service, "boss": boss, "olga": olga, "ann": ann, "bob": bob, "dan": dan,
            "client": login_as(boss)}


def row(html, element_id):
    start = html.index(f'id="{element_id}"')
    return html[start:html.index("</tr>", start)]


def member(app, m) -> Member:
    with app.app_context():
        found = db.session.get(Member, m.id)
        db.session.expunge(found)
        return found


def trail(app, action):
    with app.app_context():
        return [(a.actor_id, a.subject_id, a.details) for a in
                db.session.scalars(select(Activity).where(Activity.action == action).order_by(Activity.id))]


def switch_url(who, service="desk"):
    return f"/services/{service}/board/members/{who.id}/assignment"


# -- the board -------------------------------------------------------------------------------------------------

def test_the_board_shows_the_switch_and_tickets_against_capacity_and_filters_on_them(desk, app):
    with app.app_context():
        ann = db.session.get(Member, desk["ann"].id)
        assignment.switch(Actor(desk["org"].id, desk["boss"].id), ann, False, note="vacation", until=SOON)
        db.session.commit()
    c = desk["client"]
    html = c.get("/services/desk/board", headers=EN).get_data(as_text=True)
    ann, bob = row(html, f"agent-{desk['ann'].id}"), row(html, f"agent-{desk['bob'].id}")
    assert "Off" in ann and f"until {SOON:%Y-%m-%d} 09:00 (Asia/Seoul)" in ann and "by Boss" in ann and "vacation" in ann
    assert "0 / 10" in ann and "At capacity" not in ann
    # Bob has the ticket permission only: on the board all the same, at his own capacity.
    assert "On" in bob and "3 / 3" in bob and "At capacity" in bob
    off = c.get("/services/desk/board?assignment=off", headers=EN).get_data(as_text=True)
    assert f'id="agent-{desk["ann"].id}"' in off and f'id="agent-{desk["bob"].id}"' not in off
    full = c.get("/services/desk/board?assignment=full&part=rows", headers=EN).get_data(as_text=True)
    assert f'id="agent-{desk["bob"].id}"' in full and f'id="agent-{desk["ann"].id}"' not in full
    page = c.get("/services/desk/board?assignment=full", headers=EN).get_data(as_text=True)
    assert "assignment=full" in page[page.index('id="board-rows"'):]  # the poll keeps the filter


def test_the_board_needs_two_queries_for_assignment_whatever_the_number_of_agents(desk, app, make):
    """switches() and loads() once each: the board's cost does not grow with assignment figures per agent."""
    from sqlalchemy import event

    def count(n_agents):
        for i in range(n_agents):
            make.place(desk["service"], make.member(desk["org"]))
        statements = []
        listener = lambda *args: statements.append(args[2])
        with app.app_context():
            event.listen(db.engine, "before_cursor_execute", listener)
            try:
                assert desk["client"].get("/services/desk/board", headers=EN).status_code == 200
            finally:
                event.remove(db.engine, "before_cursor_execute", listener)
        return len(statements)

    assert count(1) == count(6)


# -- the switch ------------------------------------------------------------------------------------------------

def test_a_manager_switches_an_agent_off_from_the_board_with_a_reason_recorded(desk, app):
    c = desk["client"]
    form = c.get(switch_url(desk["ann"]), headers=HX).get_data(as_text=True)
    assert "Assignment of Ann" in form and 'name="reason"' in form and "In Asia/Seoul" in form
    token = csrf_token(c, "/services/desk/board")
    refused = c.post(switch_url(desk["ann"]), headers=HX, data={"csrf_token": token, "on": "off", "reason": " "})
    html = refused.get_data(as_text=True)
    assert refused.status_code == 422 and "Give a reason" in html
    assert 'id="as-reason-error"' in html and 'aria-invalid="true"' in html  # at the reason field
    assert member(app, desk["ann"]).assignment_on is True and trail(app, "member.assignment") == []

    done = c.post(switch_url(desk["ann"]), headers=HX, data={
        "csrf_token": token, "on": "off", "reason": "vacation", "until": f"{SOON:%Y-%m-%d}T09:00"})
    assert done.status_code == 204 and done.headers["HX-Redirect"] == "/services/desk/board"
    ann = member(app, desk["ann"])
    assert (ann.assignment_on, ann.assignment_note, ann.assignment_by_id) == (False, "vacation", desk["boss"].id)
    assert ann.assignment_off_until == SOON  # 09:00 in Seoul, stored as 00:00 UTC
    [(actor, subject, details)] = trail(app, "member.assignment")
    assert (actor, subject, details["reason"]) == (desk["boss"].id, desk["ann"].id, "vacation")
    assert details["before"] == {"on": True, "until": None}
    assert details["after"] == {"on": False, "until": SOON.astimezone(ZoneInfo("UTC")).isoformat()}
    page = c.get("/services/desk/board", headers=EN).get_data(as_text=True)
    assert "Assignment of Ann is off." in page

    back_on = c.post(switch_url(desk["ann"]), headers=HX, data={"csrf_token": token, "on": "on", "reason": "back"})
    assert back_on.status_code == 204 and member(app, desk["ann"]).assignment_on is True


def test_switching_off_can_return_the_agents_tickets_to_the_queue(desk, app):
    c = desk["client"]
    done = c.post(switch_url(desk["bob"]), headers=EN, data={
        "csrf_token": csrf_token(c, "/services/desk/board"), "on": "off", "reason": "sick",
        "return_tickets": "on", "next": "/services/desk/members"})
    assert done.status_code == 303 and done.headers["Location"] == "/services/desk/members"
    assert "3 tickets went back to the queue" in c.get("/services/desk/members", headers=EN).get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(db.func.count()).select_from(Ticket).where(
            Ticket.assignee_id == desk["bob"].id)) == 0


@pytest.mark.parametrize("until, message", [
    ("2020-01-01T09:00", "Choose a time in the future"),
    ("2099-01-01T09:00", "at most a year from now"),
    ("tomorrow", "Enter a date and time"),
    ("2030-02-30T09:00", "Enter a date and time"),
    ("2030-01-01T25:00", "Enter a date and time"),
])
def test_a_bad_off_until_is_said_at_its_field_and_changes_nothing(desk, app, until, message):
    c = desk["client"]
    refused = c.post(switch_url(desk["ann"]), headers=HX, data={
        "csrf_token": csrf_token(c, "/services/desk/board"), "on": "off", "reason": "x", "until": until})
    html = refused.get_data(as_text=True)
    assert refused.status_code == 422 and message in html and 'id="as-until-error"' in html
    assert member(app, desk["ann"]).assignment_on is True and trail(app, "member.assignment") == []


def test_switching_a_disabled_member_is_refused_with_a_clear_message(desk, app):
    with app.app_context():
        db.session.get(Member, desk["ann"].id).status = MemberStatus.disabled
        db.session.commit()
    c = desk["client"]
    refused = c.post(switch_url(desk["ann"]), headers=HX, data={
        "csrf_token": csrf_token(c, "/services/desk/board"), "on": "off", "reason": "x"})
    assert refused.status_code == 422 and "Ann is disabled: enable the member first." in refused.get_data(as_text=True)
    assert member(app, desk["ann"]).assignment_on is True and trail(app, "member.assignment") == []


def test_only_members_of_the_managers_services_can_be_switched(desk, app, login_as):
    c = desk["client"]
    token = csrf_token(c, "/services/desk/board")
    # Dan works in Other only: outside Boss's services, as if he did not exist.
    assert c.get(switch_url(desk["dan"]), headers=EN).status_code == 404
    assert c.post(switch_url(desk["dan"]), headers=EN, data={"csrf_token": token, "on": "off",
                                                            "reason": "x"}).status_code == 404
    # Olga manages Other: Ann is not hers, through either service.
    olga = login_as(desk["olga"])
    olga_token = csrf_token(olga, "/services/other/board")
    assert olga.post(switch_url(desk["ann"], "other"), data={"csrf_token": olga_token, "on": "off",
                                                            "reason": "x"}).status_code == 404
    assert olga.post(switch_url(desk["ann"]), data={"csrf_token": olga_token, "on": "off",
                                                    "reason": "x"}).status_code == 403
    # An agent switches nobody from here (their own switch is in personal settings).
    ann = login_as(desk["ann"])
    assert ann.get(switch_url(desk["bob"])).status_code == 403
    assert ann.post(switch_url(desk["ann"]), data={"csrf_token": csrf_token(ann), "on": "off",
                                                  "reason": "x"}).status_code == 403
    assert member(app, desk["ann"]).assignment_on is True and trail(app, "member.assignment") == []


def test_an_org_admin_switches_a_member_of_any_service(desk, app, make, login_as):
    admin = login_as(make.admin_of(desk["org"]))
    done = admin.post(switch_url(desk["dan"], "other"), headers=EN, data={
        "csrf_token": csrf_token(admin, "/services/other/board"), "on": "off", "reason": "training week"})
    assert done.status_code == 303
    assert member(app, desk["dan"]).assignment_note == "training week"


# -- the members page ------------------------------------------------------------------------------------------

def test_the_members_page_shows_the_switch_and_tickets_against_capacity(desk, app):
    with app.app_context():
        assignment.switch(Actor(desk["org"].id, desk["boss"].id), db.session.get(Member, desk["ann"].id), False,
                          note="vacation")
        db.session.commit()
    html = desk["client"].get("/services/desk/members", headers=EN).get_data(as_text=True)
    ann, bob = row(html, f"member-{desk['ann'].id}"), row(html, f"member-{desk['bob'].id}")
    assert "Off" in ann and "by Boss" in ann and "0 / 10" in ann
    assert f'/services/desk/board/members/{desk["ann"].id}/assignment?next=/services/desk/members' in ann
    assert "3 / 3" in bob and "At capacity" in bob and "Service: 10" in bob
    assert "<function" not in html  # a row's error when it has none: nothing (not the template global's repr)
    card = html[html.index('id="assignment-settings"'):]
    assert "Automatic assignment" in card and 'value="10"' in card and 'value="round_robin" selected' in card


def test_a_manager_sets_the_services_automatic_assignment(desk, app):
    c = desk["client"]
    done = c.post("/services/desk/members/assignment", headers=HX, data={
        "csrf_token": csrf_token(c, "/services/desk/members"), "auto": "on", "mode": "least_loaded",
        "capacity": "12"})
    assert done.status_code == 200 and "Automatic assignment of Desk is saved." in done.get_data(as_text=True)
    with app.app_context():
        service = db.session.get(Service, desk["service"].id)
        assert (service.auto_assign, service.assign_mode, service.ticket_capacity) == (True, AssignMode.least_loaded, 12)
    [(actor, _subject, details)] = trail(app, "service.assignment")
    assert actor == desk["boss"].id and details["after"] == {"auto": True, "mode": "least_loaded"}
    assert [d["to"] for _a, _s, d in trail(app, "service.ticket_capacity")] == [12]


@pytest.mark.parametrize("capacity", ["0", "1000", "abc", "", "-1", "1.5"])
def test_a_bad_service_capacity_is_said_at_its_field_and_changes_nothing(desk, app, capacity):
    c = desk["client"]
    for headers in (HX, EN):  # in place, and without JavaScript the page with the card's error
        refused = c.post("/services/desk/members/assignment", headers=headers, data={
            "csrf_token": csrf_token(c, "/services/desk/members"), "auto": "on", "mode": "least_loaded",
            "capacity": capacity})
        html = refused.get_data(as_text=True)
        assert refused.status_code == 422 and "Capacity is a whole number from 1 to 999." in html
        assert 'id="assign-capacity-error"' in html
    with app.app_context():
        service = db.session.get(Service, desk["service"].id)
        assert (service.auto_assign, service.assign_mode, service.ticket_capacity) == (False, AssignMode.round_robin, 10)
    assert trail(app, "service.assignment") == []


def test_an_unknown_mode_is_refused(desk):
    c = desk["client"]
    refused = c.post("/services/desk/members/assignment", headers=HX, data={
        "csrf_token": csrf_token(c, "/services/desk/members"), "auto": "on", "mode": "random", "capacity": "5"})
    assert refused.status_code == 422 and 'id="assign-mode-error"' in refused.get_data(as_text=True)


def test_a_manager_overrides_an_agents_capacity_inline(desk, app):
    c = desk["client"]
    url = f"/services/desk/members/{desk['ann'].id}/capacity"
    edit = c.get(url, headers=HX).get_data(as_text=True)
    assert f'id="capacity-{desk["ann"].id}"' in edit and 'placeholder="10"' in edit and "<html" not in edit
    token = csrf_token(c, "/services/desk/members")
    saved = c.post(url, headers=HX, data={"csrf_token": token, "capacity": "4"})
    assert saved.status_code == 200 and "0 / 4" in saved.get_data(as_text=True) and "cell-field" not in saved.get_data(as_text=True)
    [(actor, subject, details)] = trail(app, "service.ticket_capacity")
    assert (actor, subject, details["from"], details["to"]) == (desk["boss"].id, desk["ann"].id, None, 4)
    cleared = c.post(url, headers=HX, data={"csrf_token": token, "capacity": " "})
    assert cleared.status_code == 200 and "0 / 10" in cleared.get_data(as_text=True)
    cancel = c.get(f"/services/desk/members/{desk['ann'].id}", headers=HX).get_data(as_text=True)
    assert cancel.startswith("") and f'id="member-{desk["ann"].id}"' in cancel and "cell-field" not in cancel


@pytest.mark.parametrize("capacity", ["0", "1000", "ten", "2.5"])
def test_a_bad_capacity_override_is_said_under_its_field_and_changes_nothing(desk, app, capacity):
    c = desk["client"]
    url = f"/services/desk/members/{desk['bob'].id}/capacity"
    refused = c.post(url, headers=HX, data={"csrf_token": csrf_token(c, "/services/desk/members"),
                                            "capacity": capacity})
    html = refused.get_data(as_text=True)
    assert refused.status_code == 422 and f'id="capacity-{desk["bob"].id}-error"' in html
    assert "Capacity is a whole number from 1 to 999." in html and f'value="{capacity}"' in html  # as typed
    # Without JavaScript: the page, with the row open and the message under the field.
    page = c.post(url, headers=EN, data={"csrf_token": csrf_token(c, "/services/desk/members"), "capacity": capacity})
    assert page.status_code == 422 and f'id="capacity-{desk["bob"].id}-error"' in page.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalars(select(ServiceMember.ticket_capacity).where(
            ServiceMember.member_id == desk["bob"].id)).one() == 3
    assert trail(app, "service.ticket_capacity") == []


def test_capacity_of_a_member_outside_the_service_is_404(desk):
    c = desk["client"]
    assert c.get(f"/services/desk/members/{desk['ann'].id}/capacity", headers=HX).status_code == 200
    assert c.get(f"/services/desk/members/{desk['dan'].id}/capacity", headers=HX).status_code == 404
    assert c.post(f"/services/desk/members/{desk['dan'].id}/capacity", headers=HX, data={
        "csrf_token": csrf_token(c, "/services/desk/members"), "capacity": "5"}).status_code == 404


# -- the manual assignment select ------------------------------------------------------------------------------

def test_the_assignment_select_marks_agents_with_assignment_off_and_warns_but_assigns(desk, app):
    with app.app_context():
        assignment.switch(Actor(desk["org"].id, desk["ann"].id), db.session.get(Member, desk["ann"].id), False)
        ticket_id = db.session.scalar(select(Ticket.id).where(Ticket.number == 4))
        db.session.commit()
    c = desk["client"]
    html = c.get("/services/desk/tickets", headers=EN).get_data(as_text=True)
    assert f'value="{desk["ann"].id}" >Ann (assignment off)</option>' in html
    assert f'value="{desk["bob"].id}" >Bob</option>' in html
    done = c.post(f"/services/desk/tickets/{ticket_id}/assign", headers=EN, data={
        "csrf_token": csrf_token(c, "/services/desk/tickets"), "assignee": str(desk["ann"].id)})
    assert done.status_code == 303
    page = c.get(done.headers["Location"], headers=EN).get_data(as_text=True)
    assert "Ticket #4 is assigned." in page
    assert 'class="flash flash-warning">Ann has turned assignment off; the ticket is theirs all the same.' in page
    with app.app_context():
        assert db.session.get(Ticket, ticket_id).assignee_id == desk["ann"].id


def test_korean_pages_say_it_in_korean(desk, app):
    c = desk["client"]
    ko = {"Accept-Language": "ko"}
    board = c.get("/services/desk/board", headers=ko).get_data(as_text=True)
    assert "티켓 / 한도" in board and "한도 도달" in board and "할당 전환" in board
    members = c.get("/services/desk/members", headers=ko).get_data(as_text=True)
    assert "자동 할당" in members and "상담원별 처리 한도" in members
    refused = c.post(f"/services/desk/members/{desk['bob'].id}/capacity", headers={**ko, "HX-Request": "true"},
                     data={"csrf_token": csrf_token(c, "/services/desk/members"), "capacity": "0"})
    assert "처리 한도는 1에서 999 사이의 정수입니다." in refused.get_data(as_text=True)
