"""Ticket fields (/services/<id>/ticket-fields) in a real browser, as the demo's service manager: deleting a field
says so at once (the message used to wait in the session and show up, stale, on the next page), and saving an
inline edit leaves the page's address without ?edit= (a reload opened the editor again), in Korean and English."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser.test_smoke import log_in

PAGE = "/services/support/ticket-fields"


@pytest.fixture
def manager(page: Page, live_server, demo) -> Page:
    log_in(page, live_server, demo, "manager")
    expect(page).to_have_url(re.compile(r"/workspace/support$"))
    return page


def in_english(page: Page) -> None:
    page.get_by_role("button", name="English").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")


def add_field(page: Page, key: str) -> None:
    form = page.locator("#add-field form")
    form.locator("#f-label_ko").fill("주문 번호")
    form.locator("#f-label_en").fill("Order number")
    form.locator("#f-key").fill(key)
    form.locator("button[type=submit]").click()
    expect(page.locator(f"tr#field-{key}")).to_be_visible()


@pytest.mark.parametrize("locale", ["ko", "en"])
def test_deleting_a_field_says_so_at_once_and_not_again_later(manager: Page, live_server, ui, shot, locale):
    page = manager
    if locale == "en":
        in_english(page)
    page.goto(live_server + PAGE)
    add_field(page, "order_no")
    page.evaluate("window.__noReload = true")

    page.once("dialog", lambda dialog: dialog.accept())
    page.locator("tr#field-order_no form[action$='/delete'] button[type=submit]").click()
    expect(page.locator("tr#field-order_no")).to_have_count(0)
    expect(page.locator("#flashes .flash-success")).to_have_text(
        ui("The field %(key)s is deleted.", locale, key="order_no"))
    assert page.evaluate("window.__noReload === true"), "the page was reloaded"
    shot(page, f"ticket-field-deleted-{locale}")

    page.goto(f"{live_server}/services/support/tickets")
    expect(page.locator("#flashes")).not_to_contain_text("order_no")  # said once, where it happened


def test_saving_an_inline_edit_leaves_the_address_without_edit(manager: Page, live_server, shot):
    page = manager
    page.goto(live_server + PAGE)
    add_field(page, "region")
    page.locator("tr#field-region a.btn[href*='edit=']").click()
    expect(page).to_have_url(re.compile(r"\?edit=\d+"))
    row = page.locator("tr#field-region")
    row.locator("input[name=label_en]").fill("Sales region")
    row.locator("button[type=submit].btn-primary").click()
    expect(row.locator("input[name=label_en]")).to_have_count(0)  # the row is closed again
    expect(page).to_have_url(re.compile(r"/services/support/ticket-fields$"))

    page.reload()
    expect(page.locator("tr#field-region input[name=label_en]")).to_have_count(0)
    expect(page.locator("tr#field-region")).to_contain_text("region")
    shot(page, "ticket-field-edit-saved-ko")
