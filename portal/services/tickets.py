"""A service's tickets: filters and keyset pagination (newest first), and assignment by hand."""
from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask_babel import gettext as _
from sqlalchemy import select, update

from portal.extensions import db
from portal.labels import state_label, ticket_status_label
from portal.models import Member, MemberStatus, Service, ServiceMember, Ticket, TicketStatus
from portal.models.base import utcnow
from portal.services import Actor, ServiceError, activity, agent_states, assignment
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
        if member.status == MemberStatus.disabled:  # cannot log in: the ticket would wait for no one
            raise ServiceError(_("%(name)s is disabled: enable the member first.", name=member.name), "member_disabled")
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
        if assignee_id is None:  # back in the queue: someone else eligible takes it
            assignment.assign_waiting(ticket.service_id, ticket_ids=[ticket.id], exclude_member_ids=[before])
            db.session.refresh(ticket)
    warnings = []
    if member is not None and not member.assignment_on:
        warnings.append(_("%(name)s has turned assignment off; the ticket is theirs all the same.", name=member.name))
    if member is not None:
        states = agent_states.current(member.id)
        away = sorted({i.state for i in states.values() if i.state in assignment.AWAY_STATES})
        if away:
            warnings.append(_("%(name)s is away (%(state)s); the ticket waits until they are back.", name=member.name,
                              state=", ".join(state_label("phone", s) for s in away)))
        elif not states:
            warnings.append(_("%(name)s is offline; the ticket waits until they log in.", name=member.name))
    return warnings


# -- a ticket's life: status changes and the Open API's creation ----------------------------------------------

# What may follow what. Returning to the queue (unassigned) is a move of its own (`return_to_queue`).
NEXT_STATUS = {
    TicketStatus.in_progress: (TicketStatus.resolved,),
    TicketStatus.resolved: (TicketStatus.completed, TicketStatus.in_progress),
    TicketStatus.completed: (),
    TicketStatus.unassigned: (),
}


def may_work_on(member: Member, ticket: Ticket) -> bool:
    """The assignee, a manager of the ticket's service, or an org admin."""
    if member.organization_id != ticket.organization_id:
        return False
    if member.is_org_admin or ticket.assignee_id == member.id:
        return True
    link = db.session.scalars(select(ServiceMember).where(ServiceMember.service_id == ticket.service_id,
                                                          ServiceMember.member_id == member.id)).first()
    return link is not None and link.role.value == "manager"


def set_status(actor: Actor, ticket: Ticket, status: str) -> Ticket:
    """Move the ticket on (in progress → resolved → completed, or a resolved one back in progress). Resolving frees
    the assignee's capacity at once: their service's waiting tickets are offered to them."""
    try:
        target = TicketStatus(status)
    except ValueError:
        raise ServiceError(_("Unknown status."), "bad_status") from None
    if target not in NEXT_STATUS[ticket.status]:
        raise ServiceError(_("A ticket that is %(now)s cannot become %(next)s.", now=ticket_status_label(ticket.status),
                             next=ticket_status_label(target)), "bad_transition")
    if target == TicketStatus.in_progress and ticket.assignee_id is None:
        raise ServiceError(_("Assign the ticket first."), "no_assignee")
    before = ticket.status
    done = db.session.execute(update(Ticket).where(Ticket.id == ticket.id, Ticket.status == before)
                              .values(status=target, updated_at=utcnow(),
                                      closed_at=utcnow() if target == TicketStatus.completed else None)
                              .execution_options(synchronize_session=False))
    if done.rowcount != 1:  # someone else moved it first
        raise ServiceError(_("The ticket changed meanwhile; look again."), "changed")
    db.session.refresh(ticket)
    activity.record(actor.organization_id, actor.member_id, "ticket.status", subject_type="ticket",
                    subject_id=ticket.id, subject_label=f"#{ticket.number}",
                    details={"from": before.value, "to": target.value}, ip=actor.ip)
    if before == TicketStatus.in_progress and ticket.assignee_id is not None:
        assignment.assign_waiting(ticket.service_id, member_ids=[ticket.assignee_id])
    return ticket


def return_to_queue(actor: Actor, ticket: Ticket) -> Ticket:
    """Unassign a ticket not yet resolved: it waits in the queue (and goes to someone else eligible at once)."""
    if ticket.status not in (TicketStatus.in_progress, TicketStatus.unassigned) or ticket.assignee_id is None:
        raise ServiceError(_("Only a ticket in progress can go back to the queue."), "not_in_progress")
    assign(actor, ticket, None)
    return ticket


def history(ticket: Ticket) -> list:
    """The ticket's assignment and status changes, oldest first (from the activity trail)."""
    from portal.models import Activity
    return list(db.session.scalars(select(Activity).where(
        Activity.subject_type == "ticket", Activity.subject_id == ticket.id,
        Activity.organization_id == ticket.organization_id).order_by(Activity.created_at, Activity.id)))


API_CHANNELS = ("web", "email")


class TicketInvalid(ServiceError):
    """The ticket's values do not pass the service's fields: `errors` as the migration stores them
    ({column: [Korean, English], code, args}), `unknown` the keys no field has."""

    def __init__(self, errors: list[dict], unknown: list[str] | None = None):
        super().__init__(_("The ticket's values are not valid."), "invalid_ticket",
                         {"errors": errors, "unknown": unknown or []})
        self.errors, self.unknown = errors, unknown or []


def find_by_key(service: Service, key: str) -> Ticket | None:
    return db.session.scalars(select(Ticket).where(Ticket.service_id == service.id,
                                                   Ticket.idempotency_key == key)).first()


def create(actor: Actor, service: Service, values: dict, *, idempotency_key: str | None = None) -> Ticket:
    """A ticket from outside (the Open API): `values` keyed by the service's field keys (system and custom),
    validated exactly as a migration row is; the channel is web or e-mail; an assignee is a login ID of a
    member of the service. A ticket without assignee goes to the queue and is offered at once."""
    from portal.services.migration_rows import RowValidator
    from portal.services.ticket_fields import fields_of
    if not service.is_usable:
        raise ServiceError(_("%(name)s is not active: it takes no new tickets.", name=service.name),
                           "service_not_active")
    fields = fields_of(service)
    known = {f.key for f in fields} - {"status", "created_at", "closed_at"}
    unknown = sorted(k for k in values if k not in known)
    channel = values.get("channel") or "web"
    if unknown:
        raise TicketInvalid([], unknown)
    if channel not in API_CHANNELS:
        field = next(f for f in fields if f.key == "channel")
        raise TicketInvalid([{"column": [field.label_ko, field.label_en], "code": "not_choice",
                              "args": {"value": str(channel)[:100]}}])
    row = [values.get(f.key) if f.key not in ("status", "created_at", "closed_at") else None for f in fields]
    row = [", ".join(map(str, v)) if isinstance(v, list) else v for v in row]
    checked, errors = RowValidator(service, fields).validate(row, 1)
    if errors:
        raise TicketInvalid(errors)
    custom = {f.key: (checked[f.key].isoformat() if isinstance(checked.get(f.key), datetime) else checked[f.key])
              for f in fields if not f.system and f.key in checked}
    tags = [t.strip() for t in checked.get("tags", "").split(",") if t.strip()] if checked.get("tags") else None
    assignee = checked.get("assignee")
    if assignee is not None and db.session.get(Member, assignee).status == MemberStatus.disabled:
        field = next(f for f in fields if f.key == "assignee")
        raise TicketInvalid([{"column": [field.label_ko, field.label_en], "code": "member_disabled",
                              "args": {"login": str(values.get("assignee"))[:100]}}])
    now = utcnow()
    ticket = Ticket(organization_id=service.organization_id, service_id=service.id,
                    number=reserve_numbers(service.id), title=checked["title"], body=checked.get("body") or None,
                    status=TicketStatus.in_progress if assignee else TicketStatus.unassigned,
                    priority=checked.get("priority") or "normal", channel=channel,
                    requester_name=checked.get("requester_name") or None,
                    requester_email=checked.get("requester_email") or None,
                    requester_phone=checked.get("requester_phone") or None, assignee_id=assignee,
                    category=checked.get("category") or None, tags=tags, custom=custom or None,
                    external_id=checked.get("external_id") or None, created_at=now, updated_at=now,
                    idempotency_key=idempotency_key)
    db.session.add(ticket)
    db.session.flush()
    activity.record(actor.organization_id, actor.member_id, "ticket.created", subject_type="ticket",
                    subject_id=ticket.id, subject_label=f"#{ticket.number}",
                    details={"channel": channel, "to": assignee}, ip=actor.ip)
    if assignee is None:
        assignment.assign_waiting(service.id, ticket_ids=[ticket.id])
        db.session.refresh(ticket)
    return ticket
