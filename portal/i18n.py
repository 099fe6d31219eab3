"""Which language a page is shown in: the member's choice, else a cookie (anonymous visitors),
else the browser's Accept-Language, else Korean."""
from __future__ import annotations

from functools import lru_cache

from babel import Locale
from flask import current_app, has_request_context, request
from flask_login import current_user

from portal.config import SUPPORTED_LOCALES

LANGUAGE_COOKIE = "portal_lang"


def select_locale() -> str:
    if not has_request_context():  # CLI and jobs: messages in the home language
        return current_app.config["BABEL_DEFAULT_LOCALE"]
    if current_user and current_user.is_authenticated and current_user.ui_language in SUPPORTED_LOCALES:
        return current_user.ui_language
    cookie = request.cookies.get(LANGUAGE_COOKIE)
    if cookie in SUPPORTED_LOCALES:
        return cookie
    return request.accept_languages.best_match(SUPPORTED_LOCALES) or current_app.config["BABEL_DEFAULT_LOCALE"]


@lru_cache(maxsize=1)
def language_choices() -> tuple[tuple[str, str], ...]:
    """Each UI language named in itself (한국어, English), from Babel's CLDR data."""
    return tuple((code, Locale.parse(code).get_display_name(code).capitalize()) for code in SUPPORTED_LOCALES)
