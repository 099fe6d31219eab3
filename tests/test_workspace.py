"""The agent's home (issue 17, item 6): my tickets in progress (newest first, linked, with their age), the queue,
my states and assignment switch, today's figures from My performance, and the team's states for a manager; the
live part polls itself."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest

from portal.extensions import db
from portal.models import Member, Service, Ticket, TicketChannel, TicketStatus
from portal.models.base import utcnow
from portal.services import Actor, agent_states, assignment, tickets
from tests.test_ticket_page import EN, KO, text_of


@pytest.fixture
def desk(make, app):
    org = make.org(domain="acme")
    service = make.service(org, "desk", name="Desk")
    ann, bob, mia = (make.member(org, login, name=name) for login, name in (("ann", "Ann"), ("bob", "Bob"),
                                                                              ("mia", "Mia")))
    make.place(service, ann, "agent")
    make.place(service, bob, "agent")
    make.place(service, mia, "manager")
    return {"org": org, "service": service, "ann": ann, "bob": bob, "mia": mia}


def add_ticket(app, service, title, *, assignee=None, status=TicketStatus.in_progress, age=timedelta(0)):
    with app.app_context():
        created = utcnow() - age
        ticket = Ticket(organization_id=service.organization_id, service_id=service.id,
                        number=tickets.reserve_numbers(service.id), title=title, channel=TicketChannel.web,
                        status=status, assignee_id=assignee.id if assignee else None, created_at=created,
                        updated_at=created)
        db.session.add(ticket)
        db.session.commit()
        return ticket.number


def set_state(app, member, service, channel, state):
    with app.app_context():
        m, s = db.session.get(Member, member.id), db.session.get(Service, service.id)
        agent_states.change(Actor(m.organization_id, m.id), m, s, channel, state)
        db.session.commit()


def test_my_tickets_newest_first_linked_with_their_age_and_the_queue(desk, app, login_as):
    ann, service = desk["ann"], desk["service"]
    old = add_ticket(app, service, "Old one", assignee=ann, age=timedelta(hours=3, minutes=20))
    new = add_ticket(app, service, "New one", assignee=ann, age=timedelta(minutes=5))
    add_ticket(app, service, "Ancient", assignee=ann, age=timedelta(days=3))
    add_ticket(app, service, "Bob's", assignee=desk["bob"])
    add_ticket(app, service, "Done", assignee=ann, status=TicketStatus.resolved)
    for n in range(3):
        add_ticket(app, service, f"Waiting {n}", status=TicketStatus.unassigned)

    page = login_as(ann).get("/workspace/desk", headers=EN)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    mine = html[html.index('id="my-tickets"'):html.index("</ul>", html.index('id="my-tickets"'))]
    assert re.findall(r"<li><a href=\"/services/desk/tickets/(\d+)\"", mine) == [str(new), str(old), str(new + 1)]
    text = text_of(page)
    assert "#%d New one 5 min" % new in text and "#%d Old one 3 h" % old in text and "Ancient 3 d" in text
    assert "Bob's" not in text and "Done" not in text and "Coming soon" not in text
    assert re.search(r'data-figure="unassigned">3<', html)
    assert re.search(r'data-figure="mine">3<', html)
    assert "3 of 10 tickets I can hold" in text

    korean = text_of(login_as(ann).get("/workspace/desk", headers=KO))
    assert "내 진행 중 티켓" in korean and "5분" in korean and "3시간" in korean and "3일" in korean
    assert "대기열" in korean


def test_nothing_in_progress_says_so(desk, login_as):
    text = text_of(login_as(desk["bob"]).get("/workspace/desk", headers=EN))
    assert "No ticket in progress." in text


def test_my_states_and_my_assignment_switch(desk, app, login_as):
    ann = desk["ann"]
    set_state(app, ann, desk["service"], "phone", "break")
    with app.app_context():
        member, mia = db.session.get(Member, ann.id), db.session.get(Member, desk["mia"].id)
        assignment.switch(Actor(mia.organization_id, mia.id), member, False, until=utcnow() + timedelta(days=2),
                          note="vacation")
        db.session.commit()
    page = login_as(ann).get("/workspace/desk", headers=EN)
    html, text = page.get_data(as_text=True), text_of(page)
    phone = html[html.index('data-state="phone"'):]
    assert "Break" in phone[:phone.index("</dd>")]
    chat = html[html.index('data-state="chat"'):]
    assert "Offline" in chat[:chat.index("</dd>")]
    assert re.search(r"My assignment Off until \d{4}-\d\d-\d\d \d\d:\d\d \(Asia/Seoul\) · vacation · switched by Mia", text)
    assert 'href="/me/settings"' in html
    korean = text_of(login_as(ann).get("/workspace/desk", headers=KO))
    assert "내 할당 꺼짐" in korean and "Mia 님이 변경" in korean


def test_todays_figures_are_my_performances(desk, app, login_as):
    ann = desk["ann"]
    add_ticket(app, desk["service"], "Resolved today", assignee=ann, status=TicketStatus.resolved)
    html = login_as(ann).get("/workspace/desk", headers=EN).get_data(as_text=True)
    assert re.search(r'data-figure="resolved">1<', html)
    assert re.search(r'data-figure="completed">0<', html)
    assert re.search(r'data-figure="calls-IB">0 ', html)


def test_a_manager_sees_the_team_and_an_agent_does_not(desk, app, login_as):
    set_state(app, desk["ann"], desk["service"], "phone", "ready")
    set_state(app, desk["bob"], desk["service"], "phone", "meal")
    manager = login_as(desk["mia"]).get("/workspace/desk", headers=EN)
    html = manager.get_data(as_text=True)
    assert "My team now" in text_of(manager)
    assert re.search(r'data-figure="team-logged-in">2 / 3<', html)
    assert re.search(r'data-figure="team-eligible">1<', html)
    assert re.search(r'data-figure="team-offline">1<', html)
    assert re.search(r'data-team-state="phone-ready">.*?<span class="num">1</span>', html)
    assert re.search(r'data-team-state="phone-meal">.*?<span class="num">1</span>', html)
    assert 'href="/services/desk/board"' in html
    assert "My team now" not in text_of(login_as(desk["ann"]).get("/workspace/desk", headers=EN))


def test_the_live_part_polls_and_answers_alone(desk, app, login_as):
    ann = desk["ann"]
    client = login_as(ann)
    html = client.get("/workspace/desk").get_data(as_text=True)
    assert 'hx-get="/workspace/desk?part=live"' in html and 'hx-trigger="every 5s"' in html
    add_ticket(app, desk["service"], "Arrived since", assignee=ann)
    part = client.get("/workspace/desk?part=live", headers={"HX-Request": "true", "X-Poll": "1", **EN})
    body = part.get_data(as_text=True)
    assert part.status_code == 200 and "<html" not in body and "Arrived since" in body
