"""Business rules as plain functions. They flush, never commit: the caller (request, job, CLI) commits once."""
import re
from dataclasses import dataclass
from datetime import date

from portal import messages


class ServiceError(Exception):
    """A rule refused the action. `message` is translated and fit to show to the person who asked. `params`: for a
    refusal made with `of`, what a stored copy keeps (with `code`) to say it again in its reader's language."""

    def __init__(self, message: str, code: str = "invalid", params: dict | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.params = params

    @classmethod
    def of(cls, code: str, **params):
        """A refusal that may be stored (a batch's outcome): its text is `portal.messages`' for `code`."""
        return cls(messages.text(code, params), code, params)


@dataclass(frozen=True)
class Actor:
    """Who acts: a member of an organization (None for the platform or the API key), from which address."""

    organization_id: int
    member_id: int | None
    ip: str | None = None


# The largest id any table holds (PostgreSQL's integer); SQLite would overflow past 2^63, PostgreSQL past this.
MAX_ID = 2**31 - 1
# The days any date a person or a file sends may fall on: a day after the last, or a time on it in any zone, is
# still a date (Python's end at year 1 and 9999 would overflow, a 500, when moved across zones).
FIRST_DAY, LAST_DAY = date(1900, 1, 1), date(2999, 12, 31)
_WHOLE = re.compile(r"[+-]?[0-9]{1,32}")


def parse_whole(raw: str | int | None) -> int | None:
    """`raw` as a whole number written with ASCII digits and an optional sign, or None ("1.0", "1_000", "²",
    "٣" and a 5,000-digit string are not whole numbers here, whatever Python's int() accepts)."""
    if isinstance(raw, int) and not isinstance(raw, bool):
        return raw
    text = str(raw if raw is not None else "").strip()
    return int(text) if _WHOLE.fullmatch(text) else None


def whole_number(raw: str | int | None, low: int, high: int) -> int | None:
    """`raw` as a whole number within low..high, or None when it is not one (the caller says why). The one rule
    for every whole number a person or a request sends: settings here, ids and pages in `portal.params`."""
    value = parse_whole(raw)
    return value if value is not None and low <= value <= high else None
