"""Reading a service's tickets: filters and keyset pagination (newest first)."""
from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import literal, select, tuple_

from portal.extensions import db
from portal.models import Service, Ticket, TicketStatus
from portal.models.base import UTCDateTime
from portal.services.permission_log import decode_cursor, encode_cursor

PAGE_SIZE = 50


def page(service: Service, *, status: TicketStatus | None = None, assignee_id: int | None = None,
         day_from: date | None = None, day_to: date | None = None, cursor: str | None = None,
         size: int = PAGE_SIZE) -> tuple[list[Ticket], str | None]:
    """Tickets of the service, newest first; days are the service's calendar days. Returns rows and next cursor."""
    zone = ZoneInfo(service.time_zone)
    q = select(Ticket).where(Ticket.service_id == service.id)
    if status is not None:
        q = q.where(Ticket.status == status)
    if assignee_id is not None:
        q = q.where(Ticket.assignee_id == assignee_id)
    if day_from is not None:
        q = q.where(Ticket.created_at >= datetime.combine(day_from, time.min, tzinfo=zone))
    if day_to is not None:
        q = q.where(Ticket.created_at < datetime.combine(day_to + timedelta(days=1), time.min, tzinfo=zone))
    if cursor:
        position = decode_cursor(cursor)
        if position is not None:
            when, row_id = position
            q = q.where(tuple_(Ticket.created_at, Ticket.id) < tuple_(literal(when, UTCDateTime()), literal(row_id)))
    rows = list(db.session.scalars(q.order_by(Ticket.created_at.desc(), Ticket.id.desc()).limit(size + 1)))
    more = len(rows) > size
    rows = rows[:size]
    return rows, (encode_cursor(rows[-1].created_at, rows[-1].id) if more and rows else None)
