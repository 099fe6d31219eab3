"""Reading the permission change log: filters, keyset pagination, export rows."""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from flask_babel import gettext as _
from sqlalchemy import Select, func, or_, select, union_all

from portal.extensions import db
from portal.models import Member, Operation, PermissionChange
from portal.models.base import utcnow
from portal.services import ServiceError
from portal.services.pagination import decode_cursor, encode_cursor, keyset_before

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


MAX_MEMBER_BRANCHES = 200


def page(organization_id: int, flt: LogFilter, cursor: str | None = None,
         size: int = PAGE_SIZE) -> tuple[list[PermissionChange], str | None]:
    """Newest first, `size` rows after `cursor`; returns the rows and the cursor of the next page (or None).
    Keyset pagination: a deep page costs what the first one does."""
    position = None
    if cursor:
        position = decode_cursor(cursor)
        if position is None:
            raise ServiceError(_("The page link is not valid. Start the search again."), "bad_cursor")
        # The cursor is the real upper bound: SQLite starts its index range at the first bound it sees.
        flt = replace(flt, end=min(flt.end, position[0]))
    rows = _by_member(organization_id, flt, position, size + 1) if flt.target or flt.actor else None
    if rows is None:
        q = query(organization_id, flt)
        if position:
            q = q.where(keyset_before(PermissionChange.created_at, PermissionChange.id, position))
        rows = list(db.session.scalars(
            q.order_by(PermissionChange.created_at.desc(), PermissionChange.id.desc()).limit(size + 1)))
    more = len(rows) > size
    rows = rows[:size]
    return rows, (encode_cursor(rows[-1].created_at, rows[-1].id) if more and rows else None)


def _by_member(organization_id: int, flt: LogFilter, position, limit: int) -> list[PermissionChange] | None:
    """Target or actor searches: read each matching member's newest rows from its own index and keep the
    newest `limit` of them all. A planner cannot know a member has three rows among millions, so the plain
    query would scan the whole period. None when too many members match (the plain query is fine then)."""
    column = PermissionChange.target_member_id if flt.target else PermissionChange.actor_id
    text = flt.target or flt.actor
    ids = list(db.session.scalars(_member_ids(organization_id, text).limit(MAX_MEMBER_BRANCHES + 1)))
    if len(ids) > MAX_MEMBER_BRANCHES:
        return None
    if not ids:
        return []
    # One branch per matching member; with both filters, branches follow the target and the actor filter stays.
    narrowed = replace(flt, target="") if flt.target else replace(flt, actor="")
    branches = []
    for member_id in ids:
        q = query(organization_id, narrowed).with_only_columns(PermissionChange.id, PermissionChange.created_at) \
            .where(column == member_id)
        if position:
            q = q.where(keyset_before(PermissionChange.created_at, PermissionChange.id, position))
        branches.append(select(*q.order_by(PermissionChange.created_at.desc(), PermissionChange.id.desc())
                               .limit(limit).subquery().c))
    merged = union_all(*branches).subquery()
    top = list(db.session.execute(select(merged.c.id).order_by(merged.c.created_at.desc(), merged.c.id.desc())
                                  .limit(limit)).scalars())
    if not top:
        return []
    found = {row.id: row for row in db.session.scalars(select(PermissionChange).where(PermissionChange.id.in_(top)))}
    return [found[i] for i in top]


def export_rows(organization_id: int, flt: LogFilter):
    """Every matching row, newest first, fetched in batches (never the whole result in memory)."""
    q = query(organization_id, flt).order_by(PermissionChange.created_at.desc(), PermissionChange.id.desc())
    yield from db.session.scalars(q.execution_options(yield_per=1000))
