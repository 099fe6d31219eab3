"""The supervisor board in a real browser (issue 18, item 5): an open board asks every 5 seconds whether anything
changed; nothing changed is a 304 that leaves the rows alone, and a state set elsewhere (the agent's own phone,
a CTI event) shows up in that agent's row alone, swapped out of band, while the other rows stay the same nodes
and their timers keep ticking."""
from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.browser.test_assignment_manager import AGENT_LOGIN, member_id
from tests.browser.test_smoke import log_in


def test_a_state_change_made_elsewhere_shows_up_on_an_open_board(page: Page, live_server, demo, app, ui):  # noqa: F811
    from portal.extensions import db
    from portal.models import Member, Service
    from portal.services import Actor, agent_states

    agent = member_id(app, AGENT_LOGIN)
    polls = []
    page.on("response", lambda r: polls.append((r.status, r.headers.get("hx-reswap")))
            if "part=rows" in r.url else None)
    log_in(page, live_server, demo, "manager")
    page.goto(f"{live_server}/services/support/board")
    row = page.locator(f"tr#agent-{agent}")
    expect(row).to_be_visible()
    other = page.locator("#board-rows tr").filter(has_not=page.locator(f"#agent-{agent}")).first
    other.evaluate("el => { el.dataset.marked = 'kept'; }")  # a node a whole-body swap would throw away
    page.wait_for_function("document.querySelector('#board-rows').dataset.version.length > 0")
    page.wait_for_timeout(5_600)  # one poll with nothing changed
    assert (304, None) in polls
    expect(row).to_be_visible()  # the 304 swapped nothing away

    with app.app_context():  # elsewhere: the agent goes on a break from their own phone widget
        member = db.session.get(Member, agent)
        service = db.session.scalars(db.select(Service).where(Service.service_key == "support",
                                                              Service.organization_id == member.organization_id)).one()
        agent_states.change(Actor(member.organization_id, member.id), member, service, "phone", "break")
        db.session.commit()
    expect(row.locator(".state-break").first).to_be_visible(timeout=12_000)
    expect(row).to_contain_text(ui("Break"))
    assert (200, "none") in polls  # only the changed row came, out of band
    assert other.evaluate("el => el.dataset.marked") == "kept"
    seconds = row.locator("time.timer").first
    first = seconds.text_content()
    page.wait_for_timeout(1_500)
    assert seconds.text_content() != first  # the new row's timer ticks in the browser
