"""Reading the permission change log: filters, keyset pagination, export rows."""
from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from flask_babel import gettext as _
from sqlalchemy import Select, func, literal, or_, select, tuple_

from portal.extensions import db
from portal.models import Member, Operation, PermissionChange
from portal.models.base import UTCDateTime, utcnow
from portal.services import ServiceError

PAGE_SIZE = 50
MAX_RANGE = timedelta(days=366)


@dataclass
class LogFilter:
    start: datetime
    end: datetime
    operation: Operation | None = None
    target: str = ""
    actor: str = ""
    service_id: int | None = None
    errors: list[str] = field(default_factory=list)


def default_range(now: datetime | None = None) -> tuple[datetime, datetime]:
    now = now or utcnow()
    return now - timedelta(days=7), now


def make_filter(*, start: datetime | None, end: datetime | None, operation: str = "", target: str = "",
                actor: str = "", service_id: int | None = None) -> LogFilter:
    """Check the filters: a reversed or over-a-year range and an unknown operation are refused."""
    default_start, default_end = default_range()
    start, end = start or default_start, end or default_end
    if start > end:
        raise ServiceError(_("The start of the period must be before its end."), "reversed_range")
    if end - start > MAX_RANGE:
        raise ServiceError(_("Search at most one year at a time."), "range_too_long")
    op = None
    if operation:
        if operation not in Operation._value2member_map_:
            raise ServiceError(_("Unknown operation: %(op)s.", op=operation), "bad_operation")
        op = Operation(operation)
    return LogFilter(start, end, op, (target or "").strip()[:100], (actor or "").strip()[:100], service_id)


def _member_ids(organization_id: int, text: str):
    """Members whose name or login ID contains `text` (a subquery, so the index on the member column is used)."""
    needle = text.lower()
    return select(Member.id).where(
        Member.organization_id == organization_id,
        or_(func.lower(Member.name).contains(needle, autoescape=True),
            func.lower(Member.login_id).contains(needle, autoescape=True)))


def query(organization_id: int, flt: LogFilter) -> Select:
    q = select(PermissionChange).where(
        PermissionChange.organization_id == organization_id,
        PermissionChange.created_at >= flt.start, PermissionChange.created_at <= flt.end)
    if flt.operation is not None:
        q = q.where(PermissionChange.operation == flt.operation)
    if flt.service_id is not None:
        q = q.where(PermissionChange.service_id == flt.service_id)
    if flt.target:
        q = q.where(PermissionChange.target_member_id.in_(_member_ids(organization_id, flt.target)))
    if flt.actor:
        q = q.where(PermissionChange.actor_id.in_(_member_ids(organization_id, flt.actor)))
    return q


def encode_cursor(row: PermissionChange) -> str:
    raw = json.dumps([row.created_at.isoformat(), row.id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, int] | None:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        when, row_id = json.loads(base64.urlsafe_b64decode(padded.encode()))
        return datetime.fromisoformat(when).astimezone(timezone.utc), int(row_id)
    except (ValueError, TypeError, json.JSONDecodeError):
        return None


def page(organization_id: int, flt: LogFilter, cursor: str | None = None,
         size: int = PAGE_SIZE) -> tuple[list[PermissionChange], str | None]:
    """Newest first, `size` rows after `cursor`; returns the rows and the cursor of the next page (or None).
    Keyset pagination: a deep page costs what the first one does."""
    q = query(organization_id, flt)
    if cursor:
        position = decode_cursor(cursor)
        if position is None:
            raise ServiceError(_("The page link is not valid. Start the search again."), "bad_cursor")
        when, row_id = position
        q = q.where(tuple_(PermissionChange.created_at, PermissionChange.id)
                    < tuple_(literal(when, UTCDateTime()), literal(row_id)))
    rows = list(db.session.scalars(
        q.order_by(PermissionChange.created_at.desc(), PermissionChange.id.desc()).limit(size + 1)))
    more = len(rows) > size
    rows = rows[:size]
    return rows, (encode_cursor(rows[-1]) if more and rows else None)


def export_rows(organization_id: int, flt: LogFilter):
    """Every matching row, newest first, fetched in batches (never the whole result in memory)."""
    q = query(organization_id, flt).order_by(PermissionChange.created_at.desc(), PermissionChange.id.desc())
    yield from db.session.scalars(q.execution_options(yield_per=1000))
