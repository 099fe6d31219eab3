"""Company info (회사정보 관리) and the public help center in a real browser.

The org admin enters footers through the form and applies them on the apply page (selects that submit on
change); anonymous visitors open /hc/demo/support/ in their own browser contexts (own locale, own cache, no
session). Expected texts come from the app's Korean catalog through `ui`, so the tests follow the translations.
"""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.test_smoke import log_in

SERVICE = "고객지원센터"  # the demo `support` service
HC = "/hc/demo/support"
PHONE = {"width": 390, "height": 844}


@pytest.fixture
def admin(page: Page, live_server, demo) -> Page:
    log_in(page, live_server, demo, "admin")
    expect(page).to_have_url(re.compile(r"/admin/services$"))
    return page


@pytest.fixture
def visitor(browser: Browser, live_server):
    """`visitor(locale=…, viewport=…)` is a new page in a fresh, anonymous browser context."""
    contexts = []

    def _open(locale: str = "ko-KR", viewport: dict | None = None) -> Page:
        context = browser.new_context(locale=locale, viewport=viewport or {"width": 1280, "height": 800},
                                      base_url=live_server)
        contexts.append(context)
        return context.new_page()

    yield _open
    for context in contexts:
        context.close()


# -- helpers ------------------------------------------------------------------------------------------------

def flash(page: Page, kind: str = "success"):
    return page.locator(f".flashes .flash-{kind}")


def entry_row(page: Page, title: str):
    return page.locator("table#company-info tbody tr").filter(
        has=page.get_by_role("link", name=title, exact=True))


def add_entry(page: Page, base: str, ui, *, title: str, language: str, company_name: str, **fields) -> int:
    """Fill and save the Add form; return the new entry's id (from its row id in the list)."""
    page.goto(f"{base}/admin/company-info")
    page.locator('a[href$="/admin/company-info/new"]').click()
    expect(page).to_have_url(re.compile(r"/admin/company-info/new$"))
    page.locator("#ci-title").fill(title)
    page.locator("#ci-language").select_option(language)
    page.locator("#ci-company_name").fill(company_name)
    for name, value in fields.items():
        page.locator(f"#ci-{name}").fill(value)
    page.locator("form.form-card button[type=submit].btn-primary").click()
    expect(page).to_have_url(re.compile(r"/admin/company-info$"))
    expect(flash(page)).to_have_text(ui("%(title)s is saved.", title=title))
    row_id = entry_row(page, title).get_attribute("id")
    assert row_id and row_id.startswith("company-"), row_id
    return int(row_id.removeprefix("company-"))


def apply_entry(page: Page, base: str, ui, service: str, lang: str, entry_id: int, lang_name: str) -> None:
    """Choose the entry in the service/language select of the apply page; it submits itself."""
    if not page.url.endswith("/admin/company-info/apply"):
        page.goto(f"{base}/admin/company-info/apply")
    select = page.locator(f"table#footers tr#footer-{service}-{lang} select#apply-{service}-{lang}")
    select.select_option(str(entry_id))
    # The exact message names the language, so the previous apply's flash cannot satisfy it.
    expect(flash(page)).to_have_text(ui("The footer of %(name)s (%(lang)s) is updated.", name=SERVICE, lang=lang_name))
    expect(select).to_have_value(str(entry_id))


def assert_fits(page: Page, width: int) -> None:
    scroll = page.evaluate("document.documentElement.scrollWidth")
    assert scroll <= width, f"{page.url} overflows horizontally: scrollWidth {scroll} > {width}"


def assert_head(page: Page, lang: str) -> None:
    expect(page.locator("html")).to_have_attribute("lang", lang)
    expect(page).to_have_title(re.compile(SERVICE))
    assert (page.locator('meta[name="description"]').get_attribute("content") or "").strip()


# -- 1. the "Done when" -----------------------------------------------------------------------------

def test_admin_enters_ko_and_en_company_info_and_the_help_center_shows_each_at_phone_width(
    admin: Page, live_server, visitor, ui, shot, axe_check
):
    page = admin
    page.goto(f"{live_server}/admin/company-info/new")
    axe_check(page, "company info form (ko)")
    ko_id = add_entry(page, live_server, ui, title="새 회사 (한국어)", language="ko", company_name="새 회사",
                      representative="김새롬", business_number="987-65-43210", phone="02-555-0101",
                      email="help@new.example", address="서울특별시 강남구 테헤란로 1",
                      trademark="© 2026 새 회사", terms_md="# 이용약관\n\n제1조 **목적**",
                      privacy_md="# 개인정보 처리방침")
    en_id = add_entry(page, live_server, ui, title="New Co. (English)", language="en", company_name="New Co.",
                      representative="Saerom Kim", phone="+82 2 555 0101", email="help@new.example",
                      address="1 Teheran-ro, Gangnam-gu, Seoul", trademark="© 2026 New Co.",
                      terms_md="# Terms\n\nArticle 1 **Purpose**", privacy_md="# Privacy")
    # Both are listed, not applied anywhere yet.
    for title in ("새 회사 (한국어)", "New Co. (English)"):
        expect(entry_row(page, title).locator(".badge")).to_have_count(0)

    page.locator('a[href$="/admin/company-info/apply"]').click()
    expect(page).to_have_url(re.compile(r"/admin/company-info/apply$"))
    apply_entry(page, live_server, ui, "support", "ko", ko_id, "한국어")
    apply_entry(page, live_server, ui, "support", "en", en_id, "English")
    axe_check(page, "apply company info (ko)")
    page.goto(f"{live_server}/admin/company-info")
    expect(entry_row(page, "새 회사 (한국어)").locator(".badge")).to_have_text(SERVICE)
    expect(entry_row(page, "New Co. (English)").locator(".badge")).to_have_text(SERVICE)

    # An anonymous visitor on a phone with a Korean browser.
    hc = visitor(locale="ko-KR", viewport=PHONE)
    response = hc.goto(f"{HC}/")
    expect(hc).to_have_url(re.compile(rf"{HC}/ko/$"))
    assert response.status == 200
    assert response.headers.get("etag") and "public" in response.headers.get("cache-control", "")
    assert_head(hc, "ko")
    footer = hc.locator("footer.hc-footer")
    expect(footer).to_contain_text("새 회사")
    expect(footer).to_contain_text("987-65-43210")
    expect(footer).not_to_contain_text("데모 주식회사")
    expect(hc.locator("#hc-language")).to_have_value("ko")
    assert_fits(hc, PHONE["width"])
    axe_check(hc, "help center home (ko, 390 px)")
    shot(hc, "helpcenter-ko-390")

    hc.locator('main .hc-links a[href$="/ko/terms"]').click()
    expect(hc).to_have_url(re.compile(rf"{HC}/ko/terms$"))
    expect(hc.locator(".hc-document h2")).to_have_text("이용약관")
    assert_fits(hc, PHONE["width"])
    axe_check(hc, "help center terms (ko, 390 px)")

    hc.locator("#hc-language").select_option("en")
    expect(hc).to_have_url(re.compile(rf"{HC}/en/terms$"))
    assert_head(hc, "en")
    expect(hc.locator("#hc-language")).to_have_value("en")
    expect(hc.locator(".hc-document h2")).to_have_text("Terms")
    expect(footer).to_contain_text("New Co.")
    expect(footer).not_to_contain_text("새 회사")
    assert_fits(hc, PHONE["width"])
    axe_check(hc, "help center terms (en, 390 px)")
    shot(hc, "helpcenter-en-390")

    # And back: the drop-down keeps the page in the other direction too.
    hc.locator("#hc-language").select_option("ko")
    expect(hc).to_have_url(re.compile(rf"{HC}/ko/terms$"))
    expect(hc.locator("html")).to_have_attribute("lang", "ko")
    expect(footer).to_contain_text("새 회사")


# -- 2. the entry follows the browser's language -------------------------------------------------------------

def test_an_english_browser_lands_on_the_english_help_center(live_server, demo, visitor):
    hc = visitor(locale="en-US")
    response = hc.goto(f"{HC}/")
    expect(hc).to_have_url(re.compile(rf"{HC}/en/$"))
    assert_head(hc, "en")
    expect(hc.locator("footer.hc-footer")).to_contain_text("Demo Corp.")
    expect(hc.locator("#hc-language")).to_have_value("en")
    # The page is cacheable and revalidates with its ETag.
    etag = response.headers.get("etag")
    assert etag and "public" in response.headers.get("cache-control", "")
    again = hc.request.get(f"{live_server}{HC}/en/", headers={"If-None-Match": etag})
    assert again.status == 304


# -- 3. XSS through the form ---------------------------------------------------------------------------------

def test_scripts_in_terms_do_not_run_on_the_public_page(admin: Page, live_server, visitor, ui):
    page = admin
    terms = ("# 악성 약관\n\n<script>window.__xss=1</script>\n\n[x](javascript:window.__xss=2)\n\n"
             '<img src=x onerror="window.__xss=3">\n\n끝.')
    entry_id = add_entry(page, live_server, ui, title="XSS 시험", language="ko", company_name="XSS 회사",
                         terms_md=terms)
    # The admin's own edit form shows the Markdown as text.
    entry_row(page, "XSS 시험").get_by_role("link", name="XSS 시험", exact=True).click()
    expect(page.locator("#ci-terms_md")).to_have_value(terms)
    assert page.evaluate("typeof window.__xss") == "undefined"
    apply_entry(page, live_server, ui, "support", "ko", entry_id, "한국어")

    hc = visitor(locale="ko-KR")
    alerts = []
    hc.on("dialog", lambda dialog: (alerts.append(dialog.message), dialog.dismiss()))
    hc.goto(f"{HC}/ko/terms", wait_until="load")
    document = hc.locator("article.hc-document")
    expect(document.locator("h2")).to_have_text("악성 약관")
    expect(document).to_contain_text("끝.")
    assert hc.evaluate("typeof window.__xss") == "undefined"
    expect(document.locator("script")).to_have_count(0)
    expect(document.locator("img, [onerror], a[href^='javascript' i]")).to_have_count(0)

    # The link text is inert: clicking it runs nothing and goes nowhere.
    hc.get_by_text("javascript:window.__xss=2").click()
    expect(hc).to_have_url(re.compile(rf"{HC}/ko/terms$"))
    assert hc.evaluate("typeof window.__xss") == "undefined"
    assert alerts == []


# -- 4. a suspended service --------------------------------------------------------------------------------

def test_a_suspended_services_help_center_says_it_is_not_available(admin: Page, live_server, visitor, ui):
    hc = visitor(locale="ko-KR")
    assert hc.goto(f"{HC}/ko/").status == 200

    page = admin
    switch = page.locator("table#services tr#service-support button.toggle[role=switch]")
    expect(switch).to_have_attribute("aria-checked", "true")
    switch.click()
    expect(switch).to_have_attribute("aria-checked", "false")

    hc = visitor(locale="ko-KR")  # a fresh visitor, as a customer would be
    response = hc.goto(f"{HC}/ko/")
    assert response.status == 404
    expect(hc.locator("html")).to_have_attribute("lang", "ko")
    expect(hc.get_by_role("heading", level=1)).to_have_text(ui("This help center is not available"))
    expect(hc.locator("main")).to_contain_text(SERVICE)
    # The entry redirect gives the same answer instead of sending the visitor on.
    response = hc.goto(f"{HC}/")
    assert response.status == 404
    expect(hc).to_have_url(re.compile(rf"{HC}/$"))


# -- 5. deleting ---------------------------------------------------------------------------------------------

def test_an_applied_entry_cannot_be_deleted_and_a_free_one_can(admin: Page, live_server, ui):
    page = admin
    page.goto(f"{live_server}/admin/company-info")
    for title in ("데모 주식회사 (한국어)", "Demo Corp. (English)"):
        row = entry_row(page, title)
        expect(row.locator(".badge")).to_have_text(SERVICE)
        delete = row.get_by_role("button", name=ui("Delete"))
        expect(delete).to_be_disabled()
        expect(delete).to_have_attribute("title", ui("Applied to a help center: apply another entry there first."))

    entry_id = add_entry(page, live_server, ui, title="임시 회사정보", language="en", company_name="Temp Ltd.")
    row = entry_row(page, "임시 회사정보")
    delete = row.get_by_role("button", name=re.compile("^" + re.escape(ui("Delete"))))
    expect(delete).to_be_enabled()

    # Cancelling the confirm dialog keeps it.
    questions = []
    page.once("dialog", lambda dialog: (questions.append(dialog.message), dialog.dismiss()))
    delete.click()
    assert questions == [ui("Delete %(title)s?", title="임시 회사정보")]
    page.reload()
    expect(entry_row(page, "임시 회사정보")).to_have_count(1)

    # Meanwhile, in another tab, it gets applied; the delete from this (stale) list is refused with the service named.
    other = page.context.new_page()
    apply_entry(other, live_server, ui, "support", "en", entry_id, "English")
    other.close()
    page.once("dialog", lambda dialog: dialog.accept())
    delete.click()
    expect(page).to_have_url(re.compile(r"/admin/company-info$"))
    refused = ui("%(title)s is applied to %(services)s. Apply another entry there first.",
                 title="임시 회사정보", services=SERVICE)
    expect(flash(page, "error")).to_have_text(refused)
    expect(row.locator(".badge")).to_have_text(SERVICE)
    expect(row.get_by_role("button", name=ui("Delete"))).to_be_disabled()

    # Put the English entry back; now it is free and goes after the confirm.
    page.goto(f"{live_server}/admin/company-info/apply")
    english = page.locator("#apply-support-en option", has_text="Demo Corp. (English)").get_attribute("value")
    apply_entry(page, live_server, ui, "support", "en", int(english), "English")
    page.goto(f"{live_server}/admin/company-info")
    page.once("dialog", lambda dialog: dialog.accept())
    entry_row(page, "임시 회사정보").get_by_role("button", name=re.compile("^" + re.escape(ui("Delete")))).click()
    expect(flash(page)).to_have_text(ui("The company info is deleted."))
    expect(entry_row(page, "임시 회사정보")).to_have_count(0)
    expect(page.locator("table#company-info tbody tr")).to_have_count(2)

