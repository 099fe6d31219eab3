"""CTI settings (/admin/cti) in a real browser: the Mobile Contact version follows its activation switch at once,
and switching activation off while Mobile Contact is the version asks first and says what happens, in Korean and
in English, with and without JavaScript."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser.test_smoke import log_in

URL = "/admin/cti?service=support"


def activation(page: Page):
    return page.locator("#setting-mobile_activated button[role=switch]")


def mobile_version(page: Page):
    return page.locator('input[name=version][value="mobile"]')


def question(page: Page):
    return page.locator("#setting-mobile_activated .setting-question[role=alert]")


@pytest.mark.parametrize("locale", ["ko", "en"])
def test_the_mobile_contact_version_follows_its_activation_and_switching_off_asks(page: Page, live_server, demo,
                                                                                 ui, shot, axe_check, locale):
    log_in(page, live_server, demo, "admin")
    if locale == "en":
        page.get_by_role("button", name="English").click()
        expect(page.locator("html")).to_have_attribute("lang", "en")
    page.goto(live_server + URL)
    expect(activation(page)).to_have_attribute("aria-checked", "false")
    expect(mobile_version(page)).to_be_disabled()
    page.evaluate("window.__noReload = true")

    activation(page).click()
    expect(activation(page)).to_have_attribute("aria-checked", "true")
    expect(mobile_version(page)).to_be_enabled()  # at once, not after a reload
    expect(page.locator("#mobile-hint")).to_have_count(0)
    assert page.evaluate("window.__noReload === true")

    mobile_version(page).check()
    page.locator("#tenant_id").fill("tenant-01")
    page.locator("#tenant_name").fill("Demo tenant")
    page.locator("form:has(#tenant_id) button[type=submit]").click()
    expect(page.locator("#flashes .flash-success")).to_be_visible()
    expect(mobile_version(page)).to_be_checked()
    page.evaluate("window.__noReload = true")

    # Off while Mobile Contact is the version: the row asks and says what happens; nothing changed yet.
    activation(page).click()
    expect(question(page)).to_contain_text(ui(
        "Mobile Contact is the CTI version of %(name)s. Switching its activation off removes that version: "
        "%(name)s has no CTI version until you choose one and save.", locale, name="고객지원센터"))
    expect(activation(page)).to_have_attribute("aria-checked", "true")
    expect(mobile_version(page)).to_be_checked()
    axe_check(page, f"CTI settings asking before Mobile Contact goes off ({locale})")
    shot(page, f"cti-mobile-off-asks-{locale}")

    question(page).get_by_role("button", name=ui("Keep it on", locale)).click()
    expect(question(page)).to_have_count(0)
    expect(activation(page)).to_have_attribute("aria-checked", "true")
    expect(mobile_version(page)).to_be_checked()

    activation(page).click()
    question(page).get_by_role("button", name=ui("Switch off and remove the version", locale)).click()
    expect(question(page)).to_have_count(0)
    expect(activation(page)).to_have_attribute("aria-checked", "false")
    expect(mobile_version(page)).to_be_disabled()
    expect(mobile_version(page)).not_to_be_checked()
    expect(page.locator("#no-version")).to_have_text(ui("No CTI version is chosen yet: choose one and save.", locale))
    assert page.evaluate("window.__noReload === true"), "the page was reloaded"
    shot(page, f"cti-mobile-off-removed-{locale}")

    page.reload()
    expect(activation(page)).to_have_attribute("aria-checked", "false")
    expect(page.locator("input[name=version]:checked")).to_have_count(0)
    expect(page.locator("#no-version")).to_be_visible()


def test_without_javascript_switching_off_asks_on_the_page(browser, live_server, demo, ui):
    context = browser.new_context(java_script_enabled=False, locale="ko-KR")
    page = context.new_page()
    try:
        log_in(page, live_server, demo, "admin")
        page.goto(live_server + URL)
        activation(page).click()
        expect(activation(page)).to_have_attribute("aria-checked", "true")
        expect(mobile_version(page)).to_be_enabled()
        mobile_version(page).check()
        page.locator("form:has(#tenant_id) button[type=submit]").click()
        expect(mobile_version(page)).to_be_checked()

        activation(page).click()
        expect(question(page)).to_be_visible()
        expect(activation(page)).to_have_attribute("aria-checked", "true")
        question(page).get_by_role("button", name=ui("Switch off and remove the version")).click()
        expect(page).to_have_url(re.compile(r"/admin/cti\?service=support$"))
        expect(activation(page)).to_have_attribute("aria-checked", "false")
        expect(page.locator("input[name=version]:checked")).to_have_count(0)
    finally:
        context.close()
