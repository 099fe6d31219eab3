"""CTI end to end in a real browser: the org admin sets the support desk's CTI up and gives an agent CTI
credentials; the agent logs in to the phone widget, takes a simulated inbound call, hangs up and lands in ticket
work with the call's ticket; the admin downloads the day's CTI log and the .xlsx holds the agent's events. With
after-call bulk state off, the widget asks the agent for the next state instead.

Elements are found by id, name, role, URL or CSS hook; where a visible text matters it is taken from the app's
own Korean (or English) catalog through `ui`, so the tests follow the translations."""
from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

from openpyxl import load_workbook
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import ARTIFACTS
from tests.browser.test_smoke import log_in

# 최상담 works in support without the phone permission, so has no CTI credentials: the test gives both.
AGENT_LOGIN, AGENT_NAME = "agent3", "최상담"
CTI_ID, CTI_NUMBER = "choi01", "7101"
TAKEN_NUMBER = "7001"  # the demo's 이상담 (agent01) has it
CALLER = "010-2345-6789"
VIEWPORT = {"width": 1280, "height": 800}
# A widget click goes through the CTI ingest and several writes; on a loaded machine that takes more than 5 s.
SLOW = 15_000


def log_out(page: Page) -> None:
    page.locator("details.account-menu summary").click()
    page.locator("details.account-menu").get_by_role("button", name=re.compile("^(로그아웃|Log out)$")).click()
    expect(page).to_have_url(re.compile(r"/login$"))


def new_page(browser: Browser, **viewport):
    context = browser.new_context(locale="ko-KR", viewport={**VIEWPORT, **viewport})
    return context, context.new_page()


def switch_of(page: Page, name: str):
    return page.locator(f"#setting-{name} button[role=switch]")


def flip_setting(page: Page, name: str, ui, on: bool) -> None:
    """Click a CTI option's switch and see the row come back re-rendered by htmx (no navigation)."""
    url = page.url
    before = page.locator(f"#setting-{name}").element_handle()
    switch_of(page, name).click()
    expect(switch_of(page, name)).to_have_attribute("aria-checked", "true" if on else "false")
    expect(switch_of(page, name).locator(".toggle-text")).to_have_text(ui("On") if on else ui("Off"))
    expect(page.locator(f"#setting-{name} .field-error")).to_have_count(0)
    assert not before.evaluate("el => el.isConnected"), f"the {name} row was not re-rendered"
    assert page.url == url


def open_cti_settings(page: Page) -> None:
    page.get_by_role("navigation", name=re.compile("전체 관리|Global management")) \
        .locator("a[href='/admin/cti']").click()
    expect(page).to_have_url(re.compile(r"/admin/cti$"))
    page.locator("#cti-service").select_option("support")  # the only service with phone CTI in the demo
    expect(page).to_have_url(re.compile(r"/admin/cti\?service=support$"))
    expect(page.locator("#cti-service")).to_have_value("support")


def phone(page: Page):
    """The widget and its parts."""
    widget = page.locator("aside.phone-widget")
    return widget, widget.locator("#phone-panel"), widget.locator("#phone-summary")


def expect_phone_state(page: Page, ui, state: str, locale: str = "ko") -> None:
    _, panel, summary = phone(page)
    expect(panel.locator(".phone-state strong")).to_have_text(ui(state, locale), timeout=SLOW)
    expect(summary).to_have_text(f"{ui('Phone', locale)} · {ui(state, locale)}", timeout=SLOW)


def panel_button(page: Page, label: str):
    return phone(page)[1].get_by_role("button", name=label, exact=True)


def ring(page: Page, ui, number: str, locale: str = "ko") -> None:
    _, panel, _ = phone(page)
    panel.locator("#phone-number").fill(number)
    panel_button(page, ui("Simulate incoming", locale)).click()
    alert = panel.locator(".phone-call[role=alert]")
    expect(alert).to_contain_text(ui("Incoming call from %(number)s", locale, number=number), timeout=SLOW)
    expect(panel_button(page, ui("Answer", locale))).to_be_visible()


def answer(page: Page, ui, number: str) -> int:
    """Answer the ringing call; returns the number of the ticket the call opened."""
    _, panel, _ = phone(page)
    panel_button(page, ui("Answer")).click()
    expect(panel.locator(".phone-call")).to_contain_text(ui("On a call with %(number)s", number=number), timeout=SLOW)
    expect(panel.locator(".phone-call[role=alert]")).to_have_count(0)
    expect_phone_state(page, ui, "On inbound call")
    link = panel.locator(".phone-call a")
    ticket_text = re.escape(ui("Ticket #%(number)s", number="NUM")).replace("NUM", r"(\d+)")
    expect(link).to_have_text(re.compile(f"^{ticket_text}$"))
    return int(re.fullmatch(ticket_text, link.inner_text()).group(1))


def today_in(app, service_key: str) -> str:
    from portal.extensions import db
    from portal.models import Service

    with app.app_context():
        zone = db.session.query(Service.time_zone).filter_by(service_key=service_key).scalar()
    return datetime.now(ZoneInfo(zone)).date().isoformat()


# -- 1. the whole flow ----------------------------------------------------------------------------------------

def test_admin_sets_up_cti_agent_takes_a_call_and_the_day_log_has_the_events(
        page: Page, browser: Browser, live_server, demo, app, shot, axe_check, ui, tmp_path, work):
    log_in(page, live_server, demo, "admin")
    expect(page).to_have_url(re.compile(r"/admin/services$"))

    # CTI settings: the service, and log monitoring on (the demo has it on: off and on again through htmx).
    open_cti_settings(page)
    expect(page.locator("#label-log_monitoring")).to_have_text(ui("CTI log monitoring"))
    expect(switch_of(page, "log_monitoring")).to_have_attribute("aria-checked", "true")
    expect(switch_of(page, "after_call_bulk")).to_have_attribute("aria-checked", "true")
    flip_setting(page, "log_monitoring", ui, on=False)
    flip_setting(page, "log_monitoring", ui, on=True)
    page.reload()
    expect(switch_of(page, "log_monitoring")).to_have_attribute("aria-checked", "true")
    axe_check(page, "CTI settings")
    shot(page, "cti-settings-ko")

    # The agent gets the phone permission in support (so shows up among the CTI agents) ...
    page.goto(f"{live_server}/services/support/members")
    members = page.locator("table#service-members")
    member_row = members.locator("tbody tr").filter(
        has=page.locator("code", has_text=re.compile(f"^{AGENT_LOGIN}$")))
    expect(member_row).to_have_count(1)
    member_id = member_row.get_attribute("id").split("-")[1]
    phone_switch = page.locator(f"tr#member-{member_id} button.toggle[role=switch]").nth(2)
    expect(phone_switch).to_have_attribute("aria-checked", "false")
    phone_switch.click()
    expect(page.locator(f"tr#member-{member_id} button.toggle[role=switch]").nth(2)).to_have_attribute(
        "aria-checked", "true")

    # ... and CTI credentials on the CTI agents page, by inline edit.
    page.goto(f"{live_server}/admin/cti")
    page.locator("nav.tabs a[href='/admin/cti/agents']").click()
    expect(page).to_have_url(re.compile(r"/admin/cti/agents$"))
    row = page.locator(f"tr#cti-agent-{member_id}")
    expect(row).to_contain_text(AGENT_NAME)
    expect(row.locator("td").nth(2)).to_have_text("—")
    row.locator(f"a[href='/admin/cti/agents/{member_id}/edit']").click()
    cti_id, cti_number = page.locator(f"#cti-id-{member_id}"), page.locator(f"#cti-number-{member_id}")
    expect(cti_id).to_be_focused()
    cti_id.fill(CTI_ID)
    cti_number.fill(TAKEN_NUMBER)
    row.get_by_role("button", name=ui("Save")).click()
    error = page.locator(f"#cti-number-{member_id}-error")  # under the number, which it is about
    expect(error).to_have_text(ui("The CTI number %(value)s is already used by another agent.", value=TAKEN_NUMBER))
    expect(cti_number).to_have_attribute("aria-invalid", "true")
    expect(cti_id).not_to_have_attribute("aria-invalid", "true")
    expect(cti_number).to_have_value(TAKEN_NUMBER)  # what was typed stays for correcting
    shot(page, "cti-agents-duplicate-number")
    cti_number.fill(CTI_NUMBER)
    row.get_by_role("button", name=ui("Save")).click()
    expect(row.locator("input")).to_have_count(0)
    expect(row.locator("td").nth(2)).to_have_text(CTI_ID)
    expect(row.locator("td").nth(3)).to_have_text(CTI_NUMBER)
    expect(error).to_have_count(0)
    page.reload()
    expect(row.locator("td").nth(3)).to_have_text(CTI_NUMBER)
    axe_check(page, "CTI agents")
    log_out(page)

    # The agent, in a browser of their own.
    context, agent = new_page(browser)
    try:
        log_in(agent, live_server, demo, AGENT_LOGIN)
        expect(agent).to_have_url(re.compile(r"/workspace/support$"))
        widget, panel, _summary = phone(agent)
        expect(widget).to_be_visible()
        box = widget.bounding_box()
        right, bottom = box["x"] + box["width"], box["y"] + box["height"]
        assert right > VIEWPORT["width"] - 40 and bottom > VIEWPORT["height"] - 40, f"not at the bottom right: {box}"
        expect(panel.locator(".phone-who")).to_contain_text(CTI_ID)
        expect(panel.locator(".phone-who")).to_contain_text(CTI_NUMBER)
        expect_phone_state(agent, ui, "Offline")

        panel_button(agent, ui("Log in to the phone")).click()
        expect_phone_state(agent, ui, "Ready")
        axe_check(agent, "workspace with the phone widget (ready)")

        ring(agent, ui, CALLER)
        axe_check(agent, "phone widget (ringing)")
        shot(agent, "cti-widget-ringing-ko")

        ticket = answer(agent, ui, CALLER)
        axe_check(agent, "phone widget (on a call)")
        shot(agent, "cti-widget-on-call-ko")

        panel_button(agent, ui("Hang up")).click()
        expect_phone_state(agent, ui, "Ticket work")  # after-call bulk state is on
        expect(panel.locator(".phone-prompt")).to_have_count(0)
        link = panel.get_by_role("link", name=ui("Ticket #%(number)s", number=ticket), exact=True)
        expect(link).to_be_visible()
        shot(agent, "cti-widget-ticket-work-ko")

        # The call's ticket exists, assigned to the agent. The link is clicked once htmx has processed it (as a
        # person would): the tickets page replaces the page, it does not open inside the widget.
        agent.wait_for_function("a => a['htmx-internal-data'] && a['htmx-internal-data'].firstInitCompleted",
                                arg=link.element_handle())
        link.click()
        expect(agent).to_have_url(re.compile(r"/services/support/tickets\?assignee=\d+$"))
        tickets = agent.locator("table#tickets tbody tr")
        expect(tickets).to_have_count(1)
        cells = tickets.first.locator("td")
        expect(cells.nth(0)).to_have_text(str(ticket))
        expect(cells.nth(1)).to_have_text(ui("Call from %(number)s", number=CALLER))
        expect(cells.nth(3).locator("select")).to_have_value(member_id)  # a member of the service may reassign
        expect(cells.nth(3).locator("select option:checked")).to_have_text(AGENT_NAME)
        expect(cells.nth(6)).to_have_text(re.compile(r"web-ib-"))
        expect(agent.locator("table#tickets")).to_have_count(1)
        # Checked at once, not waited for: the widget's next poll would tidy a page swapped into it away.
        assert agent.locator("#phone-panel table#tickets").count() == 0, "the tickets page opened inside the widget"
        assert agent.locator("aside.phone-widget").count() == 1
        expect_phone_state(agent, ui, "Ticket work")  # the widget follows to every page
        shot(agent, "cti-ticket-list-with-widget")
    finally:
        context.close()

    # Support (the org admin) downloads the day's log from the account menu.
    log_in(page, live_server, demo, "admin")
    expect(page).to_have_url(re.compile(r"/admin/services$"))
    page.locator("details.account-menu summary").click()
    page.locator("details.account-menu a[href='/me/cti-logs']").click()
    expect(page).to_have_url(re.compile(r"/me/cti-logs$"))
    today = today_in(app, "support")
    expect(page.locator("#log-service")).to_have_value("support")
    expect(page.locator("#log-from")).to_have_value(today)
    expect(page.locator("#log-to")).to_have_value(today)
    axe_check(page, "CTI log download")
    page.get_by_role("button", name=ui("Download .xlsx")).click()
    export = page.locator("#exports li").first
    expect(export.locator("progress")).to_be_visible()  # built in the background, its progress shown
    with page.expect_download(timeout=SLOW) as info:
        work()  # the worker builds the file; the page's next poll finds it and the download starts by itself
    download = info.value
    day = today.replace("-", "")
    assert download.suggested_filename == f"cti-log-support-{day}-{day}.xlsx"
    path = tmp_path / download.suggested_filename
    download.save_as(path)

    workbook = load_workbook(path, read_only=True)
    rows = [row for sheet in workbook.worksheets for row in sheet.iter_rows(values_only=True)]
    header = rows[0]
    col = {name: header.index(ui(name)) for name in ("CTI ID", "Login ID", "CTI number", "Event", "Counterpart",
                                                     "Call ID", "Event code")}
    mine = [r for r in rows[1:] if r[col["CTI ID"]] == CTI_ID]
    kinds = [r[col["Event code"]] for r in mine]
    assert kinds == ["agent_login", "inbound_ringing", "answered", "hangup"], kinds
    assert [r[col["Event"]] for r in mine] == [ui("Agent login"), ui("Inbound ringing"), ui("Answered"), ui("Hang-up")]
    assert {r[col["Login ID"]] for r in mine} == {AGENT_LOGIN}
    assert {str(r[col["CTI number"]]) for r in mine} == {CTI_NUMBER}
    call_rows = mine[1:]
    assert {r[col["Counterpart"]] for r in call_rows} == {CALLER}
    assert len({r[col["Call ID"]] for r in call_rows}) == 1, [r[col["Call ID"]] for r in call_rows]


# -- 2. after-call prompt -------------------------------------------------------------------------------------

def test_with_after_call_bulk_off_the_widget_asks_the_agent_for_the_next_state(
        page: Page, browser: Browser, live_server, demo, shot, axe_check, ui):
    log_in(page, live_server, demo, "admin")
    expect(page).to_have_url(re.compile(r"/admin/services$"))
    open_cti_settings(page)
    expect(page.locator("#label-after_call_bulk")).to_have_text(ui("After-call bulk state"))
    flip_setting(page, "after_call_bulk", ui, on=False)
    page.reload()
    expect(switch_of(page, "after_call_bulk")).to_have_attribute("aria-checked", "false")

    # 이상담 has CTI credentials from the demo (agent01, 7001).
    context, agent = new_page(browser)
    try:
        log_in(agent, live_server, demo, "agent")
        expect(agent).to_have_url(re.compile(r"/workspace/support$"))
        widget, panel, _summary = phone(agent)
        panel_button(agent, ui("Log in to the phone")).click()
        expect_phone_state(agent, ui, "Ready")
        ring(agent, ui, CALLER)
        ticket = answer(agent, ui, CALLER)
        panel_button(agent, ui("Hang up")).click()

        prompt = panel.get_by_role("group", name=ui("The call has ended. What next?"))
        expect(prompt).to_be_visible(timeout=SLOW)
        expect_phone_state(agent, ui, "Call ended")  # no state is chosen for the agent
        expect(prompt.get_by_role("link", name=ui("Ticket #%(number)s", number=ticket))).to_be_visible()
        choices = prompt.get_by_role("button")
        expect(choices).to_have_text([ui("Ready"), ui("Ticket work"), ui("Break"), ui("Meal")])
        axe_check(agent, "phone widget (after-call prompt)")
        shot(agent, "cti-widget-after-call-prompt-ko")
        prompt.get_by_role("button", name=ui("Break"), exact=True).click()
        expect_phone_state(agent, ui, "Break")
        expect(prompt).to_have_count(0)

        # The widget in English.
        agent.get_by_role("button", name="English").click()
        expect(agent.locator("html")).to_have_attribute("lang", "en")
        expect_phone_state(agent, ui, "Break", "en")
        panel_button(agent, ui("Back to ready", "en")).click()
        expect_phone_state(agent, ui, "Ready", "en")
        ring(agent, ui, "02-555-0100", "en")
        shot(agent, "cti-widget-ringing-en")
        panel_button(agent, ui("Hang up", "en")).click()  # a missed call: no ticket, back to ready
        expect_phone_state(agent, ui, "Ready", "en")

        # On a phone: the whole page, and what the screen shows with the widget on top.
        agent.set_viewport_size({"width": 390, "height": 844})
        agent.get_by_role("button", name="한국어").click()
        expect(agent.locator("html")).to_have_attribute("lang", "ko")
        expect(widget).to_be_visible()
        shot(agent, "cti-widget-phone-390-full")
        agent.screenshot(path=str(ARTIFACTS / "cti-widget-phone-390-screen.png"))
        box = widget.bounding_box()
        assert box["width"] <= 390 and box["height"] < 844 / 2, f"the widget covers too much of a phone: {box}"
    finally:
        context.close()

