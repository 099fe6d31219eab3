"""Agents' availability (SPEC 5): a phone state and a chat state, kept as intervals so time per state is exact.

Every change closes the open interval and opens the next one. Only ready (phone) and waiting (chat) make an
agent eligible. What holds for the intervals of one member and channel, whatever the order events arrive in:

- at most one is open (a partial unique index);
- none has zero length (a check constraint: a change at the very instant the open interval began replaces
  it instead of leaving an empty one);
- none overlaps another (an exclusion constraint on PostgreSQL): a change takes effect no earlier than the
  member's *boundary*, the end of the last interval or the start of the open one, and changes of one member
  run one at a time (the member's row is locked first);
- a telephony event older than the boundary is *late*: the ingest stores and logs it but does not let it
  change the state (see cti_events), so a late event never reopens a closed period nor changes the current
  state, and the state always follows the agent's latest event."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NamedTuple

from flask_babel import gettext as _
from sqlalchemy import delete, func, select, update

from portal.extensions import db
from portal.models import AgentStateInterval, Call, CtiSettings, Member, Organization, Service, ServiceMember
from portal.models.base import utcnow
from portal.services import Actor, ServiceError, assignment
from portal.services.contracts import local_midnight, local_today
from portal.services.jobs import enqueue_after_commit
from portal.services.memberships import membership

PHONE_STATES = ("offline", "ready", "inbound_call", "outbound_call", "transfer", "ticket_work", "chat_work",
                "break", "meal", "training", "reporting", "meeting", "coaching")
CHAT_STATES = ("offline", "waiting", "online", "break")
STATES = {"phone": PHONE_STATES, "chat": CHAT_STATES}
# Call states come from the telephony (CTI events), not from a click.
CALL_STATES = ("inbound_call", "outbound_call", "transfer")
ELIGIBLE = {"phone": "ready", "chat": "waiting"}
# What a supervisor can set (call states come from the telephony).
SUPERVISOR_CHOICES = {"phone": tuple(s for s in PHONE_STATES if s not in CALL_STATES), "chat": CHAT_STATES}


def current(member_id: int) -> dict[str, AgentStateInterval]:
    """The open interval per channel (a channel without one is offline)."""
    return {i.channel: i for i in db.session.scalars(select(AgentStateInterval).where(
        AgentStateInterval.member_id == member_id, AgentStateInterval.ended_at.is_(None)))}


def state_of(member_id: int, channel: str) -> str:
    interval = current(member_id).get(channel)
    return interval.state if interval else "offline"


def boundary(member_id: int, channel: str) -> datetime | None:
    """The instant up to which the member's state on `channel` is recorded: the start of the open interval or
    the end of the last one (None: never had a state). Changes take effect no earlier than this."""
    latest = db.session.execute(
        select(AgentStateInterval.started_at, AgentStateInterval.ended_at)
        .where(AgentStateInterval.member_id == member_id, AgentStateInterval.channel == channel)
        .order_by(AgentStateInterval.started_at.desc(), AgentStateInterval.id.desc()).limit(1)).first()
    return None if latest is None else (latest.ended_at or latest.started_at)


def _close(interval: AgentStateInterval, at: datetime, end_reason: str | None = None) -> None:
    """End the open interval at `at` (never before it began); one that would end the instant it began held no
    time and is removed instead, so no zero-length interval is stored."""
    at = max(at, interval.started_at)
    if at == interval.started_at:  # a statement now, not at flush: the next interval is inserted right after
        db.session.execute(delete(AgentStateInterval).where(AgentStateInterval.id == interval.id))
        db.session.expunge(interval)
    else:
        db.session.execute(update(AgentStateInterval).where(AgentStateInterval.id == interval.id,
                                                            AgentStateInterval.ended_at.is_(None))
                           .values(ended_at=at, end_reason=end_reason))
        db.session.expire(interval)


def lock_members(member_ids) -> None:
    """Lock the members whose states this transaction is about to change, in one global order (by id), before
    any of their intervals: two transactions that change the same agents in opposite orders then wait for each
    other instead of deadlocking. NO KEY UPDATE leaves inserts that only reference the member free. (SQLite
    ignores it: its write lock already runs one writer at a time.)"""
    ids = sorted(set(member_ids))
    if not ids:
        return
    lock = select(Member.id).where(Member.id.in_(ids)).order_by(Member.id).with_for_update(key_share=True)
    if db.session.get_bind().dialect.name == "sqlite":
        # sqlite3 sends BEGIN only before the first write, so the open interval read next would be read outside
        # the write lock and two changes of one agent could both insert an open interval: a savepoint begins
        # the transaction IMMEDIATE (transactions.py), holding the write lock from here to the commit.
        with db.session.begin_nested():
            db.session.execute(lock).all()
    else:
        db.session.execute(lock).all()


def change(actor: Actor, member: Member, service: Service | None, channel: str, state: str, *,
           reason: str | None = None, at: datetime | None = None, by_telephony: bool = False) -> AgentStateInterval | None:
    """Move the agent to `state` on `channel`: close the open interval at `at`, open the next one. Setting the
    state it already has changes nothing. Another person (a supervisor) must give a reason. A change dated
    before the member's boundary takes effect at the boundary, so intervals never overlap and no second is
    counted twice (the ingest does not even try with a late event)."""
    if channel not in STATES or state not in STATES[channel]:
        raise ServiceError(_("Unknown state."), "bad_state")
    if state in CALL_STATES and not by_telephony:
        raise ServiceError(_("Call states come from the telephony."), "call_state")
    if state != "offline":
        if service is None:
            raise ServiceError(_("Choose the service you work in first."), "no_service")
        link = membership(member.id, service.id)
        if link is None or not getattr(link, f"can_{channel}"):
            raise ServiceError(_("You have no %(channel)s permission in %(name)s.", channel=channel, name=service.name),
                               "no_permission")
    if actor.member_id != member.id and not by_telephony:
        if not (reason or "").strip():
            raise ServiceError(_("Give a reason when you change another agent's state."), "reason_required")
    lock_members([member.id])  # one change of a member at a time: the boundary read below stays true
    open_interval = current(member.id).get(channel)
    if open_interval is not None and open_interval.state == state and (service is None or open_interval.service_id == service.id):
        return open_interval
    now, since = at or utcnow(), boundary(member.id, channel)
    now = max(now, since) if since is not None else now
    was = open_interval.state if open_interval is not None and service is not None \
        and open_interval.service_id == service.id else None
    if open_interval is not None:
        _close(open_interval, now, ((reason or "").strip()[:24] or None) if state == "offline" else None)
    if state == "offline":
        db.session.flush()
        return None
    interval = AgentStateInterval(organization_id=member.organization_id, member_id=member.id,
                                  service_id=service.id, channel=channel, state=state, started_at=now,
                                  reason=(reason or "").strip()[:200] or None,
                                  changed_by_id=None if by_telephony else actor.member_id)
    db.session.add(interval)
    db.session.flush()
    assignment.became_present(member.id, service.id, was, state)
    return interval


def go_offline(member: Member, reason: str = "logout") -> None:
    """Close every open interval of the member (log-out): offline on every channel, the reason recorded."""
    lock_members([member.id])
    now = utcnow()
    for interval in current(member.id).values():
        _close(interval, now, reason)
    db.session.flush()


def eligible(service: Service, channel: str) -> list[int]:
    """IDs of the members who can take a new call (phone) or chat now: in the eligible state in this service,
    with the channel permission."""
    flag = ServiceMember.can_phone if channel == "phone" else ServiceMember.can_chat
    return list(db.session.scalars(
        select(AgentStateInterval.member_id)
        .join(ServiceMember, (ServiceMember.member_id == AgentStateInterval.member_id)
              & (ServiceMember.service_id == service.id))
        .where(AgentStateInterval.service_id == service.id, AgentStateInterval.channel == channel,
               AgentStateInterval.state == ELIGIBLE[channel], AgentStateInterval.ended_at.is_(None), flag.is_(True))))


# -- activity and the idle timeout ---------------------------------------------------------------------------

SEEN_EVERY = timedelta(seconds=60)


def touch(member: Member, now: datetime | None = None) -> bool:
    """Record that the member did something (at most one write a minute). Returns True when written."""
    now = now or utcnow()
    if member.last_seen_at is not None and now - member.last_seen_at < SEEN_EVERY:
        return False
    db.session.execute(update(Member).where(Member.id == member.id).values(last_seen_at=now))
    return True


def idle_sweep(now: datetime | None = None) -> list[int]:
    """Agents still waiting/online in chat with no activity for their organization's idle timeout go offline
    in chat, reason "idle" (recorded on the closed interval). Returns the members moved."""
    now = now or utcnow()
    rows = db.session.execute(
        select(AgentStateInterval.id, AgentStateInterval.member_id, AgentStateInterval.started_at,
               Member.last_seen_at, Organization.idle_timeout_minutes)
        .join(Member, Member.id == AgentStateInterval.member_id)
        .join(Organization, Organization.id == Member.organization_id)
        .where(AgentStateInterval.channel == "chat", AgentStateInterval.ended_at.is_(None))).all()
    moved = []
    for interval_id, member_id, started_at, last_seen_at, minutes in rows:
        last_activity = max(started_at, last_seen_at) if last_seen_at else started_at
        if now - last_activity >= timedelta(minutes=minutes):
            done = db.session.execute(update(AgentStateInterval).where(
                AgentStateInterval.id == interval_id, AgentStateInterval.ended_at.is_(None))
                .values(ended_at=last_activity + timedelta(minutes=minutes), end_reason="idle"))
            if done.rowcount:
                moved.append(member_id)
    return moved


# -- after-call work limit ----------------------------------------------------------------------------------

AFTER_CALL = "after-call"  # reason of a ticket-work interval that follows a call (after-call bulk state on)
AFTER_CALL_CHOICE = "after-call-choice"  # the same with the bulk state off: the widget asks what comes next
ACW_TIMEOUT = "acw-timeout"


def confirm_after_call(member_id: int) -> AgentStateInterval | None:
    """The agent picked ticket work at the after-call prompt: the open after-call interval goes on as after-call
    work (no new interval, no second lost). None when the agent was not at the prompt."""
    interval = current(member_id).get("phone")
    if interval is None or interval.reason != AFTER_CALL_CHOICE:
        return None
    interval.reason = AFTER_CALL
    db.session.flush()
    return interval


def arm_after_call_limit(interval: AgentStateInterval, limit_seconds: int | None) -> None:
    """Schedule the return to ready for an after-call ticket-work interval (the sweep catches it too if the
    scheduled job is lost)."""
    if not limit_seconds or interval is None:
        return

    enqueue_after_commit("agents.after_call_timeout", interval.id, job_id=f"acw-{interval.id}",
                         at=interval.started_at + timedelta(seconds=limit_seconds))


def end_overdue_after_call_work(now: datetime | None = None, interval_id: int | None = None) -> list[int]:
    """After-call ticket work past its service's limit returns to ready, dated when the limit ran out and
    recorded with reason "acw-timeout". Returns the members moved."""
    now = now or utcnow()
    q = (select(AgentStateInterval, CtiSettings.acw_limit_seconds)
         .join(CtiSettings, CtiSettings.service_id == AgentStateInterval.service_id)
         .where(AgentStateInterval.channel == "phone", AgentStateInterval.state == "ticket_work",
                AgentStateInterval.reason == AFTER_CALL, AgentStateInterval.ended_at.is_(None),
                CtiSettings.acw_limit_seconds.is_not(None)))
    if interval_id is not None:
        q = q.where(AgentStateInterval.id == interval_id)
    rows = db.session.execute(q).all()
    due_members = [interval.member_id for interval, limit in rows
                   if interval.started_at + timedelta(seconds=limit) <= now]
    if due_members:  # in the ingest's lock order; then read again what a batch that held them may have changed
        lock_members(due_members)
        rows = db.session.execute(q.execution_options(populate_existing=True)).all()
    moved = []
    for interval, limit in rows:
        due = interval.started_at + timedelta(seconds=limit)
        if due > now:
            continue
        member, service = db.session.get(Member, interval.member_id), db.session.get(Service, interval.service_id)
        try:
            change(Actor(member.organization_id, None), member, service, "phone", "ready", reason=ACW_TIMEOUT,
                   at=due, by_telephony=True)
        except ServiceError:  # no phone permission any more: offline rather than ready
            change(Actor(member.organization_id, None), member, service, "phone", "offline", reason=ACW_TIMEOUT,
                   at=due, by_telephony=True)
        moved.append(member.id)
    return moved


# -- supervisor board ---------------------------------------------------------------------------------------

class OpenState(NamedTuple):
    """What the board shows of an open interval (plain columns: hundreds of them per poll)."""
    state: str
    started_at: datetime
    reason: str | None


@dataclass(frozen=True)
class BoardRow:
    member_id: int
    name: str
    login_id: str
    can_phone: bool
    can_chat: bool
    phone: OpenState | None  # open interval in this service (None: offline here)
    chat: OpenState | None
    elsewhere: tuple[str, ...]  # channels the agent is working on in another service
    calls_today: int
    can_ticket: bool = False
    ticket_capacity: int | None = None  # the member's override in the service (None: the service's)

    def eligible_channels(self) -> list[str]:
        return [channel for channel in ("phone", "chat") if self.eligible(channel)]

    def eligible(self, channel: str) -> bool:
        interval = self.phone if channel == "phone" else self.chat
        allowed = self.can_phone if channel == "phone" else self.can_chat
        return allowed and interval is not None and interval.state == ELIGIBLE[channel]


def board(service: Service, now: datetime | None = None) -> list[BoardRow]:
    """Every agent of the service with the phone, chat or ticket permission (tickets: automatic assignment):
    current states here, calls today (the service's day), eligible or not. Four queries whatever the number of
    agents."""
    today_began = local_midnight(service, local_today(service, now))
    agents = db.session.execute(
        select(Member.id, Member.name, Member.login_id, ServiceMember.can_phone, ServiceMember.can_chat,
               ServiceMember.can_ticket, ServiceMember.ticket_capacity)
        .join(ServiceMember, ServiceMember.member_id == Member.id)
        .where(ServiceMember.service_id == service.id, ServiceMember.can_phone.is_(True)
               | ServiceMember.can_chat.is_(True) | ServiceMember.can_ticket.is_(True))
        .order_by(Member.name, Member.id)).all()
    # Plain columns, not entities: building hundreds of ORM objects was most of this function's time. The channel
    # list lets the partial unique index (member_id, channel) WHERE ended_at IS NULL serve the join.
    open_intervals = {(i.member_id, i.channel): i for i in db.session.execute(
        select(AgentStateInterval.member_id, AgentStateInterval.channel, AgentStateInterval.service_id,
               AgentStateInterval.state, AgentStateInterval.started_at, AgentStateInterval.reason)
        .join(ServiceMember, ServiceMember.member_id == AgentStateInterval.member_id)
        .where(ServiceMember.service_id == service.id, AgentStateInterval.channel.in_(("phone", "chat")),
               AgentStateInterval.ended_at.is_(None)))}
    calls = dict(db.session.execute(
        select(Call.member_id, func.count()).where(Call.service_id == service.id, Call.started_at >= today_began,
                                                   Call.member_id.is_not(None)).group_by(Call.member_id)).all())
    rows = []
    for a in agents:
        here, elsewhere = {}, []
        for channel in ("phone", "chat"):
            interval = open_intervals.get((a.id, channel))
            if interval is not None and interval.service_id == service.id:
                here[channel] = OpenState(interval.state, interval.started_at, interval.reason)
            elif interval is not None:
                elsewhere.append(channel)
        rows.append(BoardRow(a.id, a.name, a.login_id, a.can_phone, a.can_chat, here.get("phone"), here.get("chat"),
                             tuple(elsewhere), calls.get(a.id, 0), a.can_ticket, a.ticket_capacity))
    return rows
