"""Who gets a ticket (SPEC 할당): the member's assignment switch and automatic assignment per service.

**Eligible** for an automatic ticket of a service is a member who
- is active, with the ticket permission in the service and the assignment switch on;
- is *present* there: an open state interval in the service that is neither offline nor away, and no open
  interval anywhere in an away state (break, meal, training, reporting, meeting, coaching);
- holds fewer tickets in progress in the service than their capacity (the member's override on the service
  membership, else the service's).

**Order.** Round-robin gives the next ticket to the eligible member assigned least recently
(`ServiceMember.last_assigned_at`, then id), so equal agents end within one ticket of each other; least-loaded
to the one with the fewest tickets in progress (ties: least recently assigned). A call's ticket keeps going to
the agent on the call; tickets waiting in the queue go out oldest first.

**What the database guarantees** whatever runs at once (web processes, workers): a ticket is assigned once (it
is claimed with FOR UPDATE SKIP LOCKED on PostgreSQL, under SQLite's write lock, and updated only while still
unassigned), and automatic assignment never puts a member over capacity: the memberships of the candidates are
locked (in id order, so two assigners wait rather than deadlock) before their tickets in progress are counted,
and every automatic assigner takes those locks. A manager assigning by hand may go over capacity (as today for
an away agent); automatic assignment then passes the member by until they are under it again.

**When.** A new ticket is offered at once (`assign_waiting(ticket_ids=…)`); waiting tickets go out the moment
someone becomes eligible: a state change to present, the switch back on, a ticket resolved or returned freeing
capacity, a larger capacity, automatic assignment turned on. The minute sweep drains what is left (a safety
net, like the scheduled return of a switch turned off "until")."""
from __future__ import annotations

import heapq
import json
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from flask_babel import gettext as _
from sqlalchemy import Integer, String, bindparam, cast, func, insert, literal, null, select, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import aliased

from portal.extensions import db
from portal.models import (Activity, AgentStateInterval, AssignMode, Member, MemberStatus, MigrationBatch, Service,
                           ServiceMember, ServiceRole, ServiceStatus, Ticket, TicketStatus)
from portal.models.base import UTCDateTime, utcnow
from portal.services import Actor, ServiceError, activity
from portal.services.jobs import enqueue_after_commit

AWAY_STATES = ("break", "meal", "training", "reporting", "meeting", "coaching")
ABSENT_STATES = ("offline", *AWAY_STATES)
NOTE_MAX = 200
OFF_UNTIL_MAX = timedelta(days=366)
CAPACITY_MIN, CAPACITY_MAX = 1, 999
NEVER = datetime(1970, 1, 1, tzinfo=timezone.utc)  # last_assigned_at of a member never assigned: first in line
DRAIN_CHUNK = 1000  # tickets per transaction when a whole queue drains (a job commits between chunks)
_TICKET, _LINK, _ACTIVITY = Ticket.__table__, ServiceMember.__table__, Activity.__table__  # Core: one statement a round


# -- the switch ----------------------------------------------------------------------------------------------

def can_switch(actor: Member, member: Member) -> bool:
    """The member themself, an org admin of their organization, or a manager of a service the member belongs to."""
    if actor.organization_id != member.organization_id:
        return False
    if actor.id == member.id or actor.is_org_admin:
        return True
    managed = select(ServiceMember.service_id).where(ServiceMember.member_id == actor.id,
                                                     ServiceMember.role == ServiceRole.manager)
    return db.session.scalar(select(func.count()).select_from(ServiceMember).where(
        ServiceMember.member_id == member.id, ServiceMember.service_id.in_(managed))) > 0


def _clean_note(raw: str | None) -> str | None:
    text = " ".join("".join(c if c.isprintable() else " " for c in (raw or "")).split())
    if len(text) > NOTE_MAX:
        raise ServiceError(_("Keep the note under %(n)d characters.", n=NOTE_MAX), "note_too_long")
    return text or None


def switch(actor: Actor, member: Member, on: bool, *, until: datetime | None = None, note: str | None = None,
           return_tickets: bool = False, now: datetime | None = None) -> int:
    """Turn the member's assignment on or off. Off may end by itself at `until` (after now, within a year) and
    may return the member's tickets in progress to their queues. Someone else must give a reason (the note).
    Recorded in the activity trail with before, after and reason. Returns the tickets returned to the queue."""
    now = now or utcnow()
    if member.status == MemberStatus.disabled:
        raise ServiceError(_("%(name)s is disabled: enable the member first.", name=member.name), "member_disabled")
    note = _clean_note(note)
    by_other = actor.member_id != member.id
    if by_other and not note:
        raise ServiceError(_("Give a reason when you switch another member's assignment."), "reason_required")
    if on:
        until = None
    elif until is not None:
        if until <= now:
            raise ServiceError(_("Choose a time in the future for assignment to come back on."), "until_past")
        if until > now + OFF_UNTIL_MAX:
            raise ServiceError(_("Assignment can be off until at most a year from now."), "until_too_far")
    before = _switch_values(member)
    member.assignment_on = on
    member.assignment_off_until = until
    member.assignment_note = note
    member.assignment_by_id = actor.member_id if by_other else None
    member.assignment_changed_at = now
    db.session.flush()
    activity.record(member.organization_id, actor.member_id, "member.assignment", subject_type="member",
                    subject_id=member.id, subject_label=member.login_id,
                    details={"before": before, "after": _switch_values(member), "reason": note}, ip=actor.ip)
    returned = 0
    if not on and return_tickets:
        returned = return_to_queue(actor, member)
    if on:
        offer_to(member)
    elif until is not None:
        enqueue_after_commit("assignment.back_on", member.id, job_id=f"assign-on-{member.id}-{int(until.timestamp())}",
                             at=until)
    return returned


def _switch_values(member: Member) -> dict:
    return {"on": member.assignment_on,
            "until": member.assignment_off_until.isoformat() if member.assignment_off_until else None}


def back_on_due(now: datetime | None = None, member_id: int | None = None) -> list[int]:
    """Members whose "off until" has passed get assignment back (the scheduled job, and the minute sweep for a
    job Redis lost). Returns the members switched on."""
    now = now or utcnow()
    q = select(Member).where(Member.assignment_on.is_(False), Member.assignment_off_until.is_not(None),
                             Member.assignment_off_until <= now)
    if member_id is not None:
        q = q.where(Member.id == member_id)
    moved = []
    for member in db.session.scalars(q.order_by(Member.id).with_for_update()):
        before = _switch_values(member)
        member.assignment_on, member.assignment_off_until = True, None
        member.assignment_by_id, member.assignment_changed_at = None, now
        db.session.flush()
        activity.record(member.organization_id, None, "member.assignment", subject_type="member",
                        subject_id=member.id, subject_label=member.login_id,
                        details={"before": before, "after": _switch_values(member), "reason": None,
                                 "code": "until_passed"})
        offer_to(member)
        moved.append(member.id)
    return moved


def return_to_queue(actor: Actor, member: Member) -> int:
    """The member's tickets in progress (every service) go back to their queues, unassigned; each is recorded.
    Other eligible agents get them at once where the service assigns automatically."""
    rows = db.session.execute(select(Ticket.id, Ticket.number, Ticket.service_id).where(
        Ticket.assignee_id == member.id, Ticket.status == TicketStatus.in_progress).with_for_update()).all()
    if not rows:
        return 0
    now = utcnow()
    db.session.execute(update(Ticket).where(Ticket.id.in_([r.id for r in rows]), Ticket.assignee_id == member.id,
                                            Ticket.status == TicketStatus.in_progress)
                       .values(assignee_id=None, status=TicketStatus.unassigned, updated_at=now)
                       .execution_options(synchronize_session=False))
    db.session.execute(insert(Activity), [
        {"organization_id": member.organization_id, "actor_id": actor.member_id, "action": "ticket.returned",
         "subject_type": "ticket", "subject_id": r.id, "subject_label": f"#{r.number}",
         "details": {"from": member.id, "to": None}, "ip": actor.ip, "created_at": now} for r in rows])
    for service_id in sorted({r.service_id for r in rows}):
        assign_waiting(service_id, ticket_ids=[r.id for r in rows if r.service_id == service_id])
    return len(rows)


# -- eligibility and capacity --------------------------------------------------------------------------------

def capacity_of(service: Service, link: ServiceMember) -> int:
    return link.ticket_capacity or service.ticket_capacity


def set_capacity(actor: Actor, service: Service, capacity, member: Member | None = None) -> int | None:
    """The service's capacity, or (with `member`) the member's override in the service (None or "": the service's).
    1..999. Raising it offers waiting tickets at once."""
    from portal.services import whole_number
    raw = "" if capacity is None else str(capacity).strip()
    value = None if (member is not None and raw == "") else whole_number(raw, CAPACITY_MIN, CAPACITY_MAX)
    if value is None and not (member is not None and raw == ""):
        raise ServiceError(_("Capacity is a whole number from %(low)d to %(high)d.", low=CAPACITY_MIN,
                             high=CAPACITY_MAX), "bad_capacity")
    if member is None:
        before, service.ticket_capacity = service.ticket_capacity, value
        subject = ("service", service.id, service.service_key)
    else:
        link = db.session.scalars(select(ServiceMember).where(ServiceMember.service_id == service.id,
                                                              ServiceMember.member_id == member.id)).first()
        if link is None:
            raise ServiceError(_("%(name)s is not a member of this service.", name=member.name), "not_a_member")
        before, link.ticket_capacity = link.ticket_capacity, value
        subject = ("member", member.id, member.login_id)
    db.session.flush()
    if before != value:
        activity.record(actor.organization_id, actor.member_id, "service.ticket_capacity", subject_type=subject[0],
                        subject_id=subject[1], subject_label=subject[2],
                        details={"service": service.service_key, "from": before, "to": value}, ip=actor.ip)
        drain_later(service.id)
    return value


def set_mode(actor: Actor, service: Service, auto: bool, mode: str) -> None:
    """Turn automatic assignment on or off and choose its order; turning it on drains the waiting queue."""
    try:
        mode = AssignMode(mode)
    except ValueError:
        raise ServiceError(_("Choose round-robin or least-loaded."), "bad_mode") from None
    before = {"auto": service.auto_assign, "mode": service.assign_mode.value}
    service.auto_assign, service.assign_mode = bool(auto), mode
    db.session.flush()
    after = {"auto": service.auto_assign, "mode": service.assign_mode.value}
    if before != after:
        activity.record(actor.organization_id, actor.member_id, "service.assignment", subject_type="service",
                        subject_id=service.id, subject_label=service.service_key,
                        details={"before": before, "after": after}, ip=actor.ip)
        if service.auto_assign:
            drain_later(service.id)


def _present_here(service_id: int):
    return select(AgentStateInterval.member_id).where(
        AgentStateInterval.service_id == service_id, AgentStateInterval.ended_at.is_(None),
        AgentStateInterval.state.not_in(ABSENT_STATES))


def _away_anywhere():
    return select(AgentStateInterval.member_id).where(AgentStateInterval.ended_at.is_(None),
                                                      AgentStateInterval.state.in_(AWAY_STATES))


def _candidates(service: Service, member_ids=None, exclude_member_ids=None):
    q = (select(ServiceMember.id, ServiceMember.member_id, ServiceMember.ticket_capacity, ServiceMember.last_assigned_at)
         .join(Member, Member.id == ServiceMember.member_id)
         .where(ServiceMember.service_id == service.id, ServiceMember.can_ticket.is_(True),
                Member.status == MemberStatus.active, Member.assignment_on.is_(True),
                ServiceMember.member_id.in_(_present_here(service.id)),
                ServiceMember.member_id.not_in(_away_anywhere())))
    if member_ids is not None:
        q = q.where(ServiceMember.member_id.in_(list(member_ids)))
    excluded = [m for m in (exclude_member_ids or ()) if m is not None]
    if excluded:
        q = q.where(ServiceMember.member_id.not_in(excluded))
    return db.session.execute(q).all()


def loads(service_id: int, member_ids=None) -> dict[int, int]:
    """Tickets in progress per assignee in the service."""
    q = (select(Ticket.assignee_id, func.count()).where(Ticket.service_id == service_id,
                                                        Ticket.status == TicketStatus.in_progress,
                                                        Ticket.assignee_id.is_not(None))
         .group_by(Ticket.assignee_id))
    if member_ids is not None:
        q = q.where(Ticket.assignee_id.in_(list(member_ids)))
    return dict(db.session.execute(q).all())


def automatic():
    """Which waiting tickets automatic assignment takes: all but a migration's applied without "assign after the
    apply" (imported history that waits for a person to pick it up)."""
    return Ticket.source_batch_id.is_(None) | Ticket.source_batch_id.in_(
        select(MigrationBatch.id).where(MigrationBatch.assign_after_apply.is_(True)))


@dataclass
class _Slot:
    member_id: int
    link_id: int
    free: int
    load: int
    last: datetime


def assign_waiting(service_id: int, *, ticket_ids=None, member_ids=None, exclude_member_ids=None,
                   limit: int = DRAIN_CHUNK, now: datetime | None = None) -> dict[int, int]:
    """Give waiting tickets of the service (all, oldest first, or only `ticket_ids`) to eligible members (all, or
    only `member_ids`) within their capacity, in the service's order. Returns {ticket id: member id} of what was
    assigned. Nothing happens when the service does not assign automatically or is not active."""
    service = db.session.get(Service, service_id)
    if service is None or not service.auto_assign or service.status != ServiceStatus.active:
        return {}
    # The service's row first, before anything is read: what made this call (a new or returned ticket, an agent
    # now eligible or with room) was written before it, so of two such changes at once the second to get here
    # waits for the first's commit and sees both (no ticket left waiting beside an agent with room). It is also
    # the lock a new ticket's number takes (tickets.reserve_numbers), so a transaction that both assigns and
    # creates tickets (a CTI batch: a state change, then a call) takes the locks in the same order as every
    # other: member rows (agent_states.lock_members), service row, memberships in id order, tickets skipped
    # when locked. Before it, such a batch and a new ticket deadlocked (PostgreSQL killed one of them).
    db.session.execute(select(Service.id).where(Service.id == service_id).with_for_update(key_share=True)).all()
    if ticket_ids is not None:
        ticket_ids = list(ticket_ids)
        if not ticket_ids:
            return {}
    elif not db.session.scalar(select(Ticket.id).where(Ticket.service_id == service_id,
                                                        Ticket.status == TicketStatus.unassigned, automatic()).limit(1)):
        return {}
    candidates = _candidates(service, member_ids, exclude_member_ids)
    if not candidates:
        return {}
    with db.session.begin_nested():  # SQLite: BEGIN IMMEDIATE before the reads below (transactions.py)
        # Every automatic assigner locks the memberships it may assign to, in id order, before counting.
        db.session.execute(select(ServiceMember.id).where(ServiceMember.id.in_([c.id for c in candidates]))
                           .order_by(ServiceMember.id).with_for_update()).all()
        counted = loads(service_id, [c.member_id for c in candidates])
        slots = []
        for c in candidates:
            load = counted.get(c.member_id, 0)
            free = (c.ticket_capacity or service.ticket_capacity) - load
            if free > 0:
                slots.append(_Slot(c.member_id, c.id, free, load, c.last_assigned_at or NEVER))
        if not slots:
            return {}
        want = min(limit, sum(s.free for s in slots))
        q = (select(Ticket.id).where(Ticket.service_id == service_id, Ticket.status == TicketStatus.unassigned,
                                     Ticket.assignee_id.is_(None), automatic())
             .order_by(Ticket.created_at, Ticket.id).limit(want).with_for_update(skip_locked=True))
        if ticket_ids is not None:
            q = q.where(Ticket.id.in_(ticket_ids))
        claimed = db.session.execute(q).all()
        if not claimed:
            return {}
        given = _distribute(service.assign_mode, slots, [t.id for t in claimed])
        now = now or utcnow()
        # One statement a round for each write, whatever the number of tickets (was one per ticket and member).
        rows = _rows({"tid": (Integer(), list(given)), "mid": (Integer(), list(given.values()))})
        done = set(db.session.scalars(
            update(_TICKET).where(_TICKET.c.id == rows.c.tid, _TICKET.c.status == TicketStatus.unassigned.value,
                                  _TICKET.c.assignee_id.is_(None))
            .values(assignee_id=rows.c.mid, status=TicketStatus.in_progress.value, updated_at=now)
            .returning(_TICKET.c.id)))
        given = {t: m for t, m in given.items() if t in done}  # all of them: claimed under lock, still unassigned
        if not given:
            return {}
        # The order in which members got their last ticket carries over to the next round (microseconds apart).
        last_by_member = {}
        for i, member_id in enumerate(given.values()):
            last_by_member[member_id] = now + timedelta(microseconds=i)
        links = {s.member_id: s.link_id for s in slots}
        rows = _rows({"lid": (Integer(), [links[m] for m in last_by_member]),
                      "at": (UTCDateTime(), list(last_by_member.values()))})
        db.session.execute(update(_LINK).where(_LINK.c.id == rows.c.lid).values(last_assigned_at=rows.c.at))
        # The trail, built by the database from the tickets just assigned: a row per ticket.
        pg = db.session.get_bind().dialect.name == "postgresql"
        details = (func.json_build_object if pg else func.json_object)(
            literal("from", String), null(), literal("to", String), _TICKET.c.assignee_id,
            literal("auto", String), literal(service.assign_mode.value, String))
        db.session.execute(insert(_ACTIVITY).from_select(
            ["organization_id", "actor_id", "action", "subject_type", "subject_id", "subject_label", "details",
             "created_at"],
            select(_TICKET.c.organization_id, null(), literal("ticket.assigned", String), literal("ticket", String),
                   _TICKET.c.id, literal("#", String) + cast(_TICKET.c.number, String), details,
                   literal(now, UTCDateTime)).where(_TICKET.c.id.in_(list(given)))))
    return given


def _rows(columns: dict[str, tuple]) -> object:
    """Rows given column by column ({name: (type, values)}) as one table to join in a single statement, whatever
    their number: unnest of one array per column on PostgreSQL, json_each of one JSON array on SQLite (values
    converted as the column type stores them)."""
    dialect = db.session.get_bind().dialect
    names = list(columns)
    if dialect.name == "postgresql":
        arrays = [bindparam(f"rows_{name}", values, type_=ARRAY(type_)) for name, (type_, values) in columns.items()]
        return func.unnest(*arrays).table_valued(*names).render_derived(name="v")
    stored = []
    for type_, values in columns.values():
        convert = type_.dialect_impl(dialect).bind_processor(dialect)
        stored.append([convert(v) for v in values] if convert else list(values))
    each = func.json_each(bindparam("rows", json.dumps(list(zip(*stored))))).table_valued("value")
    return select(*[func.json_extract(each.c.value, f"$[{i}]").label(name) for i, name in enumerate(names)]
                  ).subquery("v")


def _distribute(mode: AssignMode, slots: list[_Slot], tickets: list[int]) -> dict[int, int]:
    """Tickets (oldest first) to slots: round-robin in the order of last assignment, least-loaded by load then
    that order. A member given a ticket goes to the end of the line."""
    given: dict[int, int] = {}
    line = sorted(slots, key=lambda s: (s.last, s.member_id))
    if mode == AssignMode.least_loaded:
        heap = [(s.load, turn, s) for turn, s in enumerate(line)]
        heapq.heapify(heap)
        turn = len(line)
        for ticket_id in tickets:
            if not heap:
                break
            load, _, slot = heapq.heappop(heap)
            given[ticket_id] = slot.member_id
            slot.free -= 1
            if slot.free > 0:
                heapq.heappush(heap, (load + 1, turn, slot))
                turn += 1
        return given
    pending = iter(tickets)
    while line:
        for slot in list(line):
            ticket_id = next(pending, None)
            if ticket_id is None:
                return given
            given[ticket_id] = slot.member_id
            slot.free -= 1
            if slot.free <= 0:
                line.remove(slot)
    return given


def offer_to(member: Member) -> dict[int, int]:
    """The member may have become eligible (back on, present, capacity freed): offer each of their services'
    waiting tickets to them."""
    given = {}
    for service_id in db.session.scalars(select(ServiceMember.service_id).join(Service).where(
            ServiceMember.member_id == member.id, ServiceMember.can_ticket.is_(True), Service.auto_assign.is_(True))
            .order_by(ServiceMember.service_id)):  # services locked in one order (assign_waiting)
        given.update(assign_waiting(service_id, member_ids=[member.id]))
    return given


def became_present(member_id: int, service_id: int | None, before: str | None, after: str | None) -> None:
    """A state change: when the member went from absent to present, offer them the service's waiting tickets."""
    if service_id is None or after in ABSENT_STATES or after is None:
        return
    if before is not None and before not in ABSENT_STATES:
        return
    assign_waiting(service_id, member_ids=[member_id])


def drain_later(service_id: int) -> None:
    """Drain the service's whole queue in a job (chunked; the minute sweep does it too if Redis loses the job)."""
    enqueue_after_commit("assignment.drain", service_id, job_id=f"assign-drain-{service_id}")


def drain(service_id: int) -> int:
    """Assign waiting tickets of the service until no one eligible has room; a job commits each chunk."""
    return len(assign_waiting(service_id))


def services_with_waiting() -> list[int]:
    """Services that assign automatically and have tickets waiting (the sweep's work)."""
    waiting = select(Ticket.service_id).where(Ticket.status == TicketStatus.unassigned, automatic()).distinct()
    return list(db.session.scalars(select(Service.id).where(
        Service.auto_assign.is_(True), Service.status == ServiceStatus.active, Service.id.in_(waiting))
        .order_by(Service.id)))


# -- what the pages show -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Switch:
    on: bool
    until: datetime | None
    note: str | None
    by_name: str | None  # who switched it, when not the member
    changed_at: datetime | None


def switch_of(member: Member) -> Switch:
    by = db.session.get(Member, member.assignment_by_id) if member.assignment_by_id else None
    return Switch(member.assignment_on, member.assignment_off_until, member.assignment_note,
                  by.name if by else None, member.assignment_changed_at)


def switches(member_ids) -> dict[int, Switch]:
    """The switch of many members in one query (board, members page)."""
    ids = list(member_ids)
    if not ids:
        return {}
    by = aliased(Member)
    rows = db.session.execute(select(Member.id, Member.assignment_on, Member.assignment_off_until,
                                     Member.assignment_note, by.name, Member.assignment_changed_at)
                              .outerjoin(by, by.id == Member.assignment_by_id).where(Member.id.in_(ids))).all()
    return {r[0]: Switch(r[1], r[2], r[3], r[4], r[5]) for r in rows}


@dataclass(frozen=True)
class Workload:
    """What the board and the members page show of one member: the switch, tickets in progress, capacity."""
    switch: Switch
    open: int
    capacity: int

    @property
    def full(self) -> bool:
        return self.open >= self.capacity


def workloads(service: Service, overrides: dict[int, int | None]) -> dict[int, Workload]:
    """Members (id → their capacity override in the service) with their switch, load and capacity: two queries
    whatever their number (`switches` and `loads`)."""
    found, counted = switches(overrides), loads(service.id)
    return {member_id: Workload(found[member_id], counted.get(member_id, 0), override or service.ticket_capacity)
            for member_id, override in overrides.items() if member_id in found}
