"""The assignment switch in a real browser (issue 17, item 1): an agent turns assignment off until tomorrow in the
personal settings dialog, the top bar says so (in the service's time zone, named), and one click in the top bar
turns it on again. In Korean and English, at 1440 and 390 px."""
from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Page, expect

from tests.browser.test_layout import WIDTHS, boxes, in_language
from tests.browser.test_smoke import log_in


def agent_zone(app) -> str:
    """The time zone of the service the demo agent works in first (members have none of their own)."""
    from portal.extensions import db
    from portal.models import Member
    from portal.services.service_setup import services_of

    with app.app_context():
        agent = db.session.scalars(db.select(Member).filter_by(login_id="agent")).one()
        return services_of(agent)[0].time_zone


@pytest.mark.parametrize("locale", ["ko", "en"])
@pytest.mark.parametrize("width", WIDTHS)
def test_an_agent_turns_assignment_off_until_tomorrow_and_on_with_one_click(page: Page, live_server, demo, app, ui,
                                                                            locale, width, shot):
    page.set_viewport_size({"width": width, "height": 900})
    log_in(page, live_server, demo, "agent")
    if locale == "en":
        in_language(page, "en")
    zone = agent_zone(app)
    switch = page.locator(".topbar #assignment-switch")
    toggle = switch.get_by_role("switch")
    expect(toggle).to_have_text(ui("Assignment on", locale))
    expect(toggle).to_have_attribute("aria-checked", "true")

    page.locator("details.account-menu summary").click()
    page.locator("details.account-menu a[href='/me/settings']").click()
    dialog = page.locator("dialog#dialog")
    expect(dialog).to_be_visible()
    section = dialog.locator("section#assignment")
    expect(section).to_contain_text(ui("In %(zone)s. Empty: off until you turn it on. At most a year ahead.", locale,
                                       zone=zone))
    returning = section.get_by_label(ui("Return my open tickets to the queue", locale))
    expect(returning).to_be_hidden()  # asked only when turning off
    section.locator("input[name=state][value=off]").check()
    expect(returning).to_be_visible()
    tomorrow = datetime.now(ZoneInfo(zone)).date() + timedelta(days=1)
    section.locator("input[name=until]").fill(f"{tomorrow:%Y-%m-%d}T09:00")
    section.locator("input[name=note]").fill(ui("e.g. vacation", locale).split()[-1])
    shot(page, f"assignment-dialog-{locale}-{width}")
    section.locator("button[type=submit]").click()

    expect(dialog).not_to_be_visible()  # the page behind comes back, with the top bar as it now stands
    when = f"{tomorrow:%Y-%m-%d} 09:00"
    expect(page.locator("#flashes .flash-success")).to_have_text(
        ui("Assignment is off until %(when)s (%(zone)s).", locale, when=when, zone=zone))
    expect(toggle).to_have_text(ui("Assignment off", locale))
    expect(toggle).to_have_attribute("aria-checked", "false")
    detail = switch.locator(".assignment-detail")
    expect(detail).to_have_text(ui("until %(when)s (%(zone)s)", locale, when=when, zone=zone))
    for box in boxes(toggle, detail, switch.locator(".assignment-options")):
        assert box["x"] >= 0 and box["x"] + box["width"] <= width, f"the switch goes past the screen: {box}"
    shot(page, f"assignment-off-{locale}-{width}")

    toggle.click()
    expect(toggle).to_have_text(ui("Assignment on", locale))
    expect(toggle).to_have_attribute("aria-checked", "true")
    expect(detail).to_have_count(0)
    page.reload()  # it is in the database, not only on the page
    expect(page.locator(".topbar #assignment-switch").get_by_role("switch")).to_have_text(ui("Assignment on", locale))
    shot(page, f"assignment-on-{locale}-{width}")
