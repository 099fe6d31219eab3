"""The Content-Security-Policy in a real browser: the main pages of each role, in Korean and in English, load
and run without one violation; every response the browser gets carries the policy; the portal refuses to be
framed; and the phone widget, whose poll no longer uses an eval'd trigger filter, still holds still while the
agent types a number."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.browser.test_smoke import log_in

LOCALES = {"ko": "ko-KR", "en": "en-US"}
# A violation is both an event in the page and an error on the console; the test listens to both.
LISTEN = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", function (e) {
  window.__cspViolations.push(e.violatedDirective + " blocked " + (e.blockedURI || "?") + " in " +
                              e.sourceFile + ":" + e.lineNumber + " " + (e.sample || ""));
}, true);
"""
SLOW = 15_000

ADMIN_PAGES = [
    "/admin/services", "/admin/services/support/contract", "/admin/services/new", "/admin/services/support/edit",
    "/admin/billing", "/admin/organization", "/admin/org-admins", "/admin/org-admins/add", "/admin/company-info",
    "/admin/company-info/new", "/admin/company-info/apply", "/admin/cti?service=support",
    "/admin/cti/agents?service=support", "/admin/migrations", "/admin/migrations/new?service=support",
    "/admin/permission-log", "/me/settings", "/me/performance", "/me/cti-logs", "/admin/no-such-page",
]
MANAGER_PAGES = [
    "/workspace/support", "/services/support/board", "/services/support/members", "/services/support/calls",
    "/services/support/tickets", "/services/support/ticket-fields", "/me/settings", "/me/performance",
    "/me/cti-logs",
]
AGENT_PAGES = ["/workspace/support", "/services/support/tickets", "/workspace/shop", "/me/performance"]
PUBLIC_PAGES = [
    "/login", "/hc/demo/support/", "/hc/demo/support/{lang}/terms", "/hc/demo/support/{lang}/privacy",
    "/api/v1/docs", "/invite/not-a-token", "/no-such-page",
]


class CspWatch:
    """Collects, for one browser context, the CSP violations its pages report and the portal's responses that
    lack the security headers."""

    def __init__(self, context: BrowserContext, base: str):
        self.base = base
        self.console: list[str] = []
        self.unsecured: list[str] = []
        self.visited: list[str] = []
        context.add_init_script(LISTEN)
        context.on("console", self._on_console)
        context.on("response", self._on_response)

    def _on_console(self, message) -> None:
        if "Content Security Policy" in message.text:
            self.console.append(message.text)

    def _on_response(self, response) -> None:
        if not response.url.startswith(self.base):
            return
        headers = response.headers
        if "frame-ancestors 'none'" not in headers.get("content-security-policy", "") \
                or headers.get("x-content-type-options") != "nosniff" or headers.get("x-frame-options") != "DENY":
            self.unsecured.append(f"{response.status} {response.url}")

    def check(self, page: Page, label: str) -> None:
        """Let the page settle (htmx starts on DOMContentLoaded; reports are queued as tasks), then fail on any
        violation seen so far."""
        page.wait_for_load_state("load")
        reported = page.evaluate("() => new Promise(done => setTimeout(() => done(window.__cspViolations || []), 150))")
        self.visited.append(label)
        assert not reported and not self.console, f"CSP violations on {label}:\n" + "\n".join(reported + self.console)
        assert not self.unsecured, "responses without the security headers:\n" + "\n".join(self.unsecured)

    def visit(self, page: Page, path: str, lang: str) -> None:
        path = path.format(lang=lang)  # the help center's pages are in their own language
        page.goto(self.base + path)
        expect(page.locator("html")).to_have_attribute("lang", lang)
        self.check(page, f"{path} ({lang})")


@pytest.fixture
def watched(browser: Browser, live_server):
    """`watched(lang)` is a fresh browser context in that language with a `CspWatch`, and a page in it."""
    contexts = []

    def _open(lang: str):
        context = browser.new_context(locale=LOCALES[lang], viewport={"width": 1280, "height": 800})
        contexts.append(context)
        watch = CspWatch(context, live_server)
        return watch, context.new_page()

    yield _open
    for context in contexts:
        context.close()


def open_from_account_menu(page: Page, watch: CspWatch, href: str, lang: str) -> None:
    """Open a dialog (My performance, Personal settings) the way a member does: htmx swaps it in."""
    page.locator("details.account-menu summary").click()
    page.locator(f"details.account-menu a[href='{href}']").click()
    expect(page.locator("#dialog")).to_be_visible()
    watch.check(page, f"{href} dialog ({lang})")
    page.keyboard.press("Escape")
    expect(page.locator("#dialog")).to_be_hidden()


def test_the_watch_sees_a_violation_and_the_portal_cannot_be_framed(watched, live_server, demo):
    watch, page = watched("ko")
    page.goto(f"{live_server}/login")
    page.evaluate("() => { const s = document.createElement('script'); s.textContent = 'window.__ran = 1';"
                  " document.head.append(s); }")
    with pytest.raises(AssertionError, match="script-src"):
        watch.check(page, "an injected inline script")
    assert page.evaluate("typeof window.__ran") == "undefined"

    # Clickjacking: a page elsewhere that frames the portal gets an error page in the frame, not the portal.
    with page.expect_event("framenavigated", predicate=lambda frame: frame.parent_frame is not None) as framed:
        page.set_content(f'<iframe src="{live_server}/login" title="framed"></iframe>')
    assert not framed.value.url.startswith(live_server)
    expect(page.frame_locator("iframe").locator("input[name=login_id]")).to_have_count(0)
    for _ in range(50):  # the browser's report may trail the navigation a little
        if any("frame-ancestors 'none'" in message for message in watch.console):
            break
        page.wait_for_timeout(100)
    assert any("frame-ancestors 'none'" in message for message in watch.console)


@pytest.mark.parametrize("lang", ["ko", "en"])
def test_no_page_of_any_role_violates_the_policy(watched, live_server, demo, lang):
    watch, page = watched(lang)
    watches = [watch]
    for path in PUBLIC_PAGES:
        watch.visit(page, path, lang)

    log_in(page, live_server, demo, "admin")
    expect(page).to_have_url(re.compile(r"/admin/services$"))
    watch.check(page, f"admin after log-in ({lang})")
    for path in ADMIN_PAGES:
        watch.visit(page, path, lang)
    page.goto(f"{live_server}/admin/cti?service=support")  # an htmx toggle, re-rendered in place
    page.locator("#setting-log_monitoring button[role=switch]").click()
    expect(page.locator("#setting-log_monitoring button[role=switch]")).to_have_attribute("aria-checked", "false")
    watch.check(page, f"CTI setting toggled ({lang})")
    page.goto(f"{live_server}/admin/services")
    open_from_account_menu(page, watch, "/me/settings", lang)

    for login, pages in (("manager", MANAGER_PAGES), ("agent", AGENT_PAGES)):
        watch, page = watched(lang)
        watches.append(watch)
        log_in(page, live_server, demo, login)
        expect(page).to_have_url(re.compile(r"/workspace/\w+$"))
        for path in pages:
            watch.visit(page, path, lang)
        page.goto(f"{live_server}/workspace/support")
        open_from_account_menu(page, watch, "/me/performance", lang)
        open_from_account_menu(page, watch, "/me/settings", lang)

    # The agent's phone widget: logged in to the phone it polls every 4 s; one poll must come and go cleanly.
    panel = page.locator("aside.phone-widget #phone-panel")
    expect(panel).to_be_visible()
    with page.expect_response(lambda r: r.url.endswith("/agent/phone") and r.request.method == "GET", timeout=SLOW):
        panel.locator("form[action$='/phone/login'] button").click()
        expect(panel.locator("form[action$='/phone/logout']")).to_be_visible(timeout=SLOW)
    watch.check(page, f"phone widget after a poll ({lang})")
    assert sum(len(w.visited) for w in watches) > 40


def test_the_phone_panel_does_not_refresh_while_the_agent_types_a_number(watched, live_server, demo):
    watch, page = watched("ko")
    log_in(page, live_server, demo, "agent")
    panel = page.locator("aside.phone-widget #phone-panel")
    panel.locator("form[action$='/phone/login'] button").click()
    expect(panel.locator("form[action$='/phone/logout']")).to_be_visible(timeout=SLOW)

    def is_poll(request) -> bool:
        return request.url.endswith("/agent/phone") and request.method == "GET"

    polls = []
    shown = panel.locator(".phone-panel").element_handle()
    with page.expect_response(lambda r: is_poll(r.request), timeout=SLOW):
        pass  # start right after a poll, so that none is under way while typing
    page.wait_for_function("panel => !panel.isConnected", arg=shown)  # and its answer swapped in
    page.on("request", lambda request: polls.append(request.url) if is_poll(request) else None)
    number = panel.locator("#phone-number")
    number.click()
    number.press_sequentially("0101")
    page.wait_for_timeout(6_000)  # more than the 4 s poll
    assert polls == [] and number.input_value() == "0101"

    with page.expect_request(is_poll, timeout=SLOW):
        number.blur()  # focus leaves the panel: polling resumes
    watch.check(page, "phone widget typing")
