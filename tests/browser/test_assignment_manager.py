"""Assignment, the manager's side, in a real browser (issue 17, items 2, 3, 8), in Korean and in English: the
service manager switches an agent's assignment off from the supervisor board (a reason required, said at its
field), sees it on the board with who did it and why, and sets the agent's own capacity inline on the members
page (a refused number said under the field). Screenshots of the board at 390 px and of the members page.

Elements are found by id, name, URL or CSS hook; where a visible text matters it is taken from the app's own
catalog through `ui`, so the test follows the translations."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser.test_smoke import log_in

MANAGER_NAME = "김매니저"
AGENT_LOGIN, AGENT_NAME = "agent2", "박상담"  # support: ticket and phone


def member_id(app, login_id: str) -> int:
    from portal.extensions import db
    from portal.models import Member, Organization

    with app.app_context():
        return db.session.query(Member.id).join(Organization, Organization.id == Member.organization_id).filter(
            Organization.domain == "demo", Member.login_id == login_id).scalar()


@pytest.mark.parametrize("locale", ["ko", "en"])
def test_manager_switches_an_agent_off_on_the_board_and_sets_a_capacity_override(
        page: Page, live_server, demo, app, shot, axe_check, ui, locale):
    agent = member_id(app, AGENT_LOGIN)
    reason = {"ko": "연차 휴가", "en": "annual leave"}[locale]
    log_in(page, live_server, demo, "manager")
    if locale == "en":
        page.get_by_role("button", name="English").click()
        expect(page.locator("html")).to_have_attribute("lang", "en")

    # -- the board: switch the agent off, with a reason --
    page.goto(f"{live_server}/services/support/board")
    row = page.locator(f"tr#agent-{agent}")
    expect(row).to_contain_text(ui("On", locale))
    row.locator("a[href$='/assignment']").click()
    dialog = page.locator("dialog#dialog")
    expect(dialog.locator("#dialog-title")).to_have_text(ui("Assignment of %(name)s", locale, name=AGENT_NAME))
    expect(dialog.locator("input[name=on][value=off]")).to_be_checked()
    axe_check(page, f"assignment dialog ({locale})")
    dialog.locator("button[type=submit]").click()
    expect(dialog.locator("#as-reason-error")).to_have_text(
        ui("Give a reason when you switch another member's assignment.", locale))
    expect(dialog.locator("#as-reason")).to_have_attribute("aria-invalid", "true")
    shot(page, f"assignment-dialog-refused-{locale}")
    dialog.locator("#as-reason").fill(reason)
    dialog.locator("button[type=submit]").click()

    expect(page).to_have_url(re.compile(r"/services/support/board$"))
    expect(page.locator(".flash-success")).to_have_text(ui("Assignment of %(name)s is off.", locale, name=AGENT_NAME))
    row = page.locator(f"tr#agent-{agent}")
    expect(row.locator("td.assignment")).to_contain_text(ui("Off", locale))
    expect(row.locator("td.assignment")).to_contain_text(ui("by %(name)s", locale, name=MANAGER_NAME))
    expect(row.locator("td.assignment")).to_contain_text(reason)
    expect(row).to_contain_text("0 / 10")
    page.locator("#board-assignment").select_option("off")
    expect(page).to_have_url(re.compile(r"assignment=off"))
    expect(page.locator("#board-rows tr[id^='agent-']")).to_have_count(1)
    expect(page.locator(f"tr#agent-{agent}")).to_be_visible()
    axe_check(page, f"board ({locale})")
    shot(page, f"assignment-board-{locale}")
    page.set_viewport_size({"width": 390, "height": 844})
    expect(page.locator(f"tr#agent-{agent}")).to_be_attached()
    shot(page, f"assignment-board-390-{locale}")
    page.set_viewport_size({"width": 1280, "height": 800})

    # -- the members page: the agent's own capacity, inline --
    page.goto(f"{live_server}/services/support/members")
    row = page.locator(f"tr#member-{agent}")
    expect(row.locator("td.assignment")).to_contain_text(reason)
    row.locator("a[href$='/capacity']").click()
    field = page.locator(f"#capacity-{agent}")
    expect(field).to_be_focused()
    field.fill("0")
    page.locator(f"#capacity-form-{agent} button.btn-primary").click()
    expect(page.locator(f"#capacity-{agent}-error")).to_have_text(
        ui("Capacity is a whole number from %(low)d to %(high)d.", locale, low=1, high=999))
    shot(page, f"assignment-capacity-refused-{locale}")
    page.locator(f"#capacity-{agent}").fill("5")
    page.locator(f"#capacity-form-{agent} button.btn-primary").click()
    row = page.locator(f"tr#member-{agent}")
    expect(row).to_contain_text("0 / 5")
    expect(row).to_contain_text(ui("Service: %(n)d", locale, n=10))
    expect(page.locator(f"#capacity-{agent}")).to_have_count(0)
    expect(page.locator("#assignment-settings h2")).to_have_text(ui("Automatic assignment", locale))
    axe_check(page, f"members page ({locale})")
    shot(page, f"assignment-members-{locale}")
    page.set_viewport_size({"width": 390, "height": 844})
    shot(page, f"assignment-members-390-{locale}")
