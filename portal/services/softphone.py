"""The phone widget (소프트폰): what an agent with CTI credentials does from the browser.

Every action is turned into the CTI event the telephony would send and goes through `cti_events.ingest`,
so a click in the widget and an event from the switch change states, calls and tickets the same way (and
both land in the CTI log)."""
from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask_babel import gettext as _
from sqlalchemy import select

from portal.extensions import db
from portal.models import Call, CtiAgent, Member, Service, Ticket
from portal.models.base import utcnow
from portal.services import ServiceError, agent_states, cti_events
from portal.services.cti import has_cti, settings_of
from portal.services.memberships import membership

# What the agent can pick once a call is over (the after-call prompt) and while logged in.
AFTER_CALL_CHOICES = ("ready", "ticket_work", "break", "meal")
NUMBER_CHARS = set("0123456789+*#-")


@dataclass(frozen=True)
class Phone:
    """What the widget shows: the member's CTI credentials, phone state since when, the live call, the call
    that just ended without a next state chosen (after-call prompt), and its ticket."""

    agent: CtiAgent
    state: str
    since: datetime | None
    call: Call | None
    ended: Call | None
    ticket: Ticket | None
    back_to_ready_at: datetime | None = None  # the after-call work limit runs out then
    now: datetime | None = None  # when this was read (timers start from here)
    choosing: bool = False  # the call is over and the service lets the agent choose what comes next

    @property
    def logged_in(self) -> bool:
        return self.state != "offline"

    @property
    def prompt(self) -> bool:
        return self.call is None and self.ended is not None and self.choosing


def credentials(member: Member) -> CtiAgent | None:
    return db.session.scalars(select(CtiAgent).where(CtiAgent.member_id == member.id)).first()


def available(member: Member, service: Service | None) -> CtiAgent | None:
    """The member's CTI credentials when the widget applies: a phone agent of a CTI service."""
    if service is None:
        return None
    agent = credentials(member)
    if agent is None or not has_cti(service):
        return None
    link = membership(member.id, service.id)
    return agent if link is not None and link.can_phone else None


def status(member: Member, service: Service, agent: CtiAgent) -> Phone:
    interval = agent_states.current(member.id).get("phone")
    state = interval.state if interval else "offline"
    calls = select(Call).where(Call.service_id == service.id, Call.member_id == member.id)
    live = db.session.scalars(calls.where(Call.ended_at.is_(None)).order_by(Call.started_at.desc())).first()
    ended = None
    if live is None:
        ended = db.session.scalars(calls.where(Call.ended_at.is_not(None)).order_by(Call.ended_at.desc())).first()
    shown = live or ended
    ticket = db.session.get(Ticket, shown.ticket_id) if shown is not None and shown.ticket_id else None
    back_to_ready_at = None
    if interval is not None and interval.state == "ticket_work" and interval.reason == agent_states.AFTER_CALL:
        limit = settings_of(service).acw_limit_seconds
        back_to_ready_at = interval.started_at + timedelta(seconds=limit) if limit else None
    choosing = interval is not None and interval.reason == agent_states.AFTER_CALL_CHOICE
    return Phone(agent, state, interval.started_at if interval else None, live, ended, ticket, back_to_ready_at,
                 utcnow(), choosing)


def _send(service: Service, agent: CtiAgent, kind: str, **fields) -> None:
    raw = {"event_id": f"web-{secrets.token_hex(10)}", "kind": kind, "cti_id": agent.cti_id,
           "occurred_at": utcnow().isoformat(), **{k: v for k, v in fields.items() if v is not None}}
    stored = cti_events.ingest(service, raw)
    if stored.event.error_code:
        raise ServiceError(cti_events.error_text(stored.event), "cti_error")


def _require_login(phone: Phone) -> None:
    if not phone.logged_in:
        raise ServiceError(_("Log in to the phone first."), "phone_offline")


def _check_number(number: str) -> str:
    number = (number or "").strip().replace(" ", "")
    if not number:
        raise ServiceError(_("Enter the number to call."), "number_required")
    if len(number) > 20 or not set(number) <= NUMBER_CHARS or not any(c.isdigit() for c in number):
        raise ServiceError(_("A phone number has at most 20 digits (and + * # -)."), "bad_number")
    return number


def login(member: Member, service: Service, agent: CtiAgent) -> None:
    _send(service, agent, "agent_login")


def logout(member: Member, service: Service, agent: CtiAgent) -> None:
    if status(member, service, agent).call is not None:
        raise ServiceError(_("Hang up the call before you log out of the phone."), "on_call")
    _send(service, agent, "agent_logout")


def dial(member: Member, service: Service, agent: CtiAgent, number: str) -> None:
    phone = status(member, service, agent)
    _require_login(phone)
    if phone.call is not None:
        raise ServiceError(_("You are already on a call."), "on_call")
    _send(service, agent, "outbound_dial", call_id=f"web-ob-{secrets.token_hex(8)}", direction="OB",
          counterpart=_check_number(number))


def ring(member: Member, service: Service, agent: CtiAgent, number: str) -> None:
    """A simulated inbound call to this agent (for training and demos): the switch's ringing event."""
    phone = status(member, service, agent)
    _require_login(phone)
    if phone.call is not None:
        raise ServiceError(_("You are already on a call."), "on_call")
    if phone.state != "ready":
        raise ServiceError(_("Calls only ring for agents who are ready."), "not_ready")
    _send(service, agent, "inbound_ringing", call_id=f"web-ib-{secrets.token_hex(8)}", direction="IB",
          counterpart=_check_number(number))


def _live(member: Member, service: Service, agent: CtiAgent) -> Call:
    call = status(member, service, agent).call
    if call is None:
        raise ServiceError(_("There is no call to answer or hang up."), "no_call")
    return call


def answer(member: Member, service: Service, agent: CtiAgent) -> None:
    call = _live(member, service, agent)
    if call.answered_at is not None:
        return
    _send(service, agent, "answered" if call.direction == "IB" else "connected", call_id=call.call_id,
          direction=call.direction, counterpart=call.counterpart)


def hang_up(member: Member, service: Service, agent: CtiAgent) -> None:
    call = _live(member, service, agent)
    _send(service, agent, "hangup", call_id=call.call_id, direction=call.direction, counterpart=call.counterpart)


def after_call(member: Member, service: Service, agent: CtiAgent, state: str) -> None:
    """The agent's pick after a call when after-call bulk state is off (or any time while logged in)."""
    _require_login(status(member, service, agent))
    if state not in AFTER_CALL_CHOICES:
        raise ServiceError(_("Unknown state."), "bad_state")
    _send(service, agent, "state_change", state=state)
