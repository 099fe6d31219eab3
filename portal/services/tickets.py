"""A service's tickets: filters and keyset pagination (newest first), and assignment by hand."""
from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask_babel import gettext as _
from sqlalchemy import select, update

from portal.extensions import db
from portal.labels import state_label
from portal.models import Member, Service, ServiceMember, Ticket, TicketStatus
from portal.models.base import utcnow
from portal.services import ServiceError, activity, agent_states
from portal.services.pagination import decode_cursor, encode_cursor, keyset_before

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
            q = q.where(keyset_before(Ticket.created_at, Ticket.id, position))
    rows = list(db.session.scalars(q.order_by(Ticket.created_at.desc(), Ticket.id.desc()).limit(size + 1)))
    more = len(rows) > size
    rows = rows[:size]
    return rows, (encode_cursor(rows[-1].created_at, rows[-1].id) if more and rows else None)


def reserve_numbers(service_id: int, count: int = 1) -> int:
    """Reserve `count` consecutive ticket numbers of the service and return the first. One UPDATE of the
    service's counter: concurrent reservations wait for each other on that row (or SQLite's write lock), so no
    number is handed out twice. A call's ticket commits or rolls back with its reservation; a migration reserves
    its chunk's numbers in a transaction of their own, so the row is never held while tickets are inserted
    (migration.apply)."""
    last = db.session.execute(update(Service).where(Service.id == service_id)
                              .values(ticket_seq=Service.ticket_seq + count).returning(Service.ticket_seq)
                              .execution_options(synchronize_session=False)).scalar_one()
    return last - count + 1


AWAY_STATES = {"break", "meal", "training", "reporting", "meeting", "coaching"}


def assign(actor, ticket: Ticket, assignee_id: int | None) -> list[str]:
    """Give the ticket to a member of its service (or take it back: None). Unassigned tickets go in progress
    and back. Returns warnings that do not stop the assignment: the agent is away (break, meal, …) or offline,
    so the ticket waits for them."""
    member = None
    if assignee_id is not None:
        member = db.session.scalars(select(Member).join(ServiceMember, ServiceMember.member_id == Member.id).where(
            ServiceMember.service_id == ticket.service_id, Member.id == assignee_id)).first()
        if member is None:
            raise ServiceError(_("Assign tickets to members of this service."), "not_a_member")
    before = ticket.assignee_id
    ticket.assignee_id = assignee_id
    if assignee_id is not None and ticket.status == TicketStatus.unassigned:
        ticket.status = TicketStatus.in_progress
    elif assignee_id is None and ticket.status == TicketStatus.in_progress:
        ticket.status = TicketStatus.unassigned

    ticket.updated_at = utcnow()
    db.session.flush()
    if before != assignee_id:
        activity.record(actor.organization_id, actor.member_id, "ticket.assigned", subject_type="ticket",
                        subject_id=ticket.id, subject_label=f"#{ticket.number}",
                        details={"from": before, "to": assignee_id}, ip=actor.ip)
    warnings = []
    if member is not None:
        states = agent_states.current(member.id)
        away = sorted({i.state for i in states.values() if i.state in AWAY_STATES})
        if away:
            warnings.append(_("%(name)s is away (%(state)s); the ticket waits until they are back.", name=member.name,
                              state=", ".join(state_label("phone", s) for s in away)))
        elif not states:
            warnings.append(_("%(name)s is offline; the ticket waits until they log in.", name=member.name))
    return warnings
