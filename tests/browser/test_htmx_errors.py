"""An htmx toggle whose page holds a stale CSRF token (the member logged in again in another tab): the row stays
as it was and the page's message area says to reload, in Korean and in English."""
from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.browser.test_smoke import log_in

RELOAD = "Your form expired or was sent from elsewhere. Reload the page and try again."


def log_in_again_elsewhere(page: Page, live_server, demo) -> None:
    """Another tab logs out and in again: the session is new, so the first tab's tokens are stale."""
    other = page.context.new_page()
    other.goto(f"{live_server}/admin/services")
    other.locator("details.account-menu summary").click()
    other.locator("details.account-menu").get_by_role("button", name=re.compile("^(로그아웃|Log out)$")).click()
    expect(other).to_have_url(re.compile(r"/login$"))
    log_in(other, live_server, demo, "admin")
    expect(other).to_have_url(re.compile(r"/admin/services$"))
    other.close()


def switch_of(page: Page, key: str):
    return page.locator(f"table#services tr#service-{key} button.toggle[role=switch]")


def toggle_with_a_stale_token(page: Page, live_server, demo, message: str) -> None:
    switch = switch_of(page, "shop")
    expect(switch).to_have_attribute("aria-checked", "true")
    log_in_again_elsewhere(page, live_server, demo)
    page.evaluate("window.__noReload = true")
    switch.click()
    expect(page.locator("#flashes .flash-error")).to_have_text(message)
    expect(switch).to_have_attribute("aria-checked", "true")  # the row is the same row, untouched
    expect(page.locator("table#services tr#service-shop")).to_have_count(1)
    expect(page.locator(".error-box")).to_have_count(0)
    assert page.evaluate("window.__noReload === true"), "the page was reloaded"


def test_a_toggle_with_a_stale_token_keeps_its_row_and_says_to_reload(page: Page, live_server, demo, ui, shot):
    log_in(page, live_server, demo, "admin")
    expect(page).to_have_url(re.compile(r"/admin/services$"))
    expect(page.locator("#flashes")).to_be_hidden()  # there while empty, but takes no room

    toggle_with_a_stale_token(page, live_server, demo, ui(RELOAD, "ko"))
    shot(page, "stale-token-toggle-ko")
    page.reload()  # as the message says: the toggle works again
    expect(page.locator("#flashes .flash-error")).to_have_count(0)
    switch_of(page, "shop").click()
    expect(switch_of(page, "shop")).to_have_attribute("aria-checked", "false")
    switch_of(page, "shop").click()
    expect(switch_of(page, "shop")).to_have_attribute("aria-checked", "true")

    page.get_by_role("button", name="English").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    toggle_with_a_stale_token(page, live_server, demo, ui(RELOAD, "en"))
    shot(page, "stale-token-toggle-en")
