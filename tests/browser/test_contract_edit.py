"""The contract page (/admin/services/<id>/contract) in a real browser, as the demo org admin: ticking a feature
keeps the estimate and starts it at a sensible quantity, Recalculate without JavaScript, registering is not a
modification, and the lock notice and the refusal name the same moment in the service's time zone."""
from __future__ import annotations

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Page, expect

from tests.browser.test_contracts import LIST_URL, contract_link, won, won_value
from tests.browser.test_smoke import log_in

BUGS_TOTAL = 3 * 20_000 + 3 * 15_000 + 50_000  # the demo's bugs contract: 3 seats, 3 ticket management, e-mail
SEOUL = "Asia/Seoul"
WHEN = re.compile(r"(\d{4}-\d{2}-\d{2} \d{2}:\d{2}) \(([A-Za-z_/]+)\)")


@pytest.fixture
def admin(page: Page, live_server, demo) -> Page:
    log_in(page, live_server, demo, "admin")
    expect(page).to_have_url(LIST_URL)
    return page


def english(page: Page) -> None:
    page.get_by_role("button", name="English").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")


def tomorrow_midnight(zone: str) -> str:
    return (datetime.now(ZoneInfo(zone)) + timedelta(days=1)).strftime("%Y-%m-%d 00:00")


def submit(page: Page):
    return page.locator(".estimate-card button[type=submit].btn-primary")


@pytest.mark.parametrize("locale", ["ko", "en"])
def test_ticking_a_feature_starts_it_at_one_and_the_estimate_stays(admin: Page, live_server, shot, axe_check,
                                                                    locale):
    page = admin
    if locale == "en":
        english(page)
    page.goto(f"{live_server}/admin/services/bugs/contract")
    expect(page.locator("#estimate-total")).to_have_text(won(BUGS_TOTAL))

    page.locator('input[name="use.chat.basic"]').check()
    expect(page.locator('input[name="qty.chat.basic"]')).to_have_value("1")
    expect(page.locator("#estimate-total")).to_have_text(won(BUGS_TOTAL + 18_000))
    expect(page.locator("#estimate-difference")).to_have_text("+" + won(18_000))
    expect(page.locator("#estimate .field-error, #estimate .error-list")).to_have_count(0)
    expect(page.locator("tr.has-error")).to_have_count(0)

    page.locator('input[name="qty.chat.basic"]').fill("3")
    expect(page.locator("#estimate-total")).to_have_text(won(BUGS_TOTAL + 3 * 18_000))
    axe_check(page, f"contract estimate after ticking a feature ({locale})")
    shot(page, f"contract-tick-feature-{locale}")

    page.set_viewport_size({"width": 390, "height": 844})
    page.locator('input[name="use.ticket.phone_cti"]').check()
    expect(page.locator('input[name="qty.ticket.phone_cti"]')).to_have_value("1")
    expect(page.locator("#estimate-total")).to_have_text(won(BUGS_TOTAL + 3 * 18_000 + 25_000))
    shot(page, f"contract-tick-feature-390-{locale}")


def test_without_javascript_recalculate_shows_the_estimate_and_signs_nothing(browser, live_server, demo, ui):
    context = browser.new_context(java_script_enabled=False, locale="ko-KR")
    page = context.new_page()
    try:
        log_in(page, live_server, demo, "admin")
        page.goto(f"{live_server}/admin/services/bugs/contract")
        page.locator('input[name="use.chat.basic"]').check()
        page.get_by_role("button", name=ui("Recalculate")).click()
        expect(page).to_have_url(re.compile(r"/admin/services/bugs/contract$"))
        expect(page.locator('input[name="use.chat.basic"]')).to_be_checked()
        expect(page.locator('input[name="qty.chat.basic"]')).to_have_value("1")
        expect(page.locator("#estimate-total")).to_have_text(won(BUGS_TOTAL + 18_000))

        page.locator('input[name="qty.chat.basic"]').fill("4")
        page.get_by_role("button", name=ui("Recalculate")).click()
        expect(page.locator("#estimate-total")).to_have_text(won(BUGS_TOTAL + 4 * 18_000))

        page.goto(f"{live_server}/admin/services")
        expect(page.locator("tr#service-bugs")).to_contain_text(won(BUGS_TOTAL))  # nothing was signed
    finally:
        context.close()


@pytest.mark.parametrize("locale", ["ko", "en"])
def test_a_contract_registered_today_can_be_modified_once_today(admin: Page, live_server, shot, ui, locale):
    page = admin
    if locale == "en":
        english(page)
    rule = ui("Contract details can be modified once a day (%(tz)s). Registering the first contract is not a "
              "modification: a contract registered today can still be modified once today.", locale, tz=SEOUL)
    page.goto(f"{live_server}/admin/services/events/contract")  # the demo's draft: step 2 of the wizard
    page.locator('input[name="qty.base.seat"]').fill("2")
    expect(page.locator("#estimate-total")).to_have_text(won(40_000))
    submit(page).click()
    expect(page).to_have_url(LIST_URL)

    contract_link(page, "events").click()  # registered (등록) today: the one modification (수정) is still open
    expect(page.locator(".alert-warn")).to_have_count(0)
    expect(submit(page)).to_be_enabled()
    expect(page.locator("#modify-rule")).to_have_text(rule)  # and the page says so
    shot(page, f"contract-registered-today-{locale}")
    page.locator('input[name="qty.base.seat"]').fill("3")
    expect(page.locator("#estimate-total")).to_have_text(won(60_000))
    submit(page).click()
    expect(page).to_have_url(LIST_URL)
    expect(page.locator("tr#service-events")).to_contain_text(won(60_000))

    contract_link(page, "events").click()
    expect(page.locator(".alert-warn")).to_contain_text(f"{tomorrow_midnight(SEOUL)} ({SEOUL})")
    expect(submit(page)).to_be_disabled()
    shot(page, f"contract-modified-today-{locale}")


def test_the_lock_notice_and_the_refusal_name_the_same_moment_in_the_services_zone(admin: Page, live_server,
                                                                                     shot):
    page = admin
    page.goto(f"{live_server}/admin/services/support/contract")
    other = page.context.new_page()  # a second tab, opened before the first one saves
    other.goto(f"{live_server}/admin/services/support/contract")
    expect(submit(other)).to_be_enabled()

    page.locator('input[name="qty.base.seat"]').fill("13")
    submit(page).click()
    expect(page).to_have_url(LIST_URL)

    other.locator('input[name="qty.base.seat"]').fill("14")
    submit(other).click()
    refusal = other.locator(".alert-error[role=alert]")
    expect(refusal).to_be_visible()
    said = WHEN.search(refusal.inner_text())
    assert said and said.groups() == (tomorrow_midnight(SEOUL), SEOUL), refusal.inner_text()
    shot(other, "contract-second-modification-refused-ko")

    other.goto(f"{live_server}/admin/services/support/contract")
    notice = other.locator(".alert-warn")
    said = WHEN.search(notice.inner_text())
    assert said and said.groups() == (tomorrow_midnight(SEOUL), SEOUL), notice.inner_text()
    other.close()
