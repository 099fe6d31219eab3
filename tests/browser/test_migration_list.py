"""The data migration list (/admin/migrations) in a real browser: a failed check's row keeps the service name and
its status badge on one line, its button says what it does (it removes the batch from the list; no ticket is
created) and so does its question, and the empty list offers "show deleted batches too" once, in Korean and in
English."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser.test_migration import BAD, LIST_URL, POLL, uploaded_batch
from tests.browser.test_smoke import log_in


def lines(locator) -> int:
    """How many lines the element's text takes on screen."""
    return locator.evaluate("""el => {
        const range = document.createRange();
        range.selectNodeContents(el);
        return new Set([...range.getClientRects()].filter(r => r.width > 0).map(r => Math.round(r.top))).size;
    }""")


def in_english(page: Page) -> None:
    page.get_by_role("button", name="English").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")


@pytest.mark.parametrize("locale", ["ko", "en"])
def test_the_empty_list_offers_the_deleted_batches_once(page: Page, live_server, demo, ui, shot, locale):
    log_in(page, live_server, demo, "admin")
    if locale == "en":
        in_english(page)
    page.goto(f"{live_server}/admin/migrations")
    expect(page.locator(".empty-state")).to_be_visible()
    expect(page.get_by_role("link", name=ui("Show deleted batches too", locale))).to_have_count(1)
    shot(page, f"migration-list-empty-{locale}")


@pytest.mark.parametrize("locale", ["ko", "en"])
def test_a_failed_check_stays_on_one_line_and_its_button_says_what_it_does(page: Page, live_server, demo, work, ui,
                                                                          shot, axe_check, locale):
    log_in(page, live_server, demo, "admin")
    if locale == "en":
        in_english(page)
    batch_id = uploaded_batch(page, live_server, BAD, work, name="bad.xlsx")
    expect(page.locator("section#batch-status .batch-check_failed")).to_be_visible(timeout=POLL)
    page.goto(f"{live_server}/admin/migrations")
    row = page.locator(f"table#batches tr#batch-{batch_id}")
    expect(row).to_be_visible()
    assert lines(row.locator("td").first) == 1, "the service name wraps"
    assert lines(row.locator(".batch-check_failed")) == 1, "the status badge wraps"
    button = row.locator("form[action$='/delete'] button[type=submit]")
    expect(button).to_contain_text(ui("Remove from list", locale))
    axe_check(page, f"migration list with a failed check ({locale})")
    shot(page, f"migration-list-failed-{locale}")

    questions: list[str] = []

    def accept(dialog) -> None:
        questions.append(dialog.message)
        dialog.accept()

    page.once("dialog", accept)
    button.click()
    expect(page).to_have_url(LIST_URL)
    assert questions == [ui("Remove %(file)s from the list? No ticket is created from it; it stays under "
                            "“Show deleted batches too”.", locale, file="bad.xlsx")], questions
    expect(page.locator(".flash-success")).to_have_text(ui("%(file)s is removed from the list.", locale,
                                                           file="bad.xlsx"))
    expect(row).to_have_count(0)
    page.get_by_role("link", name=ui("Show deleted batches too", locale)).click()
    expect(page).to_have_url(re.compile(r"/admin/migrations\?show=all$"))
    expect(page.locator(f"tr#batch-{batch_id} .batch-deleted")).to_be_visible()
