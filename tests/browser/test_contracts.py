"""Contracted services (계약 서비스 현황) in a real browser, as the demo org admin: the add-service wizard with
its live estimate, drafts, the in-use switch, termination, billing with its Excel export, the organization
API key and the once-a-day contract change.

Elements are found by id, name, role, URL or CSS hook; where a visible label matters (Register / Edit), the
expected text is taken from the app's own Korean catalog, so the tests follow the translations."""
from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest
from openpyxl import load_workbook
from PIL import Image
from playwright.sync_api import Page, expect

from tests.browser.test_smoke import log_in

LIST_URL = re.compile(r"/admin/services$")


@pytest.fixture
def admin(page: Page, live_server, demo) -> Page:
    log_in(page, live_server, demo, "admin")
    expect(page).to_have_url(LIST_URL)
    return page


def won(amount: int) -> str:
    return f"₩{amount:,}"


def won_value(text: str) -> int:
    return int(re.sub(r"[^\d-]", "", text))


def mark_page(page: Page) -> None:
    """Leave a marker in the window: it survives htmx swaps but not a full page load."""
    page.evaluate("window.__noReload = true")


def assert_not_reloaded(page: Page) -> None:
    assert page.evaluate("window.__noReload === true"), "the page was reloaded"


def service_row(page: Page, key: str):
    return page.locator(f"table#services tr#service-{key}")


def switch_of(page: Page, key: str):
    return service_row(page, key).locator("button.toggle[role=switch]")


def contract_link(page: Page, key: str):
    return service_row(page, key).locator(f'a[href$="/admin/services/{key}/contract"]')


def starts_with(text: str) -> re.Pattern:
    return re.compile(r"^\s*" + re.escape(text))


def png_file(tmp_path, name: str = "banner.png"):
    path = tmp_path / name
    Image.new("RGB", (64, 64), (30, 110, 200)).save(path, format="PNG")
    return path


def fill_step1(page: Page, *, name: str, key: str) -> None:
    page.locator('input[name=type][value="counseling"]').check()
    page.locator("#name").fill(name)
    page.locator("#service_key").fill(key)


# -- 1. the whole wizard ------------------------------------------------------------------------------------

def test_wizard_adds_a_two_language_service_and_contracts_it_with_a_live_estimate(
    admin: Page, live_server, tmp_path, shot, axe_check, ui
):
    page = admin
    page.locator('a[href$="/admin/services/new"]').click()
    expect(page).to_have_url(re.compile(r"/admin/services/new$"))
    expect(page.locator('ol.steps li[aria-current="step"]')).to_have_text(starts_with("1."))
    # Korean is chosen and is the default before the admin touches anything.
    expect(page.locator('input[name=languages][value="ko"]')).to_be_checked()
    expect(page.locator('input[name=default_language][value="ko"]')).to_be_checked()
    axe_check(page, "wizard step 1 (ko)")
    shot(page, "contracts-wizard-step1-ko")

    fill_step1(page, name="Global Help Desk", key="helpdesk")

    # The language search hides the rows that do not match, without a round trip.
    ko_row = page.locator("tr[data-filter-text]").filter(has=page.locator('input[name=languages][value="ko"]'))
    en_row = page.locator("tr[data-filter-text]").filter(has=page.locator('input[name=languages][value="en"]'))
    page.locator("#language-search").fill("English")
    expect(ko_row).to_have_attribute("hidden", "")
    expect(en_row).to_be_visible()
    en_row.locator('input[name=languages][value="en"]').check()
    en_row.locator('input[name=default_language][value="en"]').check()
    page.locator("#language-search").fill("")
    expect(ko_row).to_be_visible()
    expect(page.locator("tr[data-filter-text][hidden]")).to_have_count(0)
    expect(page.locator('input[name=languages][value="ko"]')).to_be_checked()
    expect(page.locator('input[name=languages][value="en"]')).to_be_checked()
    expect(page.locator('input[name=default_language][value="en"]')).to_be_checked()

    page.locator("#time_zone").fill("Asia/Seoul")
    page.locator("#banner").set_input_files(png_file(tmp_path))
    page.locator('input[name=editor_type][value="TEXT"]').check()
    shot(page, "contracts-wizard-step1-filled-ko")
    page.locator("button[type=submit].btn-primary").click()

    # Step 2: the draft exists; base.seat alone (1 agent) is the starting estimate.
    expect(page).to_have_url(re.compile(r"/admin/services/helpdesk/contract$"))
    expect(page.locator('ol.steps li[aria-current="step"]')).to_have_text(starts_with("2."))
    expect(page.locator("#estimate-total")).to_have_text(won(20_000))
    expect(page.locator("#estimate-difference")).to_have_count(0)  # nothing in force yet
    axe_check(page, "wizard step 2 (ko)")
    shot(page, "contracts-wizard-step2-ko")

    mark_page(page)
    step2_url = page.url
    page.locator('input[name="qty.base.seat"]').fill("5")
    expect(page.locator("#estimate-total")).to_have_text(won(100_000))
    page.locator('input[name="use.ticket.management"]').check()
    page.locator('input[name="qty.ticket.management"]').fill("5")
    expect(page.locator("#estimate-total")).to_have_text(won(175_000))  # 5×20,000 + 5×15,000
    page.locator('input[name="use.helpcenter"]').check()
    expect(page.locator("#estimate-total")).to_have_text(won(225_000))  # + 50,000 flat
    assert page.url == step2_url
    assert_not_reloaded(page)
    shot(page, "contracts-wizard-step2-estimate-ko")

    page.locator(".estimate-card button[type=submit].btn-primary").click()
    expect(page).to_have_url(LIST_URL)
    expect(switch_of(page, "helpdesk")).to_have_attribute("aria-checked", "true")
    expect(contract_link(page, "helpdesk")).to_have_text(starts_with(ui("Edit")))
    expect(service_row(page, "helpdesk")).to_contain_text(won(225_000))
    # The banner was stored and is served as the row's image.
    banner = service_row(page, "helpdesk").locator('img[src$="/admin/services/helpdesk/banner"]')
    expect(banner).to_be_visible()
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=banner.element_handle())
    axe_check(page, "contract status after the wizard (ko)")
    shot(page, "contracts-wizard-done-ko")

    # What step 1 chose is what was saved.
    page.goto(f"{live_server}/admin/services/helpdesk/edit")
    expect(page.locator("#name")).to_have_value("Global Help Desk")
    expect(page.locator('input[name=type][value="counseling"]')).to_be_checked()
    expect(page.locator('input[name=languages][value="ko"]')).to_be_checked()
    expect(page.locator('input[name=languages][value="en"]')).to_be_checked()
    expect(page.locator("input[name=languages]:checked")).to_have_count(2)
    expect(page.locator('input[name=default_language][value="en"]')).to_be_checked()
    expect(page.locator("#time_zone")).to_have_value("Asia/Seoul")
    expect(page.locator('input[name=editor_type][value="TEXT"]')).to_be_checked()


# -- 2. leaving after step 1 -------------------------------------------------------------------------------

def test_leaving_after_step_one_keeps_a_draft_to_register_later(admin: Page, live_server, ui):
    page = admin
    page.goto(f"{live_server}/admin/services/new")
    fill_step1(page, name="Draft Desk", key="draftdesk")
    page.locator("button[type=submit].btn-primary").click()
    expect(page).to_have_url(re.compile(r"/admin/services/draftdesk/contract$"))

    page.locator('.estimate-card a[href$="/admin/services"]').click()  # Cancel
    expect(page).to_have_url(LIST_URL)
    row = service_row(page, "draftdesk")
    expect(row.locator(".status-draft")).to_be_visible()
    expect(row.locator("button.toggle[role=switch]")).to_have_count(0)  # a draft cannot be switched on
    link = contract_link(page, "draftdesk")
    expect(link).to_have_text(starts_with(ui("Register")))

    # Register leads back to step 2 of the same service.
    link.click()
    expect(page).to_have_url(re.compile(r"/admin/services/draftdesk/contract$"))
    expect(page.locator('ol.steps li[aria-current="step"]')).to_have_text(starts_with("2."))


# -- 3. the in-use switch ----------------------------------------------------------------------------------

def test_switching_a_service_off_and_on_rerenders_the_row_in_place(admin: Page, live_server, shot):
    page = admin
    switch = switch_of(page, "shop")
    expect(switch).to_have_attribute("aria-checked", "true")
    mark_page(page)
    url = page.url

    switch.click()
    expect(switch).to_have_attribute("aria-checked", "false")
    assert page.url == url
    assert_not_reloaded(page)
    expect(service_row(page, "shop").locator(f'a[href$="/admin/services/shop/terminate"]')).to_be_visible()
    shot(page, "contracts-shop-suspended-ko")

    page.reload()
    expect(switch).to_have_attribute("aria-checked", "false")
    # The other services did not move.
    expect(switch_of(page, "support")).to_have_attribute("aria-checked", "true")

    mark_page(page)
    switch.click()
    expect(switch).to_have_attribute("aria-checked", "true")
    assert page.url == url
    assert_not_reloaded(page)
    expect(service_row(page, "shop").locator('a[href$="/terminate"]')).to_have_count(0)

    page.reload()
    expect(switch).to_have_attribute("aria-checked", "true")


# -- 4. termination ----------------------------------------------------------------------------------------

def test_terminating_a_suspended_service_needs_its_id(admin: Page, live_server, shot, axe_check):
    page = admin
    expect(service_row(page, "bugs").locator('a[href$="/terminate"]')).to_have_count(0)  # in use: suspend first
    switch_of(page, "bugs").click()
    expect(switch_of(page, "bugs")).to_have_attribute("aria-checked", "false")

    service_row(page, "bugs").locator('a[href$="/admin/services/bugs/terminate"]').click()
    dialog = page.locator("dialog#dialog")
    expect(dialog).to_be_visible()
    expect(dialog.locator("#confirm_key")).to_be_visible()
    axe_check(page, "terminate dialog (ko)")
    shot(page, "contracts-terminate-dialog-ko")

    dialog.locator("#confirm_key").fill("shop")
    dialog.locator("button[type=submit].btn-danger").click()
    expect(dialog.locator(".alert-error[role=alert]")).to_be_visible()
    expect(dialog.locator("#confirm_key")).to_have_value("")
    expect(dialog).to_be_visible()
    expect(page).to_have_url(LIST_URL)
    expect(switch_of(page, "bugs")).to_have_attribute("aria-checked", "false")
    expect(service_row(page, "bugs").locator(".status-terminated")).to_have_count(0)
    shot(page, "contracts-terminate-wrong-id-ko")

    # Nothing changed on the server either.
    page.reload()
    expect(switch_of(page, "bugs")).to_have_attribute("aria-checked", "false")
    expect(service_row(page, "bugs").locator(".status-terminated")).to_have_count(0)

    service_row(page, "bugs").locator('a[href$="/admin/services/bugs/terminate"]').click()
    expect(dialog).to_be_visible()
    dialog.locator("#confirm_key").fill("bugs")
    dialog.locator("button[type=submit].btn-danger").click()
    expect(page).to_have_url(LIST_URL)
    expect(dialog).to_be_hidden()
    row = service_row(page, "bugs")
    expect(row.locator(".status-terminated")).to_be_visible()
    expect(row.locator("button.toggle")).to_have_count(0)
    expect(row.locator('a[href$="/terminate"]')).to_have_count(0)
    expect(row.locator('a[href$="/admin/services/bugs/edit"]')).to_have_count(0)
    shot(page, "contracts-terminated-ko")

    page.reload()
    expect(service_row(page, "bugs").locator(".status-terminated")).to_be_visible()
    expect(switch_of(page, "shop")).to_have_attribute("aria-checked", "true")


# -- 5. billing and its Excel export -----------------------------------------------------------------------

def test_billing_chart_scope_and_excel_export(admin: Page, live_server, tmp_path, shot, axe_check):
    page = admin
    page.goto(f"{live_server}/admin/billing")
    expect(page.locator("svg.chart")).to_be_visible()
    expect(page.locator("svg.chart rect.bar")).to_have_count(6)  # the last six months by default
    expect(page.locator("#billing-total")).to_be_visible()
    all_total = won_value(page.locator("#billing-total").inner_text())
    assert all_total > 0
    axe_check(page, "billing (ko)")
    shot(page, "contracts-billing-ko")

    page.locator("#billing-scope").select_option("service:support")
    page.locator("form.filters button[type=submit]").click()
    expect(page).to_have_url(re.compile(r"[?&]scope=service%3Asupport(&|$)"))
    expect(page.locator("#billing-scope")).to_have_value("service:support")
    expect(page.locator(".service-status .status-active")).to_be_visible()
    rows = page.locator("table#charges tbody tr")
    expect(rows.first).to_be_visible()
    n_rows = rows.count()
    for i in range(n_rows):
        expect(rows.nth(i).locator("code")).to_have_text("support")
    support_total = won_value(page.locator("#billing-total").inner_text())
    assert 0 < support_total < all_total
    month_header = page.locator("table#charges thead th").first.inner_text().strip()
    shot(page, "contracts-billing-support-ko")

    export = page.locator('form.filters a[href*="/admin/billing.xlsx"]')
    query = parse_qs(urlsplit(export.get_attribute("href")).query)
    assert query["scope"] == ["service:support"]
    assert query["start"] == [page.locator("#billing-start").input_value()]
    assert query["end"] == [page.locator("#billing-end").input_value()]
    with page.expect_download() as info:
        export.click()
    download = info.value
    assert download.suggested_filename.endswith(".xlsx")
    path = tmp_path / download.suggested_filename
    download.save_as(path)

    workbook = load_workbook(path, read_only=True)
    values = [list(r) for r in workbook.worksheets[0].iter_rows(values_only=True)]
    header, body = values[0], values[1:]
    assert header[0] == month_header
    data = [r for r in body if isinstance(r[0], str) and re.fullmatch(r"\d{4}-\d{2}", r[0])]
    assert len(data) == n_rows
    assert all(r[2] == "support" for r in data)
    assert sum(r[6] for r in data) == support_total


# -- 6. organization API key -------------------------------------------------------------------------------

def test_api_key_is_shown_once_then_only_masked(admin: Page, live_server, shot, axe_check):
    page = admin
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server)
    page.goto(f"{live_server}/admin/organization")
    page.locator('a[href$="/admin/organization/api-key"]').click()
    dialog = page.locator("dialog#dialog")
    expect(dialog).to_be_visible()
    expect(dialog.locator("#confirm")).to_be_visible()

    # Without the confirmation box nothing is issued (the browser's own validation stops the form).
    dialog.locator("button[type=submit]").click()
    assert dialog.locator("#confirm").evaluate("box => box.validity.valueMissing")
    expect(dialog.locator("#new-api-key")).to_have_count(0)
    expect(page.locator("#masked-key")).to_have_count(0)

    dialog.locator("#confirm").check()
    dialog.locator("button[type=submit]").click()
    key_field = dialog.locator("#new-api-key")
    expect(key_field).to_be_visible()
    expect(key_field).to_have_attribute("readonly", "")
    expect(key_field).to_have_value(re.compile(r"^oc_.{20,}"))
    key = key_field.input_value()
    axe_check(page, "new API key dialog (ko)")
    shot(page, "contracts-api-key-shown-ko")

    dialog.locator("[data-copy]").click()
    assert page.evaluate("navigator.clipboard.readText()") == key

    page.goto(f"{live_server}/admin/organization")
    masked = page.locator("#masked-key")
    expect(masked).to_be_visible()
    masked_text = masked.inner_text()
    assert masked_text != key and key not in masked_text
    assert key[:8] in masked_text  # the hint lets the admin recognise which key is in force
    assert key not in page.content()
    assert key not in page.request.get(f"{live_server}/admin/organization").text()
    shot(page, "contracts-api-key-masked-ko")


# -- 7. once a day -----------------------------------------------------------------------------------------

SUPPORT_TOTAL = 12 * 20_000 + 12 * 15_000 + 8 * 18_000 + 6 * 25_000 + 50_000 + 30_000 + 5 * 9_000  # 839,000


def test_a_contract_changes_at_most_once_a_day(admin: Page, live_server, shot, axe_check):
    page = admin
    page.goto(f"{live_server}/admin/services/support/contract")
    submit = page.locator(".estimate-card button[type=submit].btn-primary")
    expect(page.locator(".alert-warn")).to_have_count(0)  # the last change was 45 days ago
    expect(submit).to_be_enabled()
    expect(page.locator('input[name="qty.base.seat"]')).to_have_value("12")
    expect(page.locator("#estimate-total")).to_have_text(won(SUPPORT_TOTAL))
    expect(page.locator("#estimate-difference")).to_have_text(won(0))

    page.locator('input[name="qty.base.seat"]').fill("13")
    page.locator('input[name="qty.chat.basic"]').fill("10")
    expect(page.locator("#estimate-total")).to_have_text(won(SUPPORT_TOTAL + 20_000 + 2 * 18_000))
    expect(page.locator("#estimate-difference")).to_have_text("+" + won(56_000))
    page.locator('input[name="use.sms"]').uncheck()
    expect(page.locator("#estimate-difference")).to_have_text("+" + won(56_000 - 45_000))
    axe_check(page, "contract change (ko)")
    shot(page, "contracts-change-support-ko")

    submit.click()
    expect(page).to_have_url(LIST_URL)
    expect(service_row(page, "support")).to_contain_text(won(SUPPORT_TOTAL + 11_000))

    contract_link(page, "support").click()
    expect(page).to_have_url(re.compile(r"/admin/services/support/contract$"))
    expect(page.locator(".alert-warn")).to_be_visible()
    expect(submit).to_be_disabled()
    expect(page.locator('input[name="qty.base.seat"]')).to_have_value("13")
    expect(page.locator('input[name="use.sms"]')).not_to_be_checked()
    shot(page, "contracts-change-locked-ko")
