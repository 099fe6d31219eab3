"""Issue 17's whole loop in a real browser, in Korean and in English: an agent turns assignment off until tomorrow
and gets no ticket while `flask tickets simulate` posts tickets through the Open API; a second agent gets them up
to their capacity and the rest wait in the queue; the first agent turns assignment back on with one click and the
waiting tickets flow to them at once; a switch turned off "until" comes back on by itself when the time passes (a
fake clock); the supervisor board shows each step (switch, who, tickets against capacity)."""
from __future__ import annotations

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Browser, expect
from sqlalchemy import func, select

from tests.browser.test_layout import in_language
from tests.browser.test_smoke import log_in as smoke_log_in
from tests.factories import PASSWORD

ZONE = "Asia/Seoul"  # the service's; members have none of their own


@pytest.fixture
def desk(make, app, monkeypatch):
    """A service that assigns round-robin: ann and bob ready on the phone, bob able to hold 3 tickets."""
    from portal.extensions import db
    from portal.models import Member, Organization, Service
    from portal.services import Actor, agent_states, assignment
    from portal.services.organizations import rotate_api_key

    monkeypatch.setitem(app.config, "API_RATE_LIMIT", "100000 per minute")
    org = make.org()
    service = make.service(org, "flowdesk", name="Flow desk", auto_assign=True)
    ann, bob = make.member(org, "ann", name="Ann"), make.member(org, "bob", name="Bob")
    for member in (ann, bob):
        make.place(service, member, ticket=True, chat=False, phone=True)
    with app.app_context():
        svc, actor = db.session.get(Service, service.id), Actor(org.id, None)
        assignment.set_capacity(actor, svc, 3, member=db.session.get(Member, bob.id))
        for member in (ann, bob):
            m = db.session.get(Member, member.id)
            agent_states.change(Actor(org.id, m.id), m, svc, "phone", "ready")
        key = rotate_api_key(actor, db.session.get(Organization, org.id))
        db.session.commit()
    return {"org": org, "service": service, "ann": ann, "bob": bob, "key": key}


def held(app, service_id: int) -> dict[str, int]:
    """Tickets in progress per login ID, and those waiting under "(queue)"."""
    from portal.extensions import db
    from portal.models import Member, Ticket, TicketStatus

    with app.app_context():
        rows = db.session.execute(
            select(func.coalesce(Member.login_id, "(queue)"), func.count()).select_from(Ticket)
            .outerjoin(Member, Member.id == Ticket.assignee_id)
            .where(Ticket.service_id == service_id,
                   Ticket.status.in_([TicketStatus.unassigned, TicketStatus.in_progress]))
            .group_by(Member.login_id)).all()
    return dict(rows)


def log_in(page, base: str, domain: str, login_id: str) -> None:
    smoke_log_in(page, base, {"domain": domain, "password": PASSWORD}, login_id)
    expect(page).not_to_have_url(re.compile("/login"))


@pytest.mark.parametrize("locale", ["ko", "en"])
def test_assignment_follows_the_switch_capacity_and_the_clock(browser: Browser, live_server, app, desk, ui, locale,
                                                              shot):
    from portal.extensions import db
    from portal.models import Member
    from portal.services import Actor, assignment

    domain, service_id = desk["org"].domain, desk["service"].id
    agent = browser.new_context(locale="ko-KR", viewport={"width": 1280, "height": 900})
    ann = agent.new_page()
    log_in(ann, live_server, domain, "ann")
    if locale == "en":
        in_language(ann, "en")
    toggle = ann.locator(".topbar #assignment-switch").get_by_role("switch")
    expect(toggle).to_have_text(ui("Assignment on", locale))

    # Ann turns assignment off until tomorrow 09:00, in the personal settings.
    ann.locator("details.account-menu summary").click()
    ann.locator("details.account-menu a[href='/me/settings']").click()
    section = ann.locator("dialog#dialog section#assignment")
    section.locator("input[name=state][value=off]").check()
    tomorrow = datetime.now(ZoneInfo(ZONE)).date() + timedelta(days=1)
    section.locator("input[name=until]").fill(f"{tomorrow:%Y-%m-%d}T09:00")
    section.locator("input[name=note]").fill("vacation")
    section.locator("button[type=submit]").click()
    expect(toggle).to_have_text(ui("Assignment off", locale))

    # Five tickets come in through the Open API: bob takes three (his capacity), two wait; ann gets none.
    result = app.test_cli_runner().invoke(args=["tickets", "simulate", "--service", "flowdesk", "--domain", domain,
                                                "--count", "5", "--rate", "50", "--url", live_server, "--key",
                                                desk["key"], "--seed", "7"])
    assert result.exit_code == 0, result.output
    assert held(app, service_id) == {"bob": 3, "(queue)": 2}
    ann.goto(f"{live_server}/workspace/flowdesk")
    expect(ann.locator("#my-tickets-empty")).to_be_visible()
    expect(ann.locator("[data-figure=unassigned]")).to_have_text("2")

    # The supervisor board shows ann off until tomorrow, and bob at capacity.
    supervisor = browser.new_context(locale="ko-KR", viewport={"width": 1280, "height": 900})
    board = supervisor.new_page()
    log_in(board, live_server, domain, "admin")
    if locale == "en":
        in_language(board, "en")
    board.goto(f"{live_server}/services/flowdesk/board")
    ann_row, bob_row = board.locator(f"tr#agent-{desk['ann'].id}"), board.locator(f"tr#agent-{desk['bob'].id}")
    expect(ann_row.locator("td.assignment")).to_contain_text(ui("Off", locale))
    expect(ann_row.locator("td.assignment")).to_contain_text(
        ui("until %(time)s (%(zone)s)", locale, time=f"{tomorrow:%Y-%m-%d} 09:00", zone=ZONE))
    expect(bob_row.locator(".load")).to_have_text("3 / 3")
    expect(bob_row).to_contain_text(ui("At capacity", locale))
    shot(board, f"assignment-flow-board-off-{locale}")

    # One click turns ann's assignment on: the two waiting tickets go to her at once.
    toggle = ann.locator(".topbar #assignment-switch").get_by_role("switch")
    toggle.click()
    expect(toggle).to_have_text(ui("Assignment on", locale))
    assert held(app, service_id) == {"bob": 3, "ann": 2}
    ann.reload()
    expect(ann.locator("#my-tickets li")).to_have_count(2)
    expect(ann.locator("[data-figure=unassigned]")).to_have_text("0")
    shot(ann, f"assignment-flow-workspace-{locale}")
    board.reload()
    expect(ann_row.locator("td.assignment")).to_contain_text(ui("On", locale))
    expect(ann_row.locator(".load")).to_have_text("2 / 10")

    # Off "until" an hour from now, and the hour passes (a fake clock): the sweep turns it back on by itself.
    with app.app_context():
        member = db.session.get(Member, desk["ann"].id)
        now = datetime.now(ZoneInfo("UTC"))
        assignment.switch(Actor(member.organization_id, member.id), member, False, until=now + timedelta(hours=1))
        db.session.commit()
    ann.reload()
    expect(ann.locator(".topbar #assignment-switch").get_by_role("switch")).to_have_text(
        ui("Assignment off", locale))
    with app.app_context():
        assert assignment.back_on_due(now=now + timedelta(minutes=30)) == []  # not yet
        assert assignment.back_on_due(now=now + timedelta(hours=1, minutes=1)) == [desk["ann"].id]
        db.session.commit()
    ann.reload()
    expect(ann.locator(".topbar #assignment-switch").get_by_role("switch")).to_have_text(
        ui("Assignment on", locale))
    board.reload()
    expect(ann_row.locator("td.assignment")).not_to_contain_text(ui("Off", locale))
    agent.close()
    supervisor.close()
