"""Members and permissions in a real browser: inviting a member by e-mail and activating the account, adding a
member to a service and flipping a channel (and finding both in the permission change log), granting and
revoking the org admin role through the live search, personal settings in the dialog, and paging the log.

Elements are found by id, name, role, URL or CSS hook; where a visible text matters it is taken from the app's
own Korean (or English) catalog through `ui`, so the tests follow the translations."""
from __future__ import annotations

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from playwright.sync_api import Browser, Page, expect

from tests.browser.test_smoke import log_in

NEW_PASSWORD = "Newbie-pass-2026"


def log_out(page: Page) -> None:
    page.locator("details.account-menu summary").click()
    page.locator("details.account-menu").get_by_role("button", name=re.compile("^(로그아웃|Log out)$")).click()
    expect(page).to_have_url(re.compile(r"/login$"))


def row_of(table, login_id: str):
    """The row of a table whose login-ID cell is exactly `login_id`."""
    return table.locator("tbody tr").filter(has=table.page.locator("code", has_text=re.compile(f"^{login_id}$")))


# -- 1. invitation ---------------------------------------------------------------------------------------------

def test_invited_member_gets_the_mail_sets_a_password_and_logs_in(
        page: Page, browser: Browser, live_server, demo, smtp, shot, axe_check, ui):
    log_in(page, live_server, demo, "admin")
    expect(page).to_have_url(re.compile(r"/admin/services$"))
    page.goto(f"{live_server}/admin/org-admins")
    expect(page.locator("table#org-admins")).to_be_visible()

    page.locator("a[href='/admin/org-admins/invite']").click()
    dialog = page.locator("dialog#dialog")
    expect(dialog).to_be_visible()
    expect(dialog.locator("#name")).to_be_focused()
    axe_check(page, "invite dialog")
    dialog.locator("#name").fill("Kim Newbie")
    dialog.locator("#login_id").fill("newbie01")
    dialog.locator("#email").fill("newbie01@example.com")
    dialog.locator("button.btn-primary").click()

    expect(page).to_have_url(re.compile(r"/admin/org-admins$"))
    expect(page.locator(".flash-success")).to_have_text(
        ui("An invitation was sent to %(email)s.", email="newbie01@example.com"))
    shot(page, "org-admins-invited")
    invited = page.locator("section#invitations tr[id^='invited-']").filter(has_text="newbie01")
    expect(invited).to_have_count(1)
    expect(invited).to_contain_text("Kim Newbie")
    expect(invited).to_contain_text("newbie01@example.com")

    assert len(smtp.messages) == 1, [m["To"] for m in smtp.messages]
    assert smtp.messages[0]["To"] == "newbie01@example.com"
    body = smtp.last_body()
    match = re.search(r"http://127\.0\.0\.1:\d+/invite/[A-Za-z0-9_\-.~%]+", body)
    assert match, body
    link = match.group(0)
    assert link.startswith(f"{live_server}/invite/"), link

    context = browser.new_context(locale="ko-KR", viewport={"width": 1280, "height": 800})
    try:
        newbie = context.new_page()
        newbie.goto(link)
        expect(newbie.locator("h1")).to_have_text(ui("Activate your account"))
        expect(newbie.locator("body")).to_contain_text("newbie01")
        axe_check(newbie, "invitation page")
        shot(newbie, "invitation-page")
        newbie.locator("#password").fill(NEW_PASSWORD)
        newbie.locator("#confirm").fill(NEW_PASSWORD)
        newbie.locator("form button.btn-primary").click()

        expect(newbie).to_have_url(f"{live_server}/")
        expect(newbie.locator(".flash-success")).to_have_text(
            ui("Welcome, %(name)s. Your account is active.", name="Kim Newbie"))
        expect(newbie.locator(".empty-state")).to_contain_text(ui("You are not in any active service yet"))
        expect(newbie.locator("details.account-menu summary")).to_have_text("Kim Newbie")

        log_out(newbie)
        log_in(newbie, live_server, {**demo, "password": NEW_PASSWORD}, "newbie01")
        expect(newbie).to_have_url(f"{live_server}/")
        expect(newbie.locator("details.account-menu summary")).to_have_text("Kim Newbie")

        # The link worked once.
        newbie.goto(link)
        expect(newbie.locator("#password")).to_have_count(0)
    finally:
        context.close()

    # After the invitation was sent, the dialog closed and the org admins page replaced the page: it is not
    # rendered a second time inside the still open dialog.
    expect(page.locator("dialog"), "the redirected page was swapped into the dialog").to_have_count(1)
    expect(page.locator("table#org-admins")).to_have_count(1)
    expect(dialog).not_to_be_visible()

    # No longer a pending invitation.
    page.goto(f"{live_server}/admin/org-admins")
    expect(page.locator("section#invitations tr[id^='invited-']")).to_have_count(0)


# -- 2. service member and the permission log -----------------------------------------------------------------

def test_manager_adds_a_member_flips_a_channel_and_the_log_shows_both(
        page: Page, live_server, demo, shot, axe_check, ui):
    log_in(page, live_server, demo, "manager")
    expect(page).to_have_url(re.compile(r"/workspace/support$"))
    members_url = f"{live_server}/services/support/members"
    page.goto(members_url)
    table = page.locator("table#service-members")
    expect(table).to_be_visible()
    expect(row_of(table, "agent4")).to_have_count(0)
    axe_check(page, "service members")

    page.locator("#search-login").fill("agent4")
    results = page.locator("#search-results table#member-results")
    found = row_of(results, "agent4")
    expect(found).to_have_count(1)
    expect(results.locator("tbody tr")).to_have_count(1)
    found.locator("select[name=role]").select_option("agent")
    found.locator("input[name=ticket]").check()
    found.locator("input[name=chat]").uncheck()
    found.locator("input[name=phone]").check()
    found.locator("button.btn-primary").click()

    expect(page).to_have_url(re.compile(r"/services/support/members$"))
    expect(page.locator(".flash-success")).to_be_visible()
    row = row_of(table, "agent4")
    expect(row).to_have_count(1)
    expect(row).to_have_attribute("id", re.compile(r"^member-\d+$"))
    row_id = row.get_attribute("id")
    member_id = row_id.split("-")[1]
    expect(page.locator(f"#role-{member_id}")).to_have_value("agent")
    switches = row.locator("button.toggle[role=switch]")
    expect(switches).to_have_count(3)
    ticket, chat, phone = switches.nth(0), switches.nth(1), switches.nth(2)
    expect(ticket).to_have_attribute("aria-checked", "true")
    expect(chat).to_have_attribute("aria-checked", "false")
    expect(phone).to_have_attribute("aria-checked", "true")

    # The switch posts via htmx and the row is re-rendered in place: no navigation, same URL.
    page.evaluate("window.__still_here = true")
    old_row = page.locator(f"tr#{row_id}").element_handle()
    chat.click()
    chat_now = page.locator(f"tr#{row_id} button.toggle[role=switch]").nth(1)
    expect(chat_now).to_have_attribute("aria-checked", "true")
    expect(page.locator(f"tr#{row_id} button.toggle[role=switch]").nth(0)).to_have_attribute("aria-checked", "true")
    expect(page.locator(f"tr#{row_id} button.toggle[role=switch]").nth(2)).to_have_attribute("aria-checked", "true")
    expect(page.locator(f"tr#{row_id}")).to_have_count(1)
    assert page.url == members_url
    assert page.evaluate("window.__still_here === true"), "the page navigated instead of swapping the row"
    assert not old_row.evaluate("el => el.isConnected"), "the row was not re-rendered"
    expect(page.locator(f"tr#{row_id} .field-error")).to_have_count(0)
    shot(page, "service-members-after-add")

    log_out(page)
    log_in(page, live_server, demo, "admin")
    expect(page).to_have_url(re.compile(r"/admin/services$"))
    page.goto(f"{live_server}/admin/permission-log?target=agent4")
    expect(page.locator("#log-target")).to_have_value("agent4")

    log = page.locator("table#permission-log")
    rows = log.locator("tbody tr")
    expect(rows).to_have_count(2)  # agent4's earlier changes are 40 days old, outside the default week
    newest, added = rows.nth(0), rows.nth(1)

    def cells(r):  # service, time, operation, target, actor, before, after
        return r.locator("td")

    for r in (newest, added):
        expect(cells(r).nth(0)).to_contain_text("고객지원센터")
        expect(cells(r).nth(3)).to_contain_text("정상담")
        expect(cells(r).nth(3)).to_contain_text("agent4")
        expect(cells(r).nth(4)).to_contain_text("김매니저")
        expect(cells(r).nth(4)).to_contain_text("manager")
    agent, t, c, p = ui("Agent"), ui("Ticket"), ui("Chat"), ui("Phone")
    expect(cells(added).nth(2)).to_have_text(ui("Service member added"))
    expect(cells(added).nth(5)).to_have_text("—")
    expect(cells(added).nth(6)).to_have_text(f"{agent} · {t}, {p}")
    expect(cells(newest).nth(2)).to_have_text(ui("Channel permission changed"))
    expect(cells(newest).nth(5)).to_have_text(f"{agent} · {t}, {p}")
    expect(cells(newest).nth(6)).to_have_text(f"{agent} · {t}, {c}, {p}")
    assert cells(newest).nth(1).inner_text() >= cells(added).nth(1).inner_text()
    axe_check(page, "permission log")
    shot(page, "permission-log-agent4")

    # Searching again with the form as shown (its "To" is now, to the minute) still finds the changes just made.
    page.locator("#log-target").fill("agent4")
    page.locator("form.log-filters button[type=submit]").click()
    expect(page).to_have_url(re.compile(r"[?&]end=.*target=agent4"))
    expect(rows, "changes of the current minute vanish when the form is submitted").to_have_count(2)


# -- 3. org admins: live search, grant, revoke --------------------------------------------------------------

def test_admin_finds_a_member_by_live_search_makes_them_org_admin_and_removes_them(
        page: Page, live_server, demo, shot, axe_check, ui):
    log_in(page, live_server, demo, "admin")
    expect(page).to_have_url(re.compile(r"/admin/services$"))
    page.goto(f"{live_server}/admin/org-admins")
    admins = page.locator("table#org-admins")
    expect(admins.locator("tbody tr")).to_have_count(2)

    page.locator("a[href='/admin/org-admins/add']").click()
    expect(page).to_have_url(re.compile(r"/admin/org-admins/add$"))
    # Typed, not submitted: the results come from the debounced live search.
    page.locator("#search-name").press_sequentially("매니")
    results = page.locator("#search-results table#member-results")
    expect(row_of(results, "manager")).to_have_count(1)
    expect(page).to_have_url(re.compile(r"/admin/org-admins/add$"))
    axe_check(page, "add org admin with results")
    shot(page, "org-admin-live-search")
    row_of(results, "manager").get_by_role("button").click()

    expect(page).to_have_url(re.compile(r"/admin/org-admins$"))
    expect(page.locator(".flash-success")).to_have_text(ui("%(name)s is now an org admin.", name="김매니저"))
    expect(admins.locator("tbody tr[id^='admin-']")).to_have_count(3)
    for login in ("admin", "subadmin", "manager"):
        expect(row_of(admins, login)).to_have_count(1)
    shot(page, "org-admins-three")

    row_of(admins, "manager").locator("a[href*='/revoke']").click()
    dialog = page.locator("dialog#dialog")
    expect(dialog).to_be_visible()
    expect(dialog.locator("#dialog-title")).to_have_text(ui("Remove %(name)s as org admin?", name="김매니저"))
    axe_check(page, "remove org admin dialog")
    dialog.locator("button.btn-danger").click()

    expect(page).to_have_url(re.compile(r"/admin/org-admins$"))
    expect(page.locator(".flash-success")).to_have_text(ui("%(name)s is no longer an org admin.", name="김매니저"))
    expect(admins.locator("tbody tr[id^='admin-']")).to_have_count(2)
    expect(row_of(admins, "manager")).to_have_count(0)
    expect(row_of(admins, "admin")).to_have_count(1)
    expect(row_of(admins, "subadmin")).to_have_count(1)


# -- 4. personal settings -------------------------------------------------------------------------------------

def open_settings(page: Page):
    page.locator("details.account-menu summary").click()
    page.locator("details.account-menu a[href='/me/settings']").click()
    dialog = page.locator("dialog#dialog")
    expect(dialog).to_be_visible()
    expect(dialog.locator("#ui-language-select")).to_be_visible()
    return dialog


def test_personal_settings_switch_language_and_change_password(page: Page, live_server, demo, shot, axe_check, ui):
    log_in(page, live_server, demo, "agent")
    expect(page).to_have_url(re.compile(r"/workspace/support$"))
    expect(page.locator("html")).to_have_attribute("lang", "ko")

    dialog = open_settings(page)
    expect(dialog.locator("#name")).to_have_value("이상담")
    axe_check(page, "personal settings dialog (ko)")
    shot(page, "settings-dialog-ko")
    dialog.locator("#ui-language-select").select_option("en")
    dialog.get_by_role("button", name=ui("Apply")).click()

    # The page behind the dialog comes back in English, where it was, and says so.
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page).to_have_url(re.compile(r"/workspace/support$"))
    expect(page.locator("details.account-menu summary")).to_have_attribute("aria-label", "Account menu")
    expect(page.locator("#flashes .flash-success")).to_have_text(
        ui("The portal is now shown in %(language)s.", "en", language="English"))
    dialog = open_settings(page)
    expect(dialog.get_by_role("heading", name="Change password")).to_be_visible()
    expect(dialog.locator("#ui-language-select")).to_have_value("en")
    dialog.locator("[data-close-dialog]").click()
    # Another page follows the choice.
    page.goto(f"{live_server}/workspace/support")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator("details.account-menu summary")).to_have_attribute("aria-label", "Account menu")
    expect(page.locator("main h1")).to_contain_text("고객지원센터")  # the service's own name stays as it is
    expect(page.locator("main")).to_contain_text("My tickets in progress")

    new_password = "Changed-pass-2027"
    dialog = open_settings(page)
    dialog.locator("#current").fill("not-my-password-9")
    dialog.locator("#new").fill(new_password)
    dialog.locator("#confirm").fill(new_password)
    dialog.get_by_role("button", name="Change password").click()
    error = page.locator("#current-error.field-error")
    expect(error).to_be_visible()
    expect(error).not_to_be_empty()
    expect(page.locator("#current")).to_have_attribute("aria-invalid", "true")
    expect(page.locator(".flash-success")).to_have_count(0)
    expect(page.locator("html")).to_have_attribute("lang", "en")
    shot(page, "settings-wrong-password-en")

    page.locator("#current").fill(demo["password"])
    page.locator("#new").fill(new_password)
    page.locator("#confirm").fill(new_password)
    page.get_by_role("button", name="Change password").click()
    expect(page.locator(".flash-success")).to_have_text(
        ui("Your password is changed. You stay logged in here; other devices are logged out.", "en"))
    expect(page.locator(".field-error")).to_have_count(0)

    log_out(page)
    log_in(page, live_server, demo, "agent")  # the old password no longer works
    expect(page).to_have_url(re.compile(r"/login"))
    expect(page.get_by_role("alert")).to_be_visible()
    log_in(page, live_server, {**demo, "password": new_password}, "agent")
    expect(page).to_have_url(re.compile(r"/workspace/support$"))
    expect(page.locator("html")).to_have_attribute("lang", "en")


# -- 5. permission log paging ---------------------------------------------------------------------------------

def test_permission_log_pages_newest_first(page: Page, live_server, demo, app, shot):
    log_in(page, live_server, demo, "admin")
    expect(page).to_have_url(re.compile(r"/admin/services$"))
    page.goto(f"{live_server}/admin/permission-log")
    zone = ZoneInfo(app.config["BABEL_DEFAULT_TIMEZONE"])
    start = (datetime.now(zone) - timedelta(days=31)).strftime("%Y-%m-%dT%H:%M")
    page.locator("#log-start").fill(start)
    page.locator("form.log-filters button[type=submit]").click()
    expect(page).to_have_url(re.compile(r"start=" + re.escape(start.replace(":", "%3A"))))

    rows = page.locator("table#permission-log tbody tr")
    expect(rows).to_have_count(50)
    older = page.locator("a[rel=next]")
    expect(older).to_be_visible()
    first_page = rows.all_inner_texts()
    times_1 = page.locator("table#permission-log tbody tr td:nth-child(2)").all_inner_texts()
    assert times_1 == sorted(times_1, reverse=True), times_1
    shot(page, "permission-log-page-1")

    older.click()
    expect(page).to_have_url(re.compile(r"cursor="))
    expect(rows.first).not_to_have_text(first_page[0])
    expect(rows).to_have_count(50)  # a few hundred rows: the second page is full too
    second_page = rows.all_inner_texts()
    times_2 = page.locator("table#permission-log tbody tr td:nth-child(2)").all_inner_texts()
    assert times_2 == sorted(times_2, reverse=True), times_2
    assert times_1[-1] >= times_2[0], (times_1[-1], times_2[0])
    assert not set(first_page) & set(second_page), "a row shows on both pages"
    expect(page.locator("#log-start")).to_have_value(start)  # the filter carries over
    expect(page.locator("a[rel=next]")).to_be_visible()
