"""My performance (My 실적): one agent's day in one service, from tickets, calls and state intervals.

Days are the service's calendar days: a day runs from local midnight to the next local midnight, which is 23
or 25 hours long when daylight saving time starts or ends. Intervals are cut at those midnights, an interval
still open counts up to now, and every interval belongs to one service, so a second is never counted twice."""
from __future__ import annotations

import tempfile
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from typing import Iterable
from zoneinfo import ZoneInfo

from flask_babel import gettext as _
from openpyxl import Workbook
from sqlalchemy import and_, func, select

from portal.extensions import db
from portal.labels import call_outcome_label, channel_label, direction_label, interval_reason_label, state_label
from portal.models import AgentStateInterval, Call, Member, Service, Ticket, TicketStatus
from portal.models.base import utcnow
from portal.services.agent_states import CHAT_STATES, PHONE_STATES
from portal.services.contracts import local_today
from portal.services.exports import row_cells

PHONE_SHOWN = tuple(s for s in PHONE_STATES if s != "offline")
CHAT_SHOWN = tuple(s for s in CHAT_STATES if s != "offline")


def day_bounds(day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """Local midnight to the next local midnight, in UTC."""
    start = datetime.combine(day, time.min, tzinfo=zone)
    end = datetime.combine(day + timedelta(days=1), time.min, tzinfo=zone)
    return start.astimezone(timezone.utc), end.astimezone(timezone.utc)


def seconds_by_state(intervals: Iterable[tuple[str, datetime, datetime | None]], start: datetime, end: datetime,
                     now: datetime) -> dict[str, float]:
    """Seconds spent in each state within [start, end), an open interval counting up to now."""
    totals: dict[str, float] = defaultdict(float)
    for state, began, ended in intervals:
        low, high = max(began, start), min(ended or now, end, now)
        if high > low:
            totals[state] += (high - low).total_seconds()
    return dict(totals)


def intervals_of_day(member_id: int, service_id: int, channel: str, start: datetime, end: datetime):
    """The member's intervals in the service that can overlap [start, end): those that began inside it, and
    the last one that began before it (intervals of one member and channel never overlap, so no earlier one
    can reach into the day). Two index range reads on (member, started)."""
    base = select(AgentStateInterval.state, AgentStateInterval.started_at, AgentStateInterval.ended_at,
                  AgentStateInterval.service_id).where(AgentStateInterval.member_id == member_id,
                                                       AgentStateInterval.channel == channel)
    inside = db.session.execute(base.where(AgentStateInterval.started_at >= start,
                                           AgentStateInterval.started_at < end)
                                .order_by(AgentStateInterval.started_at)).all()
    before = db.session.execute(base.where(AgentStateInterval.started_at < start)
                                .order_by(AgentStateInterval.started_at.desc()).limit(1)).all()
    return [(state, began, ended) for state, began, ended, sid in [*before, *inside] if sid == service_id]


@dataclass
class Figures:
    service: Service
    day: date
    start: datetime
    end: datetime
    is_today: bool
    tickets: dict[str, int] = field(default_factory=dict)
    calls: dict[str, tuple[int, int]] = field(default_factory=dict)  # IB/OB → (count, talk seconds)
    phone: dict[str, float] = field(default_factory=dict)
    chat: dict[str, float] = field(default_factory=dict)


def figures(member: Member, service: Service, day: date | None = None, now: datetime | None = None) -> Figures:
    """My performance for `day` (today by default) in the service's time zone."""
    now = now or utcnow()
    zone = ZoneInfo(service.time_zone)
    day = day or local_today(service, now)
    start, end = day_bounds(day, zone)
    result = Figures(service, day, start, end, is_today=start <= now < end)
    result.phone = seconds_by_state(intervals_of_day(member.id, service.id, "phone", start, end), start, end, now)
    result.chat = seconds_by_state(intervals_of_day(member.id, service.id, "chat", start, end), start, end, now)
    for direction, count, talk in db.session.execute(
            select(Call.direction, func.count(), func.coalesce(func.sum(Call.talk_seconds), 0))
            .where(Call.service_id == service.id, Call.member_id == member.id, Call.started_at >= start,
                   Call.started_at < end).group_by(Call.direction)):
        result.calls[direction] = (count, int(talk))
    result.tickets = ticket_counts(member, service, start, end)
    return result


def ticket_counts(member: Member, service: Service, start: datetime, end: datetime) -> dict[str, int]:
    """Unassigned tickets of the service and my tickets in progress (as they stand, created by the end of the
    day), and my tickets resolved / completed during the day."""
    of_service = and_(Ticket.service_id == service.id, Ticket.created_at < end)
    count = lambda *where: db.session.scalar(select(func.count()).select_from(Ticket).where(of_service, *where))
    closed_in_day = and_(func.coalesce(Ticket.closed_at, Ticket.updated_at) >= start,
                         func.coalesce(Ticket.closed_at, Ticket.updated_at) < end)
    return {
        "unassigned": count(Ticket.status == TicketStatus.unassigned),
        "in_progress": count(Ticket.status == TicketStatus.in_progress, Ticket.assignee_id == member.id),
        "resolved": count(Ticket.status == TicketStatus.resolved, Ticket.assignee_id == member.id, closed_in_day),
        "completed": count(Ticket.status == TicketStatus.completed, Ticket.assignee_id == member.id, closed_in_day),
    }


def export(member: Member, figures_: Figures):
    """My day as an .xlsx: the figures, then every state interval and call of the day."""
    zone = ZoneInfo(figures_.service.time_zone)
    local = lambda moment: moment.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S") if moment else ""
    wb = Workbook(write_only=True)
    summary = wb.create_sheet(_("My performance"))
    summary.append(row_cells(summary, [_("Service"), figures_.service.name]))
    summary.append(row_cells(summary, [_("Day"), figures_.day.isoformat()]))
    summary.append(row_cells(summary, [_("Agent"), f"{member.name} ({member.login_id})"]))
    summary.append([])
    for key, label in (("unassigned", _("Unassigned tickets in the service")), ("in_progress", _("My tickets in progress")),
                       ("resolved", _("My tickets resolved")), ("completed", _("My tickets completed"))):
        summary.append(row_cells(summary, [label, figures_.tickets.get(key, 0)]))
    for direction, label in (("IB", _("Inbound calls")), ("OB", _("Outbound calls"))):
        count, talk = figures_.calls.get(direction, (0, 0))
        summary.append(row_cells(summary, [label, count, _("Talk time (s)"), talk]))
    for channel, states, totals in (("phone", PHONE_SHOWN, figures_.phone), ("chat", CHAT_SHOWN, figures_.chat)):
        for state in states:
            summary.append(row_cells(summary, [f"{channel_label(channel)} · {state_label(channel, state)} (s)",
                                                round(totals.get(state, 0))]))
    sheet = wb.create_sheet(_("States"))
    sheet.append(row_cells(sheet, [_("Channel"), _("Agent state"), _("From"), _("To"), _("Seconds in the day"),
                                    _("Reason")]))
    for channel in ("phone", "chat"):
        rows = db.session.execute(select(AgentStateInterval).where(
            AgentStateInterval.member_id == member.id, AgentStateInterval.service_id == figures_.service.id,
            AgentStateInterval.channel == channel, AgentStateInterval.started_at < figures_.end,
            (AgentStateInterval.ended_at.is_(None)) | (AgentStateInterval.ended_at > figures_.start))
            .order_by(AgentStateInterval.started_at)).scalars()
        now = utcnow()
        for interval in rows:
            seconds = seconds_by_state([(interval.state, interval.started_at, interval.ended_at)], figures_.start,
                                       figures_.end, now).get(interval.state, 0)
            sheet.append(row_cells(sheet, [
                channel_label(channel), state_label(channel, interval.state), local(interval.started_at),
                local(interval.ended_at), round(seconds),
                interval_reason_label(interval.reason or interval.end_reason)]))
    calls = wb.create_sheet(_("Calls"))
    calls.append(row_cells(calls, [_("Started"), _("Direction"), _("Counterpart"), _("Answered"), _("Ended"),
                                   _("Talk time (s)"), _("Outcome")]))
    for call in db.session.scalars(select(Call).where(
            Call.service_id == figures_.service.id, Call.member_id == member.id, Call.started_at >= figures_.start,
            Call.started_at < figures_.end).order_by(Call.started_at)):
        calls.append(row_cells(calls, [local(call.started_at), direction_label(call.direction),
                                       call.counterpart or "", local(call.answered_at), local(call.ended_at),
                                       call.talk_seconds, call_outcome_label(call.outcome) if call.outcome else ""]))
    spool = tempfile.SpooledTemporaryFile(max_size=4 * 1024 * 1024)
    wb.save(spool)
    spool.seek(0)
    return spool
