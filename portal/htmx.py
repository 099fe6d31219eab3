"""The one htmx helper: is this request from htmx, and render a page or its fragment accordingly."""
from __future__ import annotations

from flask import render_template, request


def is_htmx() -> bool:
    return request.headers.get("HX-Request") == "true" and request.headers.get("HX-Boosted") != "true"


def render(template: str, *, partial: str | None = None, **context) -> str:
    """Render `partial` (a `_name.html` beside the page) for htmx requests, else the full `template`."""
    return render_template(partial if partial and is_htmx() else template, **context)
