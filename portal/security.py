"""Security headers on every response (pages, htmx fragments, the Open API, static files, errors).

A small after-request hook rather than Flask-Talisman: the portal needs five fixed headers and HSTS in
production; Talisman's defaults (redirect to HTTPS, secure-only session cookies) would have to be turned off
for development and the tests, and its cookie settings would overlap ours (portal/config.py), for no gain
over a dependency-free dict.
"""
from __future__ import annotations

from flask import Flask, Response

# Everything a page loads is the portal's own: htmx, portal.js, helpcenter.js and the style sheets from /static/,
# htmx's requests to the same origin. No inline <script>, event-handler attribute, style attribute or eval
# (htmx trigger filters and hx-on would need it; portal.js does that work), so neither a nonce nor any
# 'unsafe-…' source is needed. frame-ancestors 'none' stops clickjacking of the one-click toggles.
CONTENT_SECURITY_POLICY = "; ".join((
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
))

HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",  # frame-ancestors for browsers that predate it
    "X-Content-Type-Options": "nosniff",
    # Full URLs (service keys, batch ids) stay inside the portal; other sites learn nothing, not even the origin.
    "Referrer-Policy": "same-origin",
}

# A year, on each host the portal answers for; no includeSubDomains, which would bind unrelated hosts under
# PORTAL_BASE_DOMAIN to HTTPS too.
HSTS = "max-age=31536000"


def headers_for(config) -> dict[str, str]:
    headers = dict(HEADERS)
    if config["PORTAL_ENV"] == "production":  # served over HTTPS there (its cookies are Secure too)
        headers["Strict-Transport-Security"] = HSTS
    return headers


def register(app: Flask) -> None:
    headers = headers_for(app.config)

    @app.after_request
    def add_security_headers(response: Response) -> Response:
        # setdefault: a view that needs its own policy can set one.
        for name, value in headers.items():
            response.headers.setdefault(name, value)
        return response
