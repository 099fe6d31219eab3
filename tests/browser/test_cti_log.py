"""CTI log download (/me/cti-logs) in a real browser: a range the server refuses says why at the field (it used
to be cleared as soon as it arrived, so the button just seemed dead), in Korean and in English, also at phone
width; the next good request clears it; and the account menu offers the page only to those who may use it."""
from __future__ import annotations

from datetime import date, timedelta

import pytest
from playwright.sync_api import Page, expect

from tests.browser.test_smoke import log_in


def account_menu_link(page: Page):
    return page.locator("details.account-menu a[href$='/me/cti-logs']")


def ask_for(page: Page, first: date, last: date) -> None:
    page.locator("#log-from").fill(first.isoformat())
    page.locator("#log-to").fill(last.isoformat())
    page.locator("#log-form button[type=submit]").click()


def expect_error_at(page: Page, field: str, message: str) -> None:
    """The message is under that field, tied to it for screen readers, and stays there."""
    box = page.locator(f"#log-{field}")
    error = page.locator(f"#log-{field}-error")
    expect(error).to_have_text(message)
    expect(error).to_be_visible()
    expect(box).to_have_attribute("aria-invalid", "true")
    expect(box).to_have_attribute("aria-describedby", f"log-{field}-error")
    page.wait_for_timeout(300)  # what cleared it before did so right after the answer arrived
    expect(error).to_have_text(message)


@pytest.mark.parametrize("locale", ["ko", "en"])
def test_a_refused_range_says_why_at_the_field_until_a_good_one_is_asked(page: Page, live_server, demo, ui, shot,
                                                                          axe_check, locale):
    log_in(page, live_server, demo, "admin")
    if locale == "en":
        page.get_by_role("button", name="English").click()
        expect(page.locator("html")).to_have_attribute("lang", "en")
    page.goto(f"{live_server}/me/cti-logs")
    page.evaluate("window.__noReload = true")
    start = date(2026, 1, 1)

    ask_for(page, start, start + timedelta(days=40))
    expect_error_at(page, "to", ui("Download at most %(n)d days at a time.", locale, n=31))
    expect(page.locator("#exports li")).to_have_count(0)
    axe_check(page, f"CTI log range error ({locale})")
    shot(page, f"cti-log-range-too-long-{locale}")

    ask_for(page, start + timedelta(days=5), start)
    expect_error_at(page, "from", ui("The first day must not be after the last.", locale))
    expect(page.locator("#log-to-error")).to_have_count(0)
    expect(page.locator("#log-to")).not_to_have_attribute("aria-invalid", "true")
    expect(page.locator("#log-from")).to_have_value((start + timedelta(days=5)).isoformat())  # kept as typed

    page.set_viewport_size({"width": 390, "height": 844})
    expect(page.locator("#log-from-error")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    shot(page, f"cti-log-reversed-390-{locale}")
    page.set_viewport_size({"width": 1280, "height": 800})

    ask_for(page, start, start + timedelta(days=1))
    expect(page.locator("#exports li")).to_have_count(1)
    expect(page.locator("#log-form .field-error:not(:empty)")).to_have_count(0)
    expect(page.locator("#log-from")).not_to_have_attribute("aria-invalid", "true")
    assert page.evaluate("window.__noReload === true"), "the page was reloaded"
    shot(page, f"cti-log-accepted-{locale}")


def test_without_javascript_the_error_is_at_the_field_too(browser, live_server, demo, ui):
    context = browser.new_context(java_script_enabled=False, locale="ko-KR")
    page = context.new_page()
    try:
        log_in(page, live_server, demo, "admin")
        page.goto(f"{live_server}/me/cti-logs")
        ask_for(page, date(2026, 3, 1), date(2026, 5, 1))
        expect(page.locator("#log-to-error")).to_have_text(ui("Download at most %(n)d days at a time.", n=31))
        expect(page.locator("#log-to")).to_have_value("2026-05-01")
    finally:
        context.close()


def test_the_account_menu_offers_the_cti_log_only_to_those_who_may_download_it(page: Page, live_server, demo, shot):
    for login, offered in (("agent", False), ("manager", True), ("admin", True)):
        page.context.clear_cookies()
        log_in(page, live_server, demo, login)
        expect(page.locator("details.account-menu summary")).to_be_visible()
        page.locator("details.account-menu summary").click()
        expect(page.locator("details.account-menu ul")).to_be_visible()
        expect(account_menu_link(page)).to_have_count(1 if offered else 0)
        if login == "agent":
            shot(page, "cti-log-agent-menu-ko")
