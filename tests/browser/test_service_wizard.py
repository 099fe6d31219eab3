"""The add-service wizard's step 1 (/admin/services/new) in a real browser: every field's error at once, at its
field, and a banner that was accepted is kept across the refused submit instead of having to be chosen again,
in Korean and in English."""
from __future__ import annotations

import re

import pytest
from PIL import Image
from playwright.sync_api import Page, expect

from tests.browser.test_contracts import LIST_URL, service_row
from tests.browser.test_smoke import log_in


def banner_file(tmp_path, name="wide-banner.png", size=(640, 160)):
    path = tmp_path / name
    Image.new("RGB", size, (30, 110, 200)).save(path, format="PNG")
    return path


def field_error(page: Page, container: str):
    return page.locator(f"{container} .field-error")


def next_button(page: Page):
    return page.locator("form.form-card button[type=submit].btn-primary")


@pytest.mark.parametrize("locale", ["ko", "en"])
def test_every_error_at_once_and_the_banner_is_kept(page: Page, live_server, demo, tmp_path, ui, shot, axe_check,
                                                     locale):
    log_in(page, live_server, demo, "admin")
    expect(page).to_have_url(LIST_URL)
    if locale == "en":
        page.get_by_role("button", name="English").click()
        expect(page.locator("html")).to_have_attribute("lang", "en")
    page.goto(f"{live_server}/admin/services/new")
    # No name, an ID with a space, a time zone that does not exist, and a good banner.
    page.locator("#service_key").fill("help desk")
    page.locator("#time_zone").fill("Asia/Nowhere")
    page.locator("#banner").set_input_files(banner_file(tmp_path))
    next_button(page).click()

    expect(page).to_have_url(re.compile(r"/admin/services/new$"))
    expect(field_error(page, ".field:has(#name)")).to_be_visible()
    expect(page.locator("#name")).to_have_attribute("aria-invalid", "true")
    expect(field_error(page, ".field:has(#service_key)")).to_have_text(
        ui("A service ID is 1–40 ASCII letters (A–Z, a–z).", locale))
    expect(field_error(page, ".field:has(#time_zone)")).to_have_text(
        ui("Unknown time zone: %(tz)s.", locale, tz="Asia/Nowhere"))
    expect(page.locator("#pending-banner")).to_contain_text(ui(
        "%(file)s is kept: it will be saved with the other fields. Choose another file to replace it.", locale,
        file="wide-banner.png"))
    expect(field_error(page, ".field:has(#banner)")).to_have_count(0)
    axe_check(page, f"wizard step 1 with every error ({locale})")
    shot(page, f"wizard-every-error-{locale}")

    # Fix the fields, choose no file again: the kept banner is the service's.
    page.locator("#name").fill("Banner Desk")
    page.locator("#service_key").fill("bannerdesk")
    page.locator("#time_zone").fill("Asia/Seoul")
    next_button(page).click()
    expect(page).to_have_url(re.compile(r"/admin/services/bannerdesk/contract$"))
    page.goto(f"{live_server}/admin/services")
    banner = service_row(page, "bannerdesk").locator('img[src$="/admin/services/bannerdesk/banner"]')
    expect(banner).to_have_count(1)
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=banner.element_handle())
    assert banner.evaluate("img => img.naturalWidth / img.naturalHeight") == 4  # the banner chosen, not a default


def test_a_bad_banner_is_reported_with_the_other_errors(page: Page, live_server, demo, tmp_path, ui):
    log_in(page, live_server, demo, "admin")
    page.goto(f"{live_server}/admin/services/new")
    fake = tmp_path / "banner.png"
    fake.write_bytes(b"not an image at all")
    page.locator("#service_key").fill("support")  # taken by the demo
    page.locator("#banner").set_input_files(fake)
    next_button(page).click()
    expect(field_error(page, ".field:has(#name)")).to_be_visible()
    expect(field_error(page, ".field:has(#service_key)")).to_have_text(
        ui("The service ID %(key)s is already used.", key="support"))
    expect(field_error(page, ".field:has(#banner)")).to_have_text(
        ui("The banner must be a PNG, JPEG, GIF or WebP image."))
    expect(page.locator("#pending-banner")).to_have_count(0)


def test_every_language_row_reads_as_plain_text(page: Page, live_server, demo, shot):
    """The cu row showed a literal &nbsp; (and worse) from a damaged copy of the language list."""
    log_in(page, live_server, demo, "admin")
    page.goto(f"{live_server}/admin/services/new")
    page.locator("#language-search").fill("slav")
    row = page.locator("tr[data-filter-text]").filter(has=page.locator('input[name=languages][value="cu"]'))
    expect(row).to_be_visible()
    expect(row).to_contain_text("Church Slavic, Old Slavonic, Church Slavonic, Old Bulgarian, Old Church Slavonic")
    shot(page, "wizard-language-cu-ko")
    texts = page.locator("#language-list tbody tr").evaluate_all("rows => rows.map(r => r.textContent)")
    assert not [t for t in texts if re.search(r"&|<|>|nbsp", t)], "a language name carries markup"
