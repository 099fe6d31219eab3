"""Where a redirect may go: only paths of this site, never another host (no open redirect)."""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import request


def safe_next(target: str | None) -> str | None:
    """Only same-site paths: never an open redirect to another host. Browsers read a backslash as a slash and
    drop tabs and newlines, so `/\\evil.example` or `/<tab>/evil.example` would be another host too."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    if "\\" in target or any(ord(c) < 0x20 or c == "\x7f" for c in target):
        return None
    return target


def same_site_path(url: str | None) -> str | None:
    """The path and query of an absolute URL of this site (a Referer, htmx's HX-Current-URL); else None."""
    parts = urlsplit(url or "")
    if parts.scheme not in ("http", "https") or parts.netloc != request.host:
        return None
    return safe_next(parts.path + ("?" + parts.query if parts.query else ""))


def safe_referrer() -> str | None:
    """The page a form was sent from, if the Referer names this site; else None."""
    return same_site_path(request.referrer)
