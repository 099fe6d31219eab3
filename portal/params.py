"""Numbers, days and text read from a request (query string or form), bounded to what the database can hold.

Every whole number a route reads goes through `int_arg` (or `WholeNumberField` in a form): ids within 1..MAX_ID,
as the `int` URL converter does, and pages within 1..MAX_PAGE. Anything else (2^63 overflows SQLite, 2^31
PostgreSQL's integer; "1.5", "²", NaN) names nothing, so it is `NotANumber`, a 404 unless the route catches it
to say which filter was wrong. Days and months are bounded the same way, so that a day after it or its zone's
midnight stays a date; and no field may hold a NUL."""
from __future__ import annotations

import re
from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo

from flask import Flask, request
from flask_babel import gettext as _
from werkzeug.exceptions import NotFound

from portal.errors import render_error
from portal.services import FIRST_DAY, LAST_DAY, MAX_ID, whole_number

__all__ = ["MAX_ID", "MAX_PAGE", "NotANumber", "int_arg", "page_arg", "day", "month", "local_moment", "register"]

MAX_PAGE = 100_000
_MONTH = re.compile(r"([0-9]{4})-([0-9]{1,2})")
_MOMENT = re.compile(r"([0-9]{4}-[0-9]{2}-[0-9]{2})[T ]([0-9]{2}):([0-9]{2})")


class NotANumber(NotFound):
    """A number in the request that is no whole number within its bounds: nothing can have it, so not found."""


def int_arg(name: str, *, low: int = 1, high: int = MAX_ID, default: int | None = None, source=None) -> int | None:
    """The whole number `name` of the query string (or of `source`, e.g. `request.form`): `default` when it is
    absent or blank, `NotANumber` when it is anything but a whole number within low..high (ids by default)."""
    raw = (request.args if source is None else source).get(name)
    if raw is None or not raw.strip():
        return default
    value = whole_number(raw, low, high)
    if value is None:
        raise NotANumber()
    return value


def page_arg(name: str = "page") -> int:
    """The page number of a list: 1 when absent, a 404 past MAX_PAGE or when it is not a page number."""
    return int_arg(name, high=MAX_PAGE, default=1)


def day(raw: str) -> date:
    """A day written YYYY-MM-DD within FIRST_DAY..LAST_DAY; ValueError otherwise (as date.fromisoformat)."""
    value = date.fromisoformat(raw)
    if not FIRST_DAY <= value <= LAST_DAY:
        raise ValueError(f"{raw!r} is not within {FIRST_DAY}..{LAST_DAY}")
    return value


def month(raw: str) -> date:
    """The first day of a month written YYYY-MM, within FIRST_DAY..LAST_DAY; ValueError otherwise."""
    match = _MONTH.fullmatch(raw)
    if match is None or not 1 <= int(match[2]) <= 12:
        raise ValueError(f"{raw!r} is not a month written YYYY-MM")
    return day(f"{match[1]}-{int(match[2]):02d}-01")


def local_moment(raw: str, zone: str) -> datetime:
    """A date and time as a datetime-local input sends it (YYYY-MM-DDTHH:MM), read on the clocks of `zone`, in
    UTC; ValueError for anything else."""
    match = _MOMENT.fullmatch((raw or "").strip())
    if match is None or not (0 <= int(match[2]) <= 23 and 0 <= int(match[3]) <= 59):
        raise ValueError(f"{raw!r} is not a date and time written YYYY-MM-DDTHH:MM")
    moment = datetime.combine(day(match[1]), datetime.min.time()).replace(hour=int(match[2]), minute=int(match[3]))
    return moment.replace(tzinfo=ZoneInfo(zone)).astimezone(timezone.utc)


def register(app: Flask) -> None:
    @app.before_request
    def no_nul_in_query_or_form():
        """A NUL can be stored in no text (PostgreSQL refuses it) and typed in no form: refused before any view,
        so no lookup, search or flash message ever carries one."""
        fields = [*request.args.items(multi=True), *request.form.items(multi=True)]
        if any("\x00" in key or "\x00" in value for key, value in fields):
            return render_error(400, _("A field holds a NUL character (U+0000), which no text may contain."))
        return None
