"""The one htmx helper: is this request from htmx, and render a page or its fragment accordingly; a message
flashed while answering a fragment goes out with it."""
from __future__ import annotations

from flask import Flask, render_template, request, session


def is_htmx() -> bool:
    return request.headers.get("HX-Request") == "true" and request.headers.get("HX-Boosted") != "true"


def render(template: str, *, partial: str | None = None, **context) -> str:
    """Render `partial` (a `_name.html` beside the page) for htmx requests, else the full `template`."""
    return render_template(partial if partial and is_htmx() else template, **context)


def deliver_flashes(response):
    """A message flashed while answering an htmx fragment (a ticket field deleted) is shown with it, out of band in
    the page's #flashes, instead of waiting in the session for the next full page, where it would be stale. Not for
    an answer that sends the browser elsewhere (HX-Redirect and the like): the next page says it."""
    if (response.status_code != 200 or response.mimetype != "text/html" or response.direct_passthrough
            or request.method == "GET" or not is_htmx() or "_flashes" not in session
            or any(header in response.headers for header in ("HX-Redirect", "HX-Location", "HX-Refresh"))):
        return response
    response.set_data(response.get_data() + render_template("_flashes.html", oob=True).encode())
    return response


def register(app: Flask) -> None:
    app.after_request(deliver_flashes)
