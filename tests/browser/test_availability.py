"""Availability in a real browser: an agent switches chat and phone state from the top bar in one click each and
watches My performance count live in the dialog while a second tab changes state; closing the dialog stops its
polling, a past day does not poll, and the day exports to .xlsx. A service manager watches the supervisor board
follow an agent live and sets the agent's state, a reason required.

Elements are found by id, name, role, URL or CSS hook; where a visible text matters it is taken from the app's
own Korean (or English) catalog through `ui`, so the tests follow the translations."""
from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from openpyxl import load_workbook
from playwright.sync_api import Browser, Page, expect

from portal.services.performance import CHAT_SHOWN, PHONE_SHOWN
from tests.browser.test_smoke import log_in

AGENT_LOGIN, AGENT_NAME = "agent", "이상담"  # support: ticket, chat and phone, CTI credentials agent01 / 7001
MANAGER_LOGIN = "manager"  # 김매니저, service manager of support
SERVICE_KEY, SERVICE_NAME = "support", "고객지원센터"
# Live panels poll every 5 s; on a loaded machine a poll and its render can take several seconds more.
SLOW = 15_000
# Long enough to see at least one poll of a 5 s timer if one were still running.
QUIET_MS = 7_000
CLOCK = re.compile(r"^\d+:\d{2}:\d{2}$")
ZERO = "0:00:00"


def service_today(app) -> date:
    from portal.extensions import db
    from portal.models import Service

    with app.app_context():
        zone = db.session.query(Service.time_zone).filter_by(service_key=SERVICE_KEY).scalar()
    return datetime.now(ZoneInfo(zone)).date()


def mark_page(page: Page) -> None:
    """Leave a marker in the window: it survives htmx swaps but not a full page load."""
    page.evaluate("window.__noReload = true")


def assert_not_reloaded(page: Page) -> None:
    assert page.evaluate("window.__noReload === true"), "the page was reloaded"


def state_menu(page: Page, channel: str):
    return page.locator(f"#agent-states details.state-menu:has(input[name=channel][value={channel}])")


def expect_top_bar_state(page: Page, ui, channel: str, state: str, locale: str = "ko") -> None:
    channel_text, state_text = ui(channel.capitalize(), locale), ui(state, locale)
    summary = state_menu(page, channel).locator("summary")
    expect(summary).to_have_text(f"{channel_text} · {state_text}", timeout=SLOW)
    expect(summary).to_have_attribute(
        "aria-label", ui("%(channel)s state: %(state)s", locale, channel=channel_text, state=state_text))


def pick_state(page: Page, ui, channel: str, state: str) -> None:
    """One click to open the channel's menu, one to pick: the top bar comes back re-rendered by htmx (the
    widget's polls leave it alone, so an open menu stays open)."""
    before = page.locator("#agent-states").element_handle()
    menu = state_menu(page, channel)
    summary = menu.locator("summary")
    summary.click()
    menu.get_by_role("button", name=ui(state), exact=True).click()
    expect(summary).to_have_text(f"{ui(channel.capitalize())} · {ui(state)}", timeout=SLOW)
    expect_top_bar_state(page, ui, channel, state)
    expect(page.locator("#agent-states details[open]")).to_have_count(0)
    expect(page.locator("#agent-states .state-error")).to_have_count(0)
    assert not before.evaluate("el => el.isConnected"), "the top bar's states were not re-rendered"


def open_performance(page: Page, ui, locale: str = "ko"):
    page.locator("details.account-menu summary").click()
    page.locator("details.account-menu a[href='/me/performance']").click()
    dialog = page.locator("dialog#dialog")
    expect(dialog).to_be_visible()
    expect(dialog.locator("h1#dialog-title")).to_have_text(ui("My performance", locale))
    return dialog


def figure(dialog, name: str):
    return dialog.locator(f"#performance-body [data-figure='{name}']")


def read_xlsx(download, tmp_path):
    path = tmp_path / download.suggested_filename
    download.save_as(path)
    workbook = load_workbook(path, read_only=True)
    return {sheet.title: [list(row) for row in sheet.iter_rows(values_only=True)] for sheet in workbook.worksheets}


def phone_widget_button(page: Page, label: str):
    return page.locator("aside.phone-widget #phone-panel").get_by_role("button", name=label, exact=True)


# -- 1. the agent: top bar states and My performance, live -----------------------------------------------------

def test_agent_switches_states_in_one_click_and_my_performance_counts_live_until_closed(
        page: Page, live_server, demo, app, shot, axe_check, ui, tmp_path):
    log_in(page, live_server, demo, AGENT_LOGIN)
    expect(page).to_have_url(re.compile(rf"/workspace/{SERVICE_KEY}$"))
    expect_top_bar_state(page, ui, "phone", "Offline")
    expect_top_bar_state(page, ui, "chat", "Offline")
    mark_page(page)

    # Chat 오프라인 → 대기 and phone → 휴식, one pick each, no page load.
    pick_state(page, ui, "chat", "Waiting")
    state_menu(page, "phone").locator("summary").click()
    expect(state_menu(page, "phone").get_by_role("button")).to_have_count(10)
    expect(state_menu(page, "phone").locator("button[aria-current=true]")).to_have_text(ui("Offline"))
    shot(page, "availability-top-bar-menu-ko")
    state_menu(page, "phone").locator("summary").click()  # closed again: pick_state opens it
    pick_state(page, ui, "phone", "Break")
    expect_top_bar_state(page, ui, "chat", "Waiting")
    assert_not_reloaded(page)
    shot(page, "availability-top-bar-ko")

    polls: list[str] = []
    page.on("request", lambda request: polls.append(request.url)
            if "/me/performance?" in request.url and "part=body" in request.url else None)

    # My performance opens in the dialog with the day's figures, live.
    today = service_today(app)
    dialog = open_performance(page, ui)
    expect(dialog.locator("#performance-day")).to_have_value(today.isoformat())
    body = dialog.locator("#performance-body")
    expect(body).to_have_attribute("hx-trigger", "every 5s")
    names = ["unassigned", "in_progress", "resolved", "completed", "calls-IB", "calls-OB", "talk-IB", "talk-OB",
             *(f"phone-{s}" for s in PHONE_SHOWN), *(f"chat-{s}" for s in CHAT_SHOWN)]
    for name in names:
        expect(figure(dialog, name)).to_have_count(1)
    expect(body.locator("[data-figure]")).to_have_count(len(names))
    for name in ("phone-ready", "chat-online", "talk-IB"):
        expect(figure(dialog, name)).to_have_text(ZERO)
    expect(figure(dialog, "calls-IB")).to_have_text("0")
    expect(figure(dialog, "chat-waiting")).to_have_text(CLOCK)
    # The open intervals count up with every poll, without a page load.
    expect(figure(dialog, "chat-waiting")).not_to_have_text(ZERO, timeout=SLOW)
    expect(figure(dialog, "phone-break")).not_to_have_text(ZERO, timeout=SLOW)
    axe_check(page, "My performance dialog (ko)")
    shot(page, "my-performance-ko")

    # The same agent in a second tab: chat 온라인 from the top bar, phone back to ready from the widget (a CTI
    # event). The open dialog in the first tab shows both within a poll or two.
    second = page.context.new_page()
    second.goto(f"{live_server}/workspace/{SERVICE_KEY}")
    expect_top_bar_state(second, ui, "phone", "Break")
    pick_state(second, ui, "chat", "Online")
    phone_widget_button(second, ui("Back to ready")).click()
    expect(second.locator("aside.phone-widget #phone-panel .phone-state strong")).to_have_text(
        ui("Ready"), timeout=SLOW)
    expect_top_bar_state(second, ui, "phone", "Ready")  # the widget keeps the top bar in step
    second.close()
    page.bring_to_front()
    expect(figure(dialog, "chat-online")).not_to_have_text(ZERO, timeout=SLOW)
    expect(figure(dialog, "phone-ready")).not_to_have_text(ZERO, timeout=SLOW)
    expect(dialog).to_be_visible()
    assert_not_reloaded(page)
    assert polls, "the dialog's body never polled"

    # The day exports as .xlsx: the figures, then every state interval of the day, oldest first per channel.
    with page.expect_download() as info:
        dialog.get_by_role("link", name=ui("Export my day (.xlsx)")).click()
    download = info.value
    assert download.suggested_filename == f"my-performance-{SERVICE_KEY}-{today:%Y%m%d}.xlsx"
    sheets = read_xlsx(download, tmp_path)
    assert list(sheets) == [ui("My performance"), ui("States"), ui("Calls")]
    summary = {row[0]: row[1:] for row in sheets[ui("My performance")] if row and row[0]}
    assert summary[ui("Service")][0] == SERVICE_NAME
    assert summary[ui("Day")][0] == today.isoformat()
    assert summary[ui("Agent")][0] == f"{AGENT_NAME} ({AGENT_LOGIN})"
    states = sheets[ui("States")]
    assert states[0][:2] == [ui("Channel"), ui("Agent state")]
    assert [tuple(row[:2]) for row in states[1:]] == [
        (ui("Phone"), ui("Break")), (ui("Phone"), ui("Ready")), (ui("Chat"), ui("Waiting")), (ui("Chat"), ui("Online"))], states
    assert all(row[2] for row in states[1:]), "an interval without its start"
    assert [bool(row[3]) for row in states[1:]] == [True, False, True, False], "only the current states are open"
    assert sheets[ui("Calls")][1:] == []

    # Closing the dialog empties it, and nothing polls any more.
    dialog.get_by_role("button", name=ui("Close"), exact=True).click()
    expect(dialog).to_be_hidden()
    expect(page.locator("#dialog-content")).to_be_empty()
    page.wait_for_timeout(500)  # a poll that left just before the close is reported late
    seen = len(polls)
    page.wait_for_timeout(QUIET_MS)  # observing that nothing happens: no event to wait for
    assert polls[seen:] == [], f"the closed dialog still polls: {polls[seen:]}"

    # A past day from the date picker: the figures of that day, no polling, and its own export.
    yesterday = today - timedelta(days=1)
    dialog = open_performance(page, ui)
    root = dialog.locator("#performance-root").element_handle()
    dialog.locator("#performance-day").fill(yesterday.isoformat())
    expect(dialog.locator("#performance-day")).to_have_value(yesterday.isoformat())
    expect(body).to_contain_text(yesterday.isoformat())
    assert not root.evaluate("el => el.isConnected"), "the dialog was not re-rendered for the day"
    expect(dialog.locator("#performance-body:not([hx-trigger]):not([hx-get])")).to_have_count(1)
    for name in ("phone-break", "phone-ready", "chat-waiting", "chat-online"):
        expect(figure(dialog, name)).to_have_text(ZERO)
    with page.expect_download() as info:
        dialog.get_by_role("link", name=ui("Export my day (.xlsx)")).click()
    download = info.value
    assert download.suggested_filename == f"my-performance-{SERVICE_KEY}-{yesterday:%Y%m%d}.xlsx"
    sheets = read_xlsx(download, tmp_path)
    summary = {row[0]: row[1:] for row in sheets[ui("My performance")] if row and row[0]}
    assert summary[ui("Day")][0] == yesterday.isoformat()
    assert sheets[ui("States")][1:] == [], "intervals of today in yesterday's export"
    dialog.get_by_role("button", name=ui("Close"), exact=True).click()
    expect(dialog).to_be_hidden()
    assert_not_reloaded(page)

    # The dialog in English.
    page.get_by_role("button", name="English").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect_top_bar_state(page, ui, "chat", "Online", "en")
    dialog = open_performance(page, ui, "en")
    expect(dialog.locator("#performance-body")).to_contain_text(ui("Phone states", "en"))
    expect(dialog.get_by_role("link", name=ui("Export my day (.xlsx)", "en"))).to_be_visible()
    expect(figure(dialog, "chat-online")).not_to_have_text(ZERO)
    shot(page, "my-performance-en")


# -- 2. the supervisor board ---------------------------------------------------------------------------------

def board_row(page: Page, login_id: str):
    return page.locator("table#board tbody tr").filter(
        has=page.locator("th .muted", has_text=re.compile(f"^{re.escape(login_id)}$")))


def test_supervisor_board_follows_an_agent_live_and_sets_a_state_with_a_reason(
        page: Page, browser: Browser, live_server, demo, shot, axe_check, ui):
    log_in(page, live_server, demo, MANAGER_LOGIN)
    expect(page).to_have_url(re.compile(rf"/workspace/{SERVICE_KEY}$"))
    page.locator("#main").get_by_role("link", name=ui("Supervisor board"), exact=True).click()  # the page's button
    expect(page).to_have_url(re.compile(rf"/services/{SERVICE_KEY}/board$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text(ui("Supervisor board"))

    rows = page.locator("table#board tbody tr")
    for login_id in (MANAGER_LOGIN, AGENT_LOGIN, "agent2", "agent3"):
        expect(board_row(page, login_id)).to_have_count(1)
    row = board_row(page, AGENT_LOGIN)
    expect(row.locator("th")).to_contain_text(AGENT_NAME)
    phone_cell, chat_cell, eligible_cell = row.locator("td").nth(0), row.locator("td").nth(1), row.locator("td").nth(3)
    expect(phone_cell).to_have_text(ui("Offline"))
    expect(chat_cell).to_have_text(ui("Offline"))
    expect(eligible_cell).to_have_text(ui("No"))
    expect(board_row(page, "agent2").locator("td").nth(1)).to_have_text("—")  # 박상담 has no chat permission
    mark_page(page)

    # The agent, in a browser of their own, goes to chat 대기: the board shows it within a poll or two.
    context = browser.new_context(locale="ko-KR", viewport={"width": 1280, "height": 800})
    try:
        agent = context.new_page()
        log_in(agent, live_server, demo, AGENT_LOGIN)
        expect(agent).to_have_url(re.compile(rf"/workspace/{SERVICE_KEY}$"))
        pick_state(agent, ui, "chat", "Waiting")

        expect(chat_cell.locator(".state-pill")).to_have_text(ui("Waiting"), timeout=SLOW)
        expect(chat_cell.locator("time.timer")).to_have_text(re.compile(r"^\d+:\d{2}(:\d{2})?$"))
        expect(eligible_cell).to_have_text(f"{ui('Yes')} · {ui('Chat')}")
        expect(phone_cell).to_have_text(ui("Offline"))
        assert_not_reloaded(page)
        axe_check(page, "supervisor board")
        shot(page, "supervisor-board-ko")

        # Only the eligible agents (이상담, and the demo's agents at work; not the manager, offline), and the
        # filtered rows keep polling with the filter.
        page.locator("#board-state").select_option("eligible")
        expect(page).to_have_url(re.compile(r"/board\?state=eligible&assignment=$"))
        expect(board_row(page, MANAGER_LOGIN)).to_have_count(0)
        expect(board_row(page, AGENT_LOGIN)).to_have_count(1)
        expect(rows.first).to_have_id(re.compile(r"^agent-\d+$"))
        expect(rows.locator("td:nth-of-type(4) .badge-ok")).to_have_count(rows.count())  # each says eligible
        expect(page.locator("#board-rows")).to_have_attribute("hx-get", re.compile(r"state=eligible"))
        page.locator("#board-state").select_option("")
        expect(page).to_have_url(re.compile(r"/board\?state=&assignment=$"))
        expect(board_row(page, MANAGER_LOGIN)).to_have_count(1)
        mark_page(page)

        # Set state: without a reason the dialog says so and keeps the choice; with one, it is done.
        row.get_by_role("link", name=ui("Set state"), exact=True).click()
        dialog = page.locator("dialog#dialog")
        expect(dialog).to_be_visible()
        expect(dialog.locator("h1#dialog-title")).to_have_text(ui("Set the state of %(name)s", name=AGENT_NAME))
        choice = dialog.locator("#sv-state")
        expect(choice.locator("option:checked")).to_have_text(ui("Choose a state"))  # nothing picked for them
        expect(choice.locator("option[value='phone:offline']")).to_have_text(f"{ui('Phone')} · {ui('Offline')} ({ui('now')})")
        expect(choice.locator("option[value='chat:waiting']")).to_have_text(
            f"{ui('Chat')} · {ui('Waiting')} ({ui('now')})")
        expect(choice.locator("option[value='phone:inbound_call']")).to_have_count(0)  # the telephony's
        choice.select_option("phone:break")
        shot(page, "supervisor-set-state-ko")
        dialog.get_by_role("button", name=ui("Set state"), exact=True).click()
        expect(dialog.get_by_role("alert")).to_have_text(ui("Give a reason when you change another agent's state."))
        expect(dialog).to_be_visible()
        expect(choice).to_have_value("phone:break")
        axe_check(page, "set-state dialog with the error")
        shot(page, "supervisor-set-state-error-ko")
        assert_not_reloaded(page)

        reason = "코칭 준비"
        dialog.locator("#sv-reason").fill(reason)
        dialog.get_by_role("button", name=ui("Set state"), exact=True).click()
        expect(page).to_have_url(re.compile(rf"/services/{SERVICE_KEY}/board$"))
        expect(page.locator(".flash-success")).to_contain_text(
            ui("The state of %(name)s is changed.", name=AGENT_NAME))
        expect(dialog).to_be_hidden()
        expect(phone_cell.locator(".state-pill")).to_have_text(ui("Break"))
        expect(phone_cell).to_contain_text(f"· {reason}")
        expect(chat_cell.locator(".state-pill")).to_have_text(ui("Waiting"))
        shot(page, "supervisor-board-after-set-ko")

        # The agent sees it on the next page.
        agent.reload()
        expect_top_bar_state(agent, ui, "phone", "Break")
        expect_top_bar_state(agent, ui, "chat", "Waiting")
    finally:
        context.close()
