"""Security headers: every response carries a strict Content-Security-Policy, refuses framing and MIME sniffing,
keeps the referrer in the portal, and pins HTTPS in production only."""
import re
from pathlib import Path

import pytest

from portal import create_app
from portal.security import CONTENT_SECURITY_POLICY
from tests.conftest import make_test_config

TEMPLATES = Path(__file__).resolve().parents[1] / "portal" / "templates"
HX = {"HX-Request": "true"}


def assert_secured(response, label: str) -> None:
    headers = response.headers
    assert headers.get("Content-Security-Policy") == CONTENT_SECURITY_POLICY, label
    assert headers.get("X-Frame-Options") == "DENY", label
    assert headers.get("X-Content-Type-Options") == "nosniff", label
    assert headers.get("Referrer-Policy") == "same-origin", label
    assert "Strict-Transport-Security" not in headers, f"{label}: HSTS outside production"


def test_the_policy_allows_nothing_inline_nothing_evaluated_and_no_framing():
    directives = dict(d.split(" ", 1) for d in CONTENT_SECURITY_POLICY.split("; "))
    assert directives["script-src"] == "'self'" and directives["style-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'" and directives["object-src"] == "'none'"
    assert "unsafe" not in CONTENT_SECURITY_POLICY and "*" not in CONTENT_SECURITY_POLICY


def test_every_kind_of_response_carries_the_security_headers(client, make, login_as):
    org = make.org(domain="acme")
    make.service(org, "help")
    admin = login_as(make.admin_of(org))
    responses = {
        "login page": client.get("/login"),
        "redirect to log in": client.get("/admin/services"),
        "page": admin.get("/admin/services"),
        "htmx fragment": admin.get("/me/settings", headers=HX),
        "htmx error fragment": admin.get("/admin/migrations/999999", headers=HX),
        "not found page": client.get("/no-such-page"),
        "expired form": client.post("/login", data={"login_id": "x"}),
        "static script": client.get("/static/htmx.min.js"),
        "static style": client.get("/static/portal.css"),
        "help center": client.get("/hc/acme/help/ko/"),
        "API docs": client.get("/api/v1/docs"),
        "API document": client.get("/api/v1/openapi.json"),
        "API problem": client.get("/api/v1/services"),
        "API not found": client.get("/api/v1/nothing-here"),
        "health": client.get("/healthz"),
    }
    assert responses["htmx fragment"].status_code == 200 and b"<html" not in responses["htmx fragment"].data
    assert responses["expired form"].status_code == 400 and responses["API problem"].status_code == 401
    assert responses["help center"].status_code == 200
    for label, response in responses.items():
        assert_secured(response, label)
    # nosniff makes browsers trust the declared type, so static files must declare the right one.
    assert responses["static script"].mimetype in ("text/javascript", "application/javascript")
    assert responses["static style"].mimetype == "text/css"


def test_a_crash_page_carries_the_security_headers_too(database_url):
    app = create_app(make_test_config(database_url) | {"PROPAGATE_EXCEPTIONS": False})

    @app.get("/boom")
    def boom():
        raise RuntimeError("boom")

    client = app.test_client()
    assert_secured(page := client.get("/boom"), "500 page")
    assert page.status_code == 500
    assert_secured(client.get("/boom", headers=HX), "500 fragment")


def test_production_pins_https_with_hsts(database_url):
    app = create_app(make_test_config(database_url) | {"PORTAL_ENV": "production", "SECRET_KEY": "a-real-secret"})
    response = app.test_client().get("/login")
    assert response.headers["Strict-Transport-Security"] == "max-age=31536000"
    assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY


def test_a_view_can_set_its_own_policy():
    from flask import Flask

    from portal.security import register

    app = Flask(__name__)
    app.config["PORTAL_ENV"] = "development"
    register(app)

    @app.get("/own")
    def own():
        return "ok", 200, {"Content-Security-Policy": "default-src 'none'"}

    response = app.test_client().get("/own")
    assert response.headers["Content-Security-Policy"] == "default-src 'none'"
    assert response.headers["X-Frame-Options"] == "DENY"


# What the policy would block in a browser, looked for in every template (the browser test visits the main
# pages; this covers the rest): inline scripts, event-handler attributes, hx-on and htmx trigger filters (both
# need eval), javascript: URLs and style attributes.
BLOCKED = {
    "inline script": re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I),
    "event handler": re.compile(r"<[a-z][^>]*\son[a-z]+\s*=", re.I | re.S),
    "hx-on": re.compile(r"\b(data-)?hx-on\b", re.I),
    "trigger filter": re.compile(r"hx-trigger=(\"[^\"]*\[[^\"]*\"|'[^']*\[[^']*')", re.I),
    "javascript: URL": re.compile(r"javascript:", re.I),
    "style attribute": re.compile(r"<[a-z][^>]*\sstyle\s*=", re.I | re.S),
    "style element": re.compile(r"<style\b", re.I),
}


@pytest.mark.parametrize("kind", BLOCKED)
def test_no_template_holds_what_the_policy_blocks(kind):
    found = [f"{path.relative_to(TEMPLATES)}: {match.group(0)[:80]!r}"
             for path in sorted(TEMPLATES.rglob("*.html"))
             for match in BLOCKED[kind].finditer(path.read_text(encoding="utf-8"))]
    assert not found, f"{kind} in templates (the CSP blocks it):\n" + "\n".join(found)


def test_htmx_does_not_inject_its_indicator_style(client):
    # htmx adds an inline <style> on start-up unless told not to; the policy would block (and report) it.
    assert '"includeIndicatorStyles":false' in client.get("/login").get_data(as_text=True)



def test_htmx_never_settles_an_inline_style(client):
    """htmx's settle step re-applies the `style` attribute of an element that a swap replaces under the same id
    (setAttribute('style', '')): the policy blocks it and the browser reports a violation on every such swap."""
    page = client.get("/login").get_data(as_text=True)
    assert '"attributesToSettle":["class","width","height"]' in page
