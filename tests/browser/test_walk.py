"""Every page, as each demo role and an anonymous visitor, in both languages, at desktop and phone width: no
server error, no catalog text left untranslated, nothing wider than the screen, no short label, badge or button
wrapped or cut, no button that does nothing (tests/browser/walk.py says what each check looks at). With
WALK_SHOTS=1 every page is also saved as a screenshot under test-artifacts/walk/."""
from __future__ import annotations

import os
import re

import pytest
from playwright.sync_api import Browser, expect

from tests.browser.conftest import ARTIFACTS
from tests.browser.test_smoke import log_in
from tests.browser.walk import HEIGHT, LOCALES, WIDTHS, Findings, build_world, catalog, check_page, page_paths

SHOTS = os.environ.get("WALK_SHOTS") == "1"
# Pages whose text is not in the UI language by design: the help center speaks the service's languages, and the
# API reference is the OpenAPI document's own (English) text around translated headings.
OTHER_LANGUAGE = {"helpcenter.entry", "helpcenter.page", "helpcenter.document", "api.docs"}
OUT = ARTIFACTS / "walk"


def shot(page, name: str, findings: Findings) -> None:
    if SHOTS:
        OUT.mkdir(parents=True, exist_ok=True)
        path = OUT / f"{name}.png"
        height = min(page.evaluate("document.documentElement.scrollHeight"), 2400)
        page.screenshot(path=str(path), full_page=True, clip={"x": 0, "y": 0, "width": page.viewport_size["width"],
                                                               "height": height})
        findings.shots.append(path.name)


def slug(path: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", path.lower()).strip("-") or "root"


def open_dialog(page, link: str) -> None:
    page.locator("details.account-menu summary").click()
    page.locator(f"details.account-menu a[href='{link}']").click()
    expect(page.locator("dialog#dialog")).to_be_visible()


@pytest.mark.parametrize("role", ["admin", "manager", "agent", "anonymous"])
def test_every_page_reads_whole_in_both_languages_at_both_widths(role, browser: Browser, app, live_server, demo):
    names = build_world(app, live_server)
    if role != "anonymous":
        names["export"] = names["exports"][role]
    messages = catalog()
    findings = Findings()
    context = browser.new_context(locale="ko-KR", viewport={"width": WIDTHS[0], "height": HEIGHT})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(f"{page.url}: {exc}"))
    if role != "anonymous":
        log_in(page, live_server, demo, role)
    paths = page_paths(role, names)
    for locale in LOCALES:
        if role == "anonymous":
            page.goto(f"{live_server}/login")
            page.locator(f".language-switch button[lang={locale}]").click()
        else:
            page.goto(f"{live_server}/")
            page.locator(f".topbar .language-switch button[lang={locale}]").click()
        expect(page.locator("html")).to_have_attribute("lang", locale)
        for width in WIDTHS:
            page.set_viewport_size({"width": width, "height": HEIGHT})
            for endpoint, path in paths:
                response = page.goto(live_server + path)
                where = f"{role} {locale} {width} {path}"
                if response is None or response.status >= 400:
                    findings.add("error page", where, str(response and response.status))
                    continue
                page.wait_for_load_state("networkidle")
                check_page(page, where, "any" if endpoint in OTHER_LANGUAGE else locale, findings, messages)
                shot(page, f"{role}-{locale}-{width}-{slug(path)}", findings)
            if role != "anonymous":
                for link in ("/me/settings", "/me/performance"):
                    page.goto(f"{live_server}/me/cti-logs")
                    open_dialog(page, link)
                    where = f"{role} {locale} {width} dialog {link}"
                    check_page(page, where, locale, findings, messages)
                    shot(page, f"{role}-{locale}-{width}-dialog-{slug(link)}", findings)
    context.close()
    OUT.mkdir(parents=True, exist_ok=True)
    findings.dump(OUT / f"findings-{role}.json")
    assert not errors, errors
    findings.problems = {kind: found for kind, found in findings.problems.items() if found}
    assert not findings.problems, "\n".join(f"{kind}: {len(items)}\n  " + "\n  ".join(items[:40])
                                            for kind, items in findings.problems.items())
