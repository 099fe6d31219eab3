"""The ticket page (issue 17, item 7): a ticket's values, source and history in the reader's language; the moves of
its assignee or a manager (in progress → resolved → completed, reopen, back to the queue), each refused clearly
when it does not apply; capacity freed by a resolve goes to the next waiting ticket at once."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.models import (
    Activity, Call, CtiEvent, MigrationBatch, BatchStatus, Member, Service, Ticket, TicketChannel, TicketStatus,
)
from portal.models.base import utcnow
from portal.services import Actor, agent_states, ticket_fields, tickets
from portal.services.storage import store
from tests.conftest import csrf_token

EN, KO = {"Accept-Language": "en"}, {"Accept-Language": "ko"}


def text_of(response) -> str:
    """The page's visible text, tags dropped and spaces folded."""
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", response.get_data(as_text=True), flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).replace("&gt;", ">").replace("&#39;", "'")


@pytest.fixture
def desk(make, app):
    """A service that assigns automatically (round-robin, capacity 1) with a custom field 'mood'; Ann and Bob are
    its agents, Mia its manager, Olga an agent of another service of the organization."""
    org = make.org(domain="acme")
    service = make.service(org, "desk", name="Desk", auto_assign=True)
    other = make.service(org, "other", name="Other")
    ann, bob = make.member(org, "ann", name="Ann"), make.member(org, "bob", name="Bob")
    mia, olga = make.member(org, "mia", name="Mia"), make.member(org, "olga", name="Olga")
    for member, role in ((ann, "agent"), (bob, "agent"), (mia, "manager")):
        make.place(service, member, role)
    make.place(other, olga, "agent")
    with app.app_context():
        svc = db.session.get(Service, service.id)
        svc.ticket_capacity = 1
        ticket_fields.add_custom_field(Actor(org.id, None), svc, key="mood", type="text", label_ko="기분",
                                       label_en="Mood")
        db.session.commit()
    return {"org": org, "service": service, "ann": ann, "bob": bob, "mia": mia, "olga": olga}


def ready(app, member, service):
    with app.app_context():
        m, s = db.session.get(Member, member.id), db.session.get(Service, service.id)
        agent_states.change(Actor(m.organization_id, m.id), m, s, "phone", "ready")
        db.session.commit()


def new_ticket(app, service, title="Printer on fire", **values) -> Ticket:
    with app.app_context():
        svc = db.session.get(Service, service.id)
        ticket = tickets.create(Actor(svc.organization_id, None), svc, {"title": title, **values})
        db.session.commit()
        db.session.refresh(ticket)
        db.session.expunge(ticket)
        return ticket


def state_of(app, ticket) -> tuple[TicketStatus, int | None]:
    with app.app_context():
        row = db.session.get(Ticket, ticket.id)
        return row.status, row.assignee_id


def post(client, ticket, action: str, **data):
    path = f"/services/desk/tickets/{ticket.number}/{action}"
    return client.post(path, data={"csrf_token": csrf_token(client), **data}, headers=EN, follow_redirects=True)


# -- what the page shows --------------------------------------------------------------------------------------

def test_the_page_shows_values_custom_fields_and_history_in_the_readers_language(desk, app, login_as):
    ready(app, desk["ann"], desk["service"])
    ticket = new_ticket(app, desk["service"], body="Smoke everywhere", requester_name="Kim", priority="high",
                        channel="email", mood="grumpy")
    assert state_of(app, ticket) == (TicketStatus.in_progress, desk["ann"].id)
    ann = login_as(desk["ann"])

    english = text_of(ann.get(f"/services/desk/tickets/{ticket.number}", headers=EN))
    for expected in ("Printer on fire", "Smoke everywhere", "Kim", "High", "E-mail", "In progress",
                     "Mood grumpy", "Open API Created",
                     "Automatic assignment Assigned to Ann (automatically, round-robin)", "Times are in Asia/Seoul"):
        assert expected in english, expected
    korean = text_of(ann.get(f"/services/desk/tickets/{ticket.number}", headers=KO))
    for expected in ("기분 grumpy", "높음", "이메일", "진행 중", "자동 할당 Ann에게 할당 (자동, 순환 배정)"):
        assert expected in korean, expected
    assert "Mood" not in korean and "round-robin" not in korean


def test_status_moves_appear_in_the_history_with_who_and_when(desk, app, login_as):
    ready(app, desk["ann"], desk["service"])
    ticket = new_ticket(app, desk["service"])
    ann = login_as(desk["ann"])
    post(ann, ticket, "status", status="resolved", seen="in_progress")
    post(ann, ticket, "status", status="in_progress", seen="resolved")
    english = text_of(ann.get(f"/services/desk/tickets/{ticket.number}", headers=EN))
    assert "Ann Status In progress → Resolved" in english
    assert "Ann Status Resolved → In progress" in english
    korean = text_of(ann.get(f"/services/desk/tickets/{ticket.number}", headers=KO))
    assert "Ann 상태 진행 중 → 해결" in korean


def test_the_tickets_list_links_each_number_to_its_page(desk, app, login_as):
    ticket = new_ticket(app, desk["service"])
    html = login_as(desk["bob"]).get("/services/desk/tickets").get_data(as_text=True)
    assert f'href="/services/desk/tickets/{ticket.number}"' in html


def test_a_calls_ticket_shows_the_call_and_its_cti_events(desk, app, login_as):
    now = utcnow()
    with app.app_context():
        org_id, service_id = desk["org"].id, desk["service"].id
        ticket = Ticket(organization_id=org_id, service_id=service_id, number=tickets.reserve_numbers(service_id),
                        title="Call ticket", channel=TicketChannel.phone_ib, status=TicketStatus.in_progress,
                        assignee_id=desk["ann"].id, call_id="c-77")
        db.session.add(ticket)
        db.session.add(Call(organization_id=org_id, service_id=service_id, call_id="c-77", direction="IB",
                            member_id=desk["ann"].id, counterpart="0212345678", started_at=now - timedelta(minutes=3),
                            outcome="answered"))
        for n, kind in enumerate(("inbound_ringing", "answered", "hangup")):
            db.session.add(CtiEvent(organization_id=org_id, service_id=service_id, external_id=f"e{n}", kind=kind,
                                    occurred_at=now - timedelta(minutes=3 - n), local_day=now.date(),
                                    member_id=desk["ann"].id, call_id="c-77", direction="IB"))
        db.session.commit()
        number = ticket.number
    page = text_of(login_as(desk["bob"]).get(f"/services/desk/tickets/{number}", headers=EN))
    assert "Call c-77 · Inbound · 0212345678 · Answered · Ann" in page
    assert re.search(r"Inbound ringing Ann .* Answered Ann .* Hang-up Ann", page)
    assert "Telephony Created" in page


def test_a_migrated_ticket_links_its_batch_for_an_org_admin_only(desk, app, make, login_as):
    with app.app_context():
        org_id, service_id = desk["org"].id, desk["service"].id
        upload = store(org_id, purpose="migration_upload", filename="old.xlsx", content_type="x", data=b"x")
        batch = MigrationBatch(organization_id=org_id, service_id=service_id, file_id=upload.id,
                               filename="old-desk.xlsx", status=BatchStatus.completed)
        db.session.add(batch)
        db.session.flush()
        ticket = Ticket(organization_id=org_id, service_id=service_id, number=tickets.reserve_numbers(service_id),
                        title="Migrated", channel=TicketChannel.migration, source_batch_id=batch.id, source_row=7)
        db.session.add(ticket)
        db.session.commit()
        number, batch_id = ticket.number, batch.id
    admin_html = login_as(make.admin_of(desk["org"])).get(f"/services/desk/tickets/{number}", headers=EN)
    assert f'href="/admin/migrations/{batch_id}"' in admin_html.get_data(as_text=True)
    assert f"Migration #{batch_id}, row 7" in text_of(admin_html) and "old-desk.xlsx" in text_of(admin_html)
    agent_html = login_as(desk["bob"]).get(f"/services/desk/tickets/{number}", headers=EN)
    assert f"Migration #{batch_id}, row 7" in text_of(agent_html)
    assert "/admin/migrations/" not in agent_html.get_data(as_text=True)


# -- who may see it, and bad addresses -------------------------------------------------------------------------

@pytest.mark.parametrize("number", ["99", "0", "-1", "abc", "99999999999999999999", "2147483648"])
def test_a_number_no_ticket_has_is_not_found(desk, app, login_as, number):
    new_ticket(app, desk["service"])
    assert login_as(desk["ann"]).get(f"/services/desk/tickets/{number}").status_code == 404


def test_another_services_member_cannot_open_it_and_its_number_is_not_found_elsewhere(desk, app, login_as):
    ticket = new_ticket(app, desk["service"])
    olga = login_as(desk["olga"])
    assert olga.get(f"/services/desk/tickets/{ticket.number}").status_code == 403  # not a member of Desk
    assert olga.get(f"/services/other/tickets/{ticket.number}").status_code == 404  # Desk's number, not Other's


def test_an_agent_who_is_not_the_assignee_reads_it_without_actions_and_is_refused(desk, app, login_as):
    ready(app, desk["ann"], desk["service"])
    ticket = new_ticket(app, desk["service"])
    bob = login_as(desk["bob"])
    page = bob.get(f"/services/desk/tickets/{ticket.number}", headers=EN)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "/status" not in html and "/return" not in html
    assert "Read only: only the assignee or a manager" in text_of(page)
    refused = post(bob, ticket, "status", status="resolved", seen="in_progress")
    assert "Only the assignee or a manager of the service can change this ticket." in text_of(refused)
    refused = post(bob, ticket, "return", seen="in_progress")
    assert "Only the assignee or a manager of the service can change this ticket." in text_of(refused)
    assert state_of(app, ticket) == (TicketStatus.in_progress, desk["ann"].id)


# -- the moves ------------------------------------------------------------------------------------------------

def test_the_assignee_resolves_reopens_resolves_and_completes(desk, app, login_as):
    ready(app, desk["ann"], desk["service"])
    ticket = new_ticket(app, desk["service"])
    ann = login_as(desk["ann"])
    page = ann.get(f"/services/desk/tickets/{ticket.number}", headers=EN).get_data(as_text=True)
    assert 'value="resolved"' in page and "/return" in page and 'value="completed"' not in page

    done = post(ann, ticket, "status", status="resolved", seen="in_progress")
    assert f"Ticket #{ticket.number} is now Resolved." in text_of(done)
    assert state_of(app, ticket) == (TicketStatus.resolved, desk["ann"].id)
    html = done.get_data(as_text=True)
    assert 'value="completed"' in html and 'value="in_progress"' in html and "/return" not in html
    assert "data-confirm" in html  # completing cannot be undone: asked first

    post(ann, ticket, "status", status="in_progress", seen="resolved")
    assert state_of(app, ticket) == (TicketStatus.in_progress, desk["ann"].id)
    post(ann, ticket, "status", status="resolved", seen="in_progress")
    done = post(ann, ticket, "status", status="completed", seen="resolved")
    assert f"Ticket #{ticket.number} is now Completed." in text_of(done)
    with app.app_context():
        row = db.session.get(Ticket, ticket.id)
        assert row.status == TicketStatus.completed and row.closed_at is not None
    assert 'name="status"' not in done.get_data(as_text=True)  # nothing follows completed


def test_a_move_made_for_a_status_the_ticket_no_longer_has_is_refused(desk, app, login_as):
    ready(app, desk["ann"], desk["service"])
    ticket = new_ticket(app, desk["service"])
    ann, mia = login_as(desk["ann"]), login_as(desk["mia"])
    post(mia, ticket, "status", status="resolved", seen="in_progress")  # the manager resolved it meanwhile
    refused = post(ann, ticket, "status", status="resolved", seen="in_progress")
    assert "The ticket changed meanwhile; look again." in text_of(refused)
    refused = post(ann, ticket, "return", seen="in_progress")
    assert "The ticket changed meanwhile; look again." in text_of(refused)
    with app.app_context():
        moves = db.session.scalars(select(Activity.actor_id).where(Activity.subject_id == ticket.id,
                                                                   Activity.action == "ticket.status")).all()
    assert moves == [desk["mia"].id]


@pytest.mark.parametrize("status, message", [
    ("completed", "A ticket that is In progress cannot become Completed."),
    ("unassigned", "A ticket that is In progress cannot become Unassigned."),
    ("nonsense", "Unknown status."),
    ("", "Unknown status."),
])
def test_a_move_that_does_not_apply_is_refused_with_a_message(desk, app, login_as, status, message):
    ready(app, desk["ann"], desk["service"])
    ticket = new_ticket(app, desk["service"])
    refused = post(login_as(desk["ann"]), ticket, "status", status=status)
    assert refused.status_code == 200 and message in text_of(refused)
    assert state_of(app, ticket) == (TicketStatus.in_progress, desk["ann"].id)


def test_resolving_frees_capacity_and_the_waiting_ticket_goes_to_the_agent_at_once(desk, app, login_as):
    ready(app, desk["ann"], desk["service"])
    first = new_ticket(app, desk["service"], title="First")
    second = new_ticket(app, desk["service"], title="Second")  # Ann is at capacity (1): it waits
    assert state_of(app, first) == (TicketStatus.in_progress, desk["ann"].id)
    assert state_of(app, second) == (TicketStatus.unassigned, None)
    ann = login_as(desk["ann"])
    post(ann, first, "status", status="resolved", seen="in_progress")
    assert state_of(app, second) == (TicketStatus.in_progress, desk["ann"].id)
    history = text_of(ann.get(f"/services/desk/tickets/{second.number}", headers=EN))
    assert "Automatic assignment Assigned to Ann (automatically, round-robin)" in history


def test_a_manager_returns_a_ticket_to_the_queue_and_it_goes_to_the_next_eligible_agent(desk, app, login_as):
    ready(app, desk["ann"], desk["service"])
    ticket = new_ticket(app, desk["service"])
    mia = login_as(desk["mia"])
    back = post(mia, ticket, "return", seen="in_progress")
    assert f"Ticket #{ticket.number} is back in the queue." in text_of(back)
    assert state_of(app, ticket) == (TicketStatus.unassigned, None)  # Ann is not offered it again; Bob is away

    post(mia, ticket, "status", status="in_progress", seen="unassigned")  # nothing to reopen: refused
    assert state_of(app, ticket) == (TicketStatus.unassigned, None)

    ready(app, desk["bob"], desk["service"])  # Bob comes in: the waiting ticket is his
    assert state_of(app, ticket) == (TicketStatus.in_progress, desk["bob"].id)
    page = text_of(mia.get(f"/services/desk/tickets/{ticket.number}", headers=EN))
    assert "Mia Returned to the queue (was Ann's)" in page
    assert "Assigned to Bob (automatically, round-robin)" in page
    korean = text_of(mia.get(f"/services/desk/tickets/{ticket.number}", headers=KO))
    assert "Mia 대기열로 돌려보냄 (담당: Ann)" in korean


def test_returned_to_someone_else_says_who_has_it_now(desk, app, login_as):
    ready(app, desk["ann"], desk["service"])
    ready(app, desk["bob"], desk["service"])
    ticket = new_ticket(app, desk["service"])
    holder = state_of(app, ticket)[1]
    other = desk["bob"] if holder == desk["ann"].id else desk["ann"]
    back = post(login_as(desk["mia"]), ticket, "return", seen="in_progress")
    assert f"Ticket #{ticket.number} went back to the queue and on to {other.name}." in text_of(back)
    assert state_of(app, ticket) == (TicketStatus.in_progress, other.id)
