"""Migration rows: one sheet row of a filled template turned into ticket values, or into the errors a person
can correct. An error is stored, so it is a code and its parameters with the field's labels in both languages
({column: [Korean, English], code, args}); portal.messages says it in the reader's language."""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import date, datetime, time, timezone
from zoneinfo import ZoneInfo

from sqlalchemy import select

from portal.extensions import db
from portal.labels import choice_spellings
from portal.models import FieldType, Member, Service, ServiceMember, TicketField
from portal.services import FIRST_DAY, LAST_DAY

LENGTHS = {"title": 200, "requester_name": 100, "category": 100, "external_id": 100}
TEXT_MAX, LONG_TEXT_MAX = 1000, 20000
EMAIL_MAX = 254
TRUE, FALSE = {"y", "yes", "true", "1", "o", "예"}, {"n", "no", "false", "0", "x", "아니오"}
PHONE_RE = re.compile(r"^\+?[0-9][0-9 \-]{2,31}$")
EMAIL_RE = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s.]{2,}$")
DATE_FORMATS = ("%Y-%m-%d", "%Y/%m/%d", "%Y.%m.%d")
DATETIME_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y/%m/%d %H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M")


PARAM_MAX = 100  # a cell's value quoted in an error is cut: an error is stored, and shown in a table cell


class RowError(ValueError):
    """What is wrong with one cell: a code of portal.messages' row errors and its parameters."""

    def __init__(self, code: str, **params):
        super().__init__(code)
        self.code = code
        self.params = {k: v[:PARAM_MAX] if isinstance(v, str) else v for k, v in params.items()}


_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")  # invisible in Excel, refused by PostgreSQL


def _text(value) -> str:
    """A cell as the text a ticket stores: control characters (which no one sees in Excel, and which
    PostgreSQL cannot store) are dropped."""
    if value is None:
        return ""
    if isinstance(value, str):
        return _CONTROL.sub("", value).strip() if _CONTROL.search(value) else value.strip()
    if isinstance(value, float) and value.is_integer():  # the reader gives every number as a float
        return str(int(value))
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, date):
        return value.isoformat()
    return str(value).strip()


def _number(value):
    if isinstance(value, bool):
        raise RowError("number")
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        number = value
    else:
        try:
            number = float(str(value).replace(",", ""))
        except ValueError:
            raise RowError("number") from None
    if not math.isfinite(number):  # "inf", "nan", "1e999": no JSON column stores them
        raise RowError("number")
    # A whole number becomes an integer only while it fits in 64 bits: 1e308 as int() has 309 digits, which no
    # 64-bit reader (nor this portal's own JSON bounds, json_bounds.MAX_INT) takes back.
    return int(number) if number.is_integer() and abs(number) < 2**63 else number


def _within_days(day: date) -> None:
    """A date or time outside FIRST_DAY..LAST_DAY is refused: year 1 or 9999 moved to UTC (or shown in another
    zone) overflows Python's datetime, and no ticket has such a day."""
    if not FIRST_DAY <= day <= LAST_DAY:
        raise RowError("date_range", first=FIRST_DAY.isoformat(), last=LAST_DAY.isoformat())


def _date(value) -> date:
    if isinstance(value, datetime):
        day = value.date()
    elif isinstance(value, date):
        day = value
    else:
        for fmt in DATE_FORMATS:
            try:
                day = datetime.strptime(str(value).strip(), fmt).date()
                break
            except ValueError:
                continue
        else:
            raise RowError("date")
    _within_days(day)
    return day


def _datetime(value, zone: ZoneInfo) -> datetime:
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime.combine(value, time.min)
    else:
        for fmt in DATETIME_FORMATS + DATE_FORMATS:
            try:
                moment = datetime.strptime(str(value).strip(), fmt)
                break
            except ValueError:
                continue
        else:
            raise RowError("datetime")
    _within_days(moment.date())
    return moment.replace(tzinfo=zone).astimezone(timezone.utc)


@dataclass(frozen=True)
class FieldSpec:
    """What the validator needs of a field, copied once: plain attributes are cheap per cell, and progress
    commits (which expire ORM objects) cannot make the check reload the fields."""

    key: str
    type: FieldType
    required: bool
    choices: tuple | None
    label_ko: str
    label_en: str
    spellings: dict | None  # a choice as a file may hold it (lower case) → the choice stored

    @property
    def column(self) -> list[str]:
        """The field's labels, [Korean, English]: how a stored error names its column."""
        return [self.label_ko, self.label_en]


class RowValidator:
    """Turns one sheet row into ticket values, or a list of (column label, message) errors."""

    def __init__(self, service: Service, fields: list[TicketField], members: dict[str, int] | None = None,
                 assigned: dict[str, int] | None = None):
        """`members`: login ID (lower case) → member id of who may be assignee (the service's members by default);
        the assignees the rows name are collected into `assigned`, in the same form."""
        self.fields = [FieldSpec(f.key, f.type, f.required, tuple(f.choices) if f.choices else None, f.label_ko,
                                 f.label_en, choice_spellings(f.key, f.choices) if f.choices else None)
                       for f in fields]
        self.zone = ZoneInfo(service.time_zone)
        self.members = members_of(service.id) if members is None else members
        self.assigned = {} if assigned is None else assigned
        self.seen_external: dict[str, int] = {}

    def convert(self, field: FieldSpec, value):
        kind = field.type
        if kind == FieldType.member:
            login = _text(value).lower()
            if login not in self.members:
                raise RowError("not_member", login=_text(value))
            self.assigned[login] = self.members[login]
            return self.members[login]
        if kind in (FieldType.text, FieldType.long_text):
            text = _text(value)
            limit = LENGTHS.get(field.key, LONG_TEXT_MAX if kind == FieldType.long_text else TEXT_MAX)
            if len(text) > limit:
                raise RowError("too_long", n=limit)
            return text
        if kind == FieldType.number:
            return _number(value)
        if kind == FieldType.date:
            return _date(value).isoformat()
        if kind == FieldType.datetime:
            return _datetime(value, self.zone)
        if kind == FieldType.single_choice:
            text = _text(value)
            if text in (field.choices or ()):
                return text
            choice = (field.spellings or {}).get(text.lower())
            if choice is None:
                raise RowError("not_choice", value=text)
            return choice
        if kind == FieldType.multi_choice:
            picked = [part.strip() for part in _text(value).split(",") if part.strip()]
            chosen = [p if p in (field.choices or ()) else (field.spellings or {}).get(p.lower()) for p in picked]
            unknown = [p for p, choice in zip(picked, chosen) if choice is None]
            if unknown:
                raise RowError("not_choice", value=", ".join(unknown))
            return chosen
        if kind == FieldType.checkbox:
            text = _text(value).lower() if not isinstance(value, bool) else ("y" if value else "n")
            if text in TRUE:
                return True
            if text in FALSE:
                return False
            raise RowError("yes_no")
        if kind == FieldType.email:
            text = _text(value)
            # A syntax check per cell: the full validator is a third of a 100,000-row check, and imported
            # requester addresses are kept as given rather than normalized.
            if len(text) > EMAIL_MAX:  # the column's length: PostgreSQL would refuse the insert
                raise RowError("too_long", n=EMAIL_MAX)
            if not EMAIL_RE.match(text):
                raise RowError("email")
            return text
        if kind == FieldType.phone:
            text = _text(value)
            if not PHONE_RE.match(text):
                raise RowError("phone")
            return text
        raise RowError("bad_type", type=kind.value)

    def validate(self, row: list, number: int) -> tuple[dict, list[dict]]:
        """The row's ticket values, and its errors as stored: {column: [Korean, English], code, args}."""
        values, errors = {}, []
        for index, field in enumerate(self.fields):
            raw = row[index] if index < len(row) else ""
            if raw is None or (isinstance(raw, str) and not _text(raw)):
                if field.required:
                    errors.append({"column": field.column, "code": "required", "args": {}})
                continue
            try:
                values[field.key] = self.convert(field, raw)
            except RowError as exc:
                errors.append({"column": field.column, "code": exc.code, "args": exc.params})
        external = values.get("external_id")
        if external:
            if external in self.seen_external:
                field = next(f for f in self.fields if f.key == "external_id")
                errors.append({"column": field.column, "code": "duplicate_external",
                               "args": {"row": self.seen_external[external]}})
            else:
                self.seen_external[external] = number
        return values, errors


def members_of(service_id: int) -> dict[str, int]:
    """Login ID (lower case) → member id of every member of the service: who a row may name as assignee."""
    return {login.lower(): member_id for login, member_id in db.session.execute(
        select(Member.login_id, Member.id).join(ServiceMember, ServiceMember.member_id == Member.id)
        .where(ServiceMember.service_id == service_id))}


def blank(row: list) -> bool:
    return all(v is None or (isinstance(v, str) and not _text(v)) for v in row)
