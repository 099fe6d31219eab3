"""Agents' availability (SPEC 5): a phone state and a chat state, kept as intervals so time per state is exact.

Every change closes the open interval and opens the next one; at most one interval per member and channel
is open (a partial unique index). Only ready (phone) and waiting (chat) make an agent eligible."""
from __future__ import annotations

from datetime import datetime

from flask_babel import gettext as _
from sqlalchemy import select, update

from portal.extensions import db
from portal.models import AgentStateInterval, Member, Service, ServiceMember, ServiceRole
from portal.models.base import utcnow
from portal.services import Actor, ServiceError

PHONE_STATES = ("offline", "ready", "inbound_call", "outbound_call", "transfer", "ticket_work", "chat_work",
                "break", "meal", "training", "reporting", "meeting", "coaching")
CHAT_STATES = ("offline", "waiting", "online", "break")
STATES = {"phone": PHONE_STATES, "chat": CHAT_STATES}
# Call states come from the telephony (CTI events), not from a click.
CALL_STATES = ("inbound_call", "outbound_call", "transfer")
ELIGIBLE = {"phone": "ready", "chat": "waiting"}


def current(member_id: int) -> dict[str, AgentStateInterval]:
    """The open interval per channel (a channel without one is offline)."""
    return {i.channel: i for i in db.session.scalars(select(AgentStateInterval).where(
        AgentStateInterval.member_id == member_id, AgentStateInterval.ended_at.is_(None)))}


def state_of(member_id: int, channel: str) -> str:
    interval = current(member_id).get(channel)
    return interval.state if interval else "offline"


def _link(service: Service, member: Member) -> ServiceMember | None:
    return db.session.scalars(select(ServiceMember).where(ServiceMember.service_id == service.id,
                                                          ServiceMember.member_id == member.id)).first()


def change(actor: Actor, member: Member, service: Service | None, channel: str, state: str, *,
           reason: str | None = None, at: datetime | None = None, by_telephony: bool = False) -> AgentStateInterval | None:
    """Move the agent to `state` on `channel`: close the open interval at `at`, open the next one. Setting the
    state it already has changes nothing. Another person (a supervisor) must give a reason."""
    if channel not in STATES or state not in STATES[channel]:
        raise ServiceError(_("Unknown state."), "bad_state")
    if state in CALL_STATES and not by_telephony:
        raise ServiceError(_("Call states come from the telephony."), "call_state")
    if state != "offline":
        if service is None:
            raise ServiceError(_("Choose the service you work in first."), "no_service")
        link = _link(service, member)
        if link is None or not getattr(link, f"can_{channel}"):
            raise ServiceError(_("You have no %(channel)s permission in %(name)s.", channel=channel, name=service.name),
                               "no_permission")
    if actor.member_id != member.id and not by_telephony:
        if not (reason or "").strip():
            raise ServiceError(_("Give a reason when you change another agent's state."), "reason_required")
    now = at or utcnow()
    open_interval = current(member.id).get(channel)
    if open_interval is not None and open_interval.state == state and (service is None or open_interval.service_id == service.id):
        return open_interval
    if open_interval is not None:
        db.session.execute(update(AgentStateInterval).where(AgentStateInterval.id == open_interval.id,
                                                            AgentStateInterval.ended_at.is_(None))
                           .values(ended_at=max(now, open_interval.started_at)))
        db.session.expire(open_interval)
    if state == "offline":
        db.session.flush()
        return None
    interval = AgentStateInterval(organization_id=member.organization_id, member_id=member.id,
                                  service_id=service.id, channel=channel, state=state, started_at=now,
                                  reason=(reason or "").strip()[:200] or None,
                                  changed_by_id=None if by_telephony else actor.member_id)
    db.session.add(interval)
    db.session.flush()
    return interval


def go_offline(member: Member, reason: str = "logout") -> None:
    """Close every open interval of the member (log-out, idle timeout)."""
    now = utcnow()
    db.session.execute(update(AgentStateInterval).where(AgentStateInterval.member_id == member.id,
                                                        AgentStateInterval.ended_at.is_(None)).values(ended_at=now))


def can_supervise(actor_member: Member, service: Service) -> bool:
    if actor_member.is_org_admin and actor_member.organization_id == service.organization_id:
        return True
    link = _link(service, actor_member)
    return link is not None and link.role == ServiceRole.manager


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
