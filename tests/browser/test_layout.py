"""Inputs and layout in a real browser (issue 16, items 15 and 16): every kind of input looks like the text input;
the language chosen in the personal settings dialog re-renders the page in place and says so in that language;
a filter's label sits beside its field; the CTI agents' inline-edit inputs sit under their column heads; a form's
error shows at its field, named by the field's aria-describedby. In Korean and English, at 1440 and 390 px.

Elements are found by id, name, role, URL or CSS hook; where a visible text matters it is taken from the app's own
catalog through `ui`, so the tests follow the translations."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.browser.test_smoke import log_in

WIDTHS = (1440, 390)
# What makes an input look like the others: its border, its corners, its padding, its type and colours.
STYLE_JS = """
(el) => {
  const ref = document.createElement("input");
  ref.type = "text";
  el.parentElement.insertBefore(ref, el);
  const props = ["border-top-width", "border-top-style", "border-top-color", "border-right-width", "border-bottom-width",
                 "border-left-width", "border-top-left-radius", "padding-top", "padding-right", "padding-bottom",
                 "padding-left", "font-family", "font-size", "font-weight", "line-height", "color", "background-color"];
  const mine = getComputedStyle(el), text = getComputedStyle(ref);
  const diff = {};
  for (const p of props) {
    if (mine.getPropertyValue(p) !== text.getPropertyValue(p)) diff[p] = [mine.getPropertyValue(p), text.getPropertyValue(p)];
  }
  ref.remove();
  return diff;
}
"""


def in_language(page: Page, locale: str) -> None:
    page.locator(f".topbar .language-switch button[lang={locale}]").click()
    expect(page.locator("html")).to_have_attribute("lang", locale)


def boxes(*locators: Locator) -> list[dict]:
    """The boxes of `locators` read in one go: a scroll between two separate reads (htmx focusing an
    autofocus field after its swap, say) would otherwise make two boxes disagree about where things are."""
    handles = [locator.element_handle() for locator in locators]
    return locators[0].page.evaluate(
        "els => els.map(e => { const r = e.getBoundingClientRect();"
        " return {x: r.x, y: r.y, width: r.width, height: r.height}; })", handles)


def assert_looks_like_text_input(field: Locator, what: str) -> None:
    expect(field).to_be_visible()
    diff = field.evaluate(STYLE_JS)
    assert not diff, f"{what} differs from a text input: {diff}"


# -- item 15: inputs -------------------------------------------------------------------------------------------

def test_every_kind_of_input_looks_like_the_text_input(page: Page, live_server, demo):
    log_in(page, live_server, demo, "admin")
    for path, selector in (("/admin/company-info/new", "input[type=tel]#ci-phone"),
                           ("/admin/billing", "input[type=month]#billing-start"),
                           ("/admin/permission-log", "input[type=datetime-local]#log-start"),
                           ("/me/cti-logs", "input[type=date]#log-from")):
        page.goto(live_server + path)
        assert_looks_like_text_input(page.locator(selector), f"{selector} on {path}")


def test_the_phone_widgets_number_field_looks_like_the_text_input(page: Page, live_server, demo):
    log_in(page, live_server, demo, "agent")
    widget = page.locator(".phone-widget")
    widget.locator("form[action$='/agent/phone/login'] button").click()
    assert_looks_like_text_input(widget.locator("input[type=tel]#phone-number"), "the widget's number field")


@pytest.mark.parametrize("width", WIDTHS)
def test_the_language_chosen_in_the_settings_dialog_rerenders_the_page_in_place(page: Page, live_server, demo, ui,
                                                                               width, shot):
    page.set_viewport_size({"width": width, "height": 900})
    log_in(page, live_server, demo, "admin")
    page.goto(f"{live_server}/admin/org-admins")
    expect(page.get_by_role("heading", level=1)).to_have_text(ui("Org admins"))

    for locale in ("en", "ko"):
        page.locator("details.account-menu summary").click()
        page.locator("details.account-menu a[href='/me/settings']").click()
        dialog = page.locator("dialog#dialog")
        expect(dialog).to_be_visible()
        dialog.locator("select#ui-language-select").select_option(locale)
        dialog.locator("form:has(#ui-language-select) button[type=submit]").click()

        expect(page.locator("html")).to_have_attribute("lang", locale)
        expect(page).to_have_url(re.compile(r"/admin/org-admins$"))  # the same page, not the settings page
        expect(dialog).not_to_be_visible()
        expect(page.get_by_role("heading", level=1)).to_have_text(ui("Org admins", locale))
        expect(page.locator("#flashes .flash-success")).to_have_text(
            ui("The portal is now shown in %(language)s.", locale, language={"en": "English", "ko": "한국어"}[locale]))
        shot(page, f"settings-language-{locale}-{width}")


# -- item 16: layout -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("locale", ["ko", "en"])
@pytest.mark.parametrize("width", WIDTHS)
def test_each_permission_log_filter_label_sits_beside_its_field(page: Page, live_server, demo, locale, width, shot):
    page.set_viewport_size({"width": width, "height": 900})
    log_in(page, live_server, demo, "admin")
    page.goto(f"{live_server}/admin/permission-log")
    if locale == "en":
        in_language(page, "en")
    labels = page.locator("form.log-filters label")
    assert labels.count() == 6
    for i in range(labels.count()):
        label = labels.nth(i)
        field = page.locator(f"#{label.get_attribute('for')}")
        lb, fb = boxes(label, field)
        text = label.inner_text()
        assert abs((lb["y"] + lb["height"] / 2) - (fb["y"] + fb["height"] / 2)) < 6, f"{text} is not on its field's line"
        gap = fb["x"] - (lb["x"] + lb["width"])
        assert 0 <= gap <= 16, f"{text} is {gap:.0f} px from its field"
        assert fb["x"] + fb["width"] <= width, f"the field of {text} goes past the screen"
    shot(page, f"permission-log-filters-{locale}-{width}")


def within_column(field: Locator, head: Locator) -> None:
    fb, hb = boxes(field, head)
    assert fb["x"] >= hb["x"] - 1 and fb["x"] + fb["width"] <= hb["x"] + hb["width"] + 1, \
        f"{field} ({fb['x']:.0f}–{fb['x'] + fb['width']:.0f}) is not under {head.inner_text()!r} " \
        f"({hb['x']:.0f}–{hb['x'] + hb['width']:.0f})"


@pytest.mark.parametrize("locale", ["ko", "en"])
@pytest.mark.parametrize("width", WIDTHS)
def test_cti_agents_inline_edit_inputs_sit_under_their_column_heads(page: Page, live_server, demo, ui, locale, width,
                                                                     shot, app):
    from portal.extensions import db
    from portal.models import Member

    with app.app_context():
        agent = db.session.query(Member).filter_by(login_id="agent2").one()
        agent_id = agent.id
    page.set_viewport_size({"width": width, "height": 900})
    log_in(page, live_server, demo, "admin")
    page.goto(f"{live_server}/admin/cti/agents")
    if locale == "en":
        in_language(page, "en")
    heads = page.locator("table#cti-agents thead th")
    row = page.locator(f"tr#cti-agent-{agent_id}")
    row.locator("a.btn").click()
    cti_id, cti_number = row.locator("input[name=cti_id]"), row.locator("input[name=cti_number]")
    expect(cti_id).to_be_focused()
    within_column(cti_id, heads.nth(2))
    within_column(cti_number, heads.nth(3))
    within_column(row.locator("button[type=submit]"), heads.nth(4))
    shot(page, f"cti-agents-edit-{locale}-{width}")

    # A refused number is said under the number, and the field names the message.
    cti_number.fill("7001")  # 이상담's
    row.locator("button[type=submit]").click()
    error = row.locator(".field-error")
    expect(error).to_have_text(ui("The CTI number %(value)s is already used by another agent.", locale, value="7001"))
    expect(cti_number).to_have_attribute("aria-invalid", "true")
    expect(cti_number).to_have_attribute("aria-describedby", error.get_attribute("id"))
    expect(cti_id).not_to_have_attribute("aria-invalid", "true")
    expect(cti_number).to_be_focused()  # the refused field, where the user types next
    within_column(error, heads.nth(3))
    eb, nb = boxes(error, cti_number)
    assert eb["y"] >= nb["y"] + nb["height"] - 1
    shot(page, f"cti-agents-error-{locale}-{width}")


def assert_error_at(page: Page, field: Locator, message: str) -> None:
    """`message` is shown right under `field`, and the field names it (aria-describedby) and is marked invalid."""
    expect(field).to_have_attribute("aria-invalid", "true")
    described = field.get_attribute("aria-describedby") or ""
    error = page.locator(", ".join(f"#{name}" for name in described.split())).filter(has_text=message)
    expect(error).to_have_count(1)
    fb, eb = boxes(field, error)
    below = eb["y"] - (fb["y"] + fb["height"])
    assert -1 <= below <= 24, f"the error is {below:.0f} px from its field"
    assert eb["x"] < fb["x"] + fb["width"] and fb["x"] < eb["x"] + eb["width"], "the error is not under its field"


@pytest.mark.parametrize("javascript", [True, False], ids=["htmx", "no-js"])
@pytest.mark.parametrize("width", WIDTHS)
def test_a_ticket_field_error_shows_at_the_field(browser, live_server, demo, ui, width, javascript, shot):
    context = browser.new_context(locale="ko-KR", viewport={"width": width, "height": 900},
                                  java_script_enabled=javascript)
    page = context.new_page()
    log_in(page, live_server, demo, "manager")
    page.goto(f"{live_server}/services/support/ticket-fields")
    form = page.locator("#add-field form")
    form.locator("#f-label_ko").fill("제목2")
    form.locator("#f-label_en").fill("Title 2")
    form.locator("#f-key").fill("title")  # a system field's key
    form.locator("button[type=submit]").click()
    form = page.locator("#add-field form")
    assert_error_at(page, form.locator("#f-key"), ui("The field key %(key)s is already used.", key="title"))
    expect(form.locator("#f-label_ko")).to_have_value("제목2")  # the form stays as typed
    shot(page, f"ticket-field-add-error-{width}-{'js' if javascript else 'nojs'}")

    form.locator("#f-key").fill("region")
    form.locator("#f-label_en").fill("")
    form.locator("button[type=submit]").click()
    form = page.locator("#add-field form")
    assert_error_at(page, form.locator("#f-label_en"), ui("Enter the label in Korean and in English."))
    expect(form.locator("#f-key")).not_to_have_attribute("aria-invalid", "true")

    # Editing a field inline: the refusal is said in its row, under the label that is missing.
    form.locator("#f-label_en").fill("Region")
    form.locator("button[type=submit]").click()
    row = page.locator("tr#field-region")
    expect(row).to_be_visible()
    row.locator("a.btn[href*='edit=']").click()
    row.locator("input[name=label_ko]").fill("")
    row.locator("button[type=submit].btn-primary").click()
    assert_error_at(page, row.locator("input[name=label_ko]"), ui("Enter the label in Korean and in English."))
    shot(page, f"ticket-field-edit-error-{width}-{'js' if javascript else 'nojs'}")
    context.close()


@pytest.mark.parametrize("width", WIDTHS)
def test_a_company_info_error_shows_at_the_field(page: Page, live_server, demo, ui, width, shot):
    page.set_viewport_size({"width": width, "height": 900})
    log_in(page, live_server, demo, "admin")
    page.goto(f"{live_server}/admin/company-info/new")
    page.locator("#ci-title").fill("새 회사정보")
    page.locator("#ci-company_name").fill("새 회사")
    page.locator("#ci-phone").fill("call me maybe")
    page.locator("form.form-card button[type=submit]").click()
    assert_error_at(page, page.locator("#ci-phone"), ui("A phone number has digits, spaces, +, - and brackets only."))
    shot(page, f"company-info-error-{width}")
