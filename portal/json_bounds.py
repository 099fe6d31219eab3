"""Every JSON body the portal reads is bounded before any view sees it: size, depth, strings a database can
store, numbers that fit in 64 bits, no NaN or Infinity. `request.get_json()` parses through `loads` (webargs,
for the Open API, reads what the hook below cached); a body that breaks a bound is answered 400 before the view
runs."""
from __future__ import annotations

import json
import math
import re
from typing import Any

from flask import Flask, Request, current_app, g, request
from flask_babel import gettext as _

from portal.errors import problem, render_error

MAX_DEPTH = 20
MAX_INT = 2**63 - 1
_BAD_TEXT = re.compile("[\\x00\\ud800-\\udfff]")  # NUL (PostgreSQL refuses it) and lone surrogates (not UTF-8)


class JsonRefused(ValueError):
    """`code` names the bound; the message is for the log (the answer is translated by the caller)."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


def _constant(name: str):
    raise JsonRefused("bad_number", f"{name} is not a JSON number")


def loads(data: str | bytes, *, max_bytes: int | None = None) -> Any:
    """Parse and check a JSON document; raise JsonRefused (a ValueError) when it breaks a bound."""
    if max_bytes is not None and len(data) > max_bytes:
        raise JsonRefused("too_large", f"body over {max_bytes} bytes")
    try:
        value = json.loads(data, parse_constant=_constant)
    except RecursionError:
        raise JsonRefused("too_deep", "nested too deeply") from None
    except JsonRefused:
        raise
    except (ValueError, UnicodeDecodeError) as exc:  # includes ints of more than 4,300 digits
        raise JsonRefused("malformed_json", str(exc)[:200]) from None
    check(value)
    return value


def check(value: Any) -> None:
    """Depth at most MAX_DEPTH, and every string (keys too) and number within bounds; iterative, so a deep
    value cannot exhaust the stack here either."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            if _BAD_TEXT.search(item):
                raise JsonRefused("bad_text", "a string holds NUL or a lone surrogate")
        elif isinstance(item, bool) or item is None:
            continue
        elif isinstance(item, float):
            if not math.isfinite(item):  # 1e999999 parses as infinity
                raise JsonRefused("bad_number", "a number is not finite")
        elif isinstance(item, int):
            if not -MAX_INT - 1 <= item <= MAX_INT:
                raise JsonRefused("bad_number", "an integer does not fit in 64 bits")
        elif isinstance(item, (dict, list)):
            if depth > MAX_DEPTH:
                raise JsonRefused("too_deep", f"nested deeper than {MAX_DEPTH}")
            if isinstance(item, dict):
                for key, inner in item.items():
                    stack.append((key, depth))
                    stack.append((inner, depth + 1))
            else:
                stack.extend((inner, depth + 1) for inner in item)


class _BodyJson:
    """The JSON module of a request: `request.get_json()` parses bodies within the bounds. Only bodies: the
    session cookie and everything else keep Flask's own JSON (a flash holding a NUL must not end a session)."""

    @staticmethod
    def loads(s: str | bytes, **kwargs: Any) -> Any:
        return loads(s, max_bytes=current_app.config["JSON_MAX_KB"] * 1024)

    dumps = staticmethod(json.dumps)


class BoundedRequest(Request):
    json_module = _BodyJson


def refusal_message(code: str) -> str:
    return {
        "too_large": _("The JSON body is larger than %(kb)d KB.", kb=current_app.config["JSON_MAX_KB"]),
        "too_deep": _("The JSON body is nested more than %(n)d levels deep.", n=MAX_DEPTH),
        "bad_text": _("A text in the JSON body holds a NUL character or a lone surrogate."),
        "bad_number": _("A number in the JSON body is not a 64-bit integer or a finite number."),
    }.get(code, _("The body is not valid JSON."))


def register(app: Flask) -> None:
    app.request_class = BoundedRequest

    @app.before_request
    def bounded_json_body():
        """A JSON body is parsed (and cached for the view) before the view: a refused one never reaches it."""
        if not request.is_json or request.method in ("GET", "HEAD", "OPTIONS"):
            return None
        try:
            g.json_body = loads(request.get_data(cache=True), max_bytes=app.config["JSON_MAX_KB"] * 1024)
        except JsonRefused as exc:
            if request.path.startswith("/api/"):
                return problem(413 if exc.code == "too_large" else 400, exc.code if exc.code != "malformed_json"
                               else "malformed_json", refusal_message(exc.code))
            return render_error(400, refusal_message(exc.code))
        return None
