"""CTI event ingest (SPEC 4.3): events from the telephony drive agents' phone states, calls and tickets.

Each event is stored once per (service, external ID); a retried event returns what the first delivery
stored and does nothing again. An event that cannot drive anything (an unknown CTI ID) is stored with an
error, never raised. Events may arrive in any order: the first event of a call starts its record, whichever
it is, and the others complete it; an event older than its agent's latest one changes no state (_Drive)."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import select

from portal.config import SUPPORTED_LOCALES
from portal.extensions import db
from portal.models import Call, CtiAgent, CtiEvent, Member, Service, Ticket, TicketChannel, TicketStatus
from portal.models.base import utcnow
from portal.labels import cti_error_text
from portal.services import Actor, ServiceError, agent_states, assignment, tickets
from portal.services.cti import settings_of

KINDS = ("agent_login", "agent_logout", "state_change", "inbound_ringing", "answered", "outbound_dial", "connected",
         "transfer", "hangup", "error")
MAX_FUTURE = timedelta(minutes=5)


@dataclass(frozen=True)
class Ingested:
    event: CtiEvent
    created: bool


# Control characters (C0 but none allowed, DEL, C1): nothing a telephony means by them, and they break the
# log's .xlsx and PostgreSQL (NUL). Refused in every text of an event rather than silently changed.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
DETAIL_MAX_KEYS, DETAIL_KEY_MAX, DETAIL_TEXT_MAX, DETAIL_MAX_BYTES = 32, 64, 1000, 4096


def _refuse_control(key: str, text: str, code: str = "bad_field") -> None:
    if _CONTROL.search(text):
        raise ServiceError(_("%(field)s holds a control character.", field=key), code)


def _text(raw: dict, key: str, limit: int) -> str | None:
    value = raw.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int)) or len(str(value)) > limit:
        raise ServiceError(_("%(field)s must be text of at most %(n)d characters.", field=key, n=limit), "bad_field")
    text = str(value)
    _refuse_control(key, text)
    return text


def _occurred_at(raw: dict, now: datetime) -> datetime:
    """An ISO 8601 time with a zone, not in the future (beyond the clock skew) and not older than
    CTI_MAX_PAST_DAYS: an event from 1970 or year 1 is a broken clock, not a late delivery."""
    value = raw.get("occurred_at")
    try:
        if not isinstance(value, str) or len(value) > 40:
            raise ValueError
        occurred = datetime.fromisoformat(value.replace("Z", "+00:00"))
        if occurred.tzinfo is None:
            raise ValueError
        occurred = occurred.astimezone(timezone.utc)
    except (ValueError, OverflowError):  # OverflowError: year 1 at +01:00, year 9999 at -01:00
        raise ServiceError(_("occurred_at must be an ISO 8601 time with a time zone."), "bad_time") from None
    if occurred > now + MAX_FUTURE:
        raise ServiceError(_("occurred_at is in the future."), "future_time")
    days = current_app.config["CTI_MAX_PAST_DAYS"]
    if occurred < now - timedelta(days=days):
        raise ServiceError(_("occurred_at is more than %(n)d days ago.", n=days), "past_time")
    return occurred


def _detail(raw: dict) -> dict | None:
    """A flat object of at most DETAIL_MAX_KEYS short keys, each a number, a flag or a short text."""
    detail = raw.get("detail")
    if detail is None:
        return None
    if not isinstance(detail, dict):
        raise ServiceError(_("detail must be a JSON object."), "bad_detail")
    if len(detail) > DETAIL_MAX_KEYS:
        raise ServiceError(_("detail has at most %(n)d keys.", n=DETAIL_MAX_KEYS), "bad_detail")
    for key, value in detail.items():
        if len(key) > DETAIL_KEY_MAX:
            raise ServiceError(_("detail keys are at most %(n)d characters.", n=DETAIL_KEY_MAX), "bad_detail")
        _refuse_control("detail", key, "bad_detail")
        if isinstance(value, str):
            if len(value) > DETAIL_TEXT_MAX:
                raise ServiceError(_("detail values are at most %(n)d characters.", n=DETAIL_TEXT_MAX), "bad_detail")
            _refuse_control("detail", value, "bad_detail")
        elif not (value is None or isinstance(value, (bool, int, float))):
            raise ServiceError(_("detail values are numbers, true/false or text, not lists or objects."),
                               "bad_detail")
    if len(json.dumps(detail, ensure_ascii=False).encode()) > DETAIL_MAX_BYTES:
        raise ServiceError(_("detail is at most %(n)d bytes.", n=DETAIL_MAX_BYTES), "bad_detail")
    return detail


def _validate(raw: dict, now: datetime) -> dict:
    if not isinstance(raw, dict):
        raise ServiceError(_("Each event must be a JSON object."), "bad_event")
    kind = raw.get("kind")
    if kind not in KINDS:
        raise ServiceError(_("Unknown event kind: %(kind)s.", kind=_CONTROL.sub("?", str(kind)[:40])), "bad_kind")
    external_id = _text(raw, "event_id", 64)
    if not external_id:
        raise ServiceError(_("event_id is required."), "missing_field")
    occurred = _occurred_at(raw, now)
    direction = _text(raw, "direction", 2)
    if direction not in (None, "IB", "OB"):
        raise ServiceError(_("direction is IB or OB."), "bad_direction")
    detail = _detail(raw)
    needs_call = kind in ("inbound_ringing", "answered", "outbound_dial", "connected", "transfer", "hangup")
    call_id = _text(raw, "call_id", 64)
    if needs_call and not call_id:
        raise ServiceError(_("call_id is required for %(kind)s.", kind=kind), "missing_field")
    state = _text(raw, "state", 24)
    if kind == "state_change" and state not in agent_states.PHONE_STATES:
        raise ServiceError(_("state must be one of the phone states."), "bad_state")
    return {"kind": kind, "external_id": external_id, "occurred_at": occurred, "direction": direction,
            "call_id": call_id, "cti_id": _text(raw, "cti_id", 32), "counterpart": _text(raw, "counterpart", 32),
            "state": state, "detail": detail}


def lock_agents(service: Service, events: list, cache: dict) -> None:
    """Before a batch writes anything, lock the members of every agent it names, sorted by id (see
    agent_states.lock_members): batches that change the same agents in different orders cannot deadlock. The
    agents found go into `cache`, as ingest() looks them up."""
    cti_ids = {str(raw["cti_id"]) for raw in events if isinstance(raw, dict)
               and isinstance(raw.get("cti_id"), (str, int)) and not isinstance(raw["cti_id"], bool)
               and 0 < len(str(raw["cti_id"])) <= 32 and not _CONTROL.search(str(raw["cti_id"]))}
    if not cti_ids:
        return
    found = {agent.cti_id: agent for agent in db.session.scalars(select(CtiAgent).where(
        CtiAgent.organization_id == service.organization_id, CtiAgent.cti_id.in_(cti_ids)))}
    cache.setdefault("agents", {}).update({cti_id: found.get(cti_id) for cti_id in cti_ids})
    agent_states.lock_members(agent.member_id for agent in found.values())


def ingest(service: Service, raw: dict, now: datetime | None = None, cache: dict | None = None) -> Ingested:
    """Store one event (once) and let it drive states, calls and tickets. Raises ServiceError for a malformed
    event (nothing stored, nothing written before the check); returns the stored event, `created` False when
    it had been received before. The same event delivered at the same moment by another request raises
    IntegrityError: the caller rolls its savepoint back and sends the batch again (events are idempotent).
    `cache` (one dict per request) keeps the settings and CTI agents looked up for the events before."""
    now = now or utcnow()
    values = _validate(raw, now)
    cache = {} if cache is None else cache
    existing = db.session.scalars(select(CtiEvent).where(CtiEvent.service_id == service.id,
                                                         CtiEvent.external_id == values["external_id"])).first()
    if existing is not None:
        return Ingested(existing, False)
    if "settings" not in cache:
        cache["settings"] = settings_of(service)
    settings = cache["settings"]
    zone = ZoneInfo(service.time_zone)
    agent = None
    if values["cti_id"]:
        agents = cache.setdefault("agents", {})
        if values["cti_id"] not in agents:
            agents[values["cti_id"]] = db.session.scalars(select(CtiAgent).where(
                CtiAgent.organization_id == service.organization_id, CtiAgent.cti_id == values["cti_id"])).first()
        agent = agents[values["cti_id"]]
    event = CtiEvent(
        organization_id=service.organization_id, service_id=service.id, external_id=values["external_id"],
        kind=values["kind"], occurred_at=values["occurred_at"], received_at=now,
        local_day=values["occurred_at"].astimezone(zone).date(), logged=settings.log_monitoring,
        cti_id=values["cti_id"], member_id=agent.member_id if agent else None, call_id=values["call_id"],
        direction=values["direction"], counterpart=values["counterpart"],
        detail={**(values["detail"] or {}), **({"state": values["state"]} if values["state"] else {})} or None,
    )
    if values["cti_id"] and agent is None:
        event.error_code, event.error_args = "unknown_cti_id", {"cti_id": values["cti_id"]}
    db.session.add(event)
    db.session.flush()
    if event.error_code is None:
        member = db.session.get(Member, agent.member_id) if agent else None
        drive = _Drive(service, settings, event, member, late=member is not None and _is_late(member, event))
        try:
            drive.run(values)
        except ServiceError as exc:
            event.error_code = exc.code[:24]
        if drive.late and event.error_code is None:
            event.error_code = "late"
        elif member is not None and event.error_code is None:
            member.last_cti_event_at = event.occurred_at
    db.session.flush()
    return Ingested(event, True)


def _is_late(member: Member, event: CtiEvent) -> bool:
    """Older than the agent's latest applied telephony event, or than the boundary of its phone intervals (a
    click or a sweep may have changed the state since). The member's row is locked (lock_agents), so two
    requests cannot both find themselves on time for the same agent."""
    since = [t for t in (member.last_cti_event_at, agent_states.boundary(member.id, "phone")) if t is not None]
    return bool(since) and event.occurred_at < max(since)


def error_text(event: CtiEvent) -> str | None:
    """Why the event drove nothing (or no state), in the reader's language."""
    return cti_error_text(event.error_code, event.error_args, event.error)


class _Drive:
    """What one stored event does to the agent's phone state, the call and its ticket.

    Per-agent order: an event older than the agent's boundary (agent_states.boundary) is late. It still
    records what it says about the call (answered, ended) and opens the call's ticket, but it changes no
    state: the state follows the agent's latest event, and no closed period is reopened."""

    def __init__(self, service: Service, settings, event: CtiEvent, member: Member | None, late: bool) -> None:
        self.service, self.settings, self.event, self.member, self.late = service, settings, event, member, late

    def phone(self, state: str, reason: str | None = None):
        if self.member is None or self.late:
            return None
        return agent_states.change(Actor(self.service.organization_id, self.member.id), self.member, self.service,
                                   "phone", state, at=self.event.occurred_at, reason=reason, by_telephony=True)

    def state(self) -> str:
        return agent_states.state_of(self.member.id, "phone") if self.member else "offline"

    def after_call(self) -> None:
        """The call the agent was on is over: ticket work when the service puts agents there by itself (the
        after-call limit timed), otherwise ticket work too, marked so the widget asks what comes next. Either
        way the agent leaves the call state, so the top bar, the board and the times stop counting a call."""
        if self.state() not in agent_states.CALL_STATES:
            return  # the agent had moved on (or the call never reached them: an unanswered inbound ring)
        if self.settings.after_call_bulk:
            interval = self.phone("ticket_work", reason=agent_states.AFTER_CALL)
            agent_states.arm_after_call_limit(interval, self.settings.acw_limit_seconds)
        else:
            self.phone("ticket_work", reason=agent_states.AFTER_CALL_CHOICE)

    def call(self, direction: str) -> Call:
        """The event's call, made from this event when it is the first of its call to arrive: a telephony's
        events can overtake each other (a hang-up before its ringing), and whichever comes first starts the
        record the others complete (started_at is the earliest time any of them gives)."""
        event = self.event
        call = db.session.scalars(select(Call).where(Call.service_id == self.service.id,
                                                     Call.call_id == event.call_id)).first()
        if call is None:
            call = Call(organization_id=self.service.organization_id, service_id=self.service.id,
                        call_id=event.call_id, direction=event.direction or direction, member_id=event.member_id,
                        counterpart=event.counterpart, started_at=event.occurred_at)
            db.session.add(call)
            db.session.flush()
        call.started_at = min(call.started_at, event.occurred_at)
        call.member_id = call.member_id or event.member_id
        call.counterpart = call.counterpart or event.counterpart
        return call

    def end_call(self, call: Call, failed: bool = False) -> None:
        if call.ended_at is None:
            call.ended_at = self.event.occurred_at
            call.outcome = "failed" if failed and call.answered_at is None else None
        _settle(call)
        self.after_call()

    def run(self, values: dict) -> None:
        kind, at, event = self.event.kind, self.event.occurred_at, self.event
        if kind == "agent_login":
            self.phone("ready")
        elif kind == "agent_logout":
            self.phone("offline")
        elif kind == "state_change":
            if values["state"] == "ticket_work" and self.state() in agent_states.CALL_STATES:
                self.after_call()
            elif values["state"] == "ticket_work" and not self.late and self.member is not None:
                # Picked at the after-call prompt: the ticket work goes on, now as chosen after-call work.
                interval = agent_states.confirm_after_call(self.member.id)
                if interval is None:
                    self.phone("ticket_work")
                else:
                    agent_states.arm_after_call_limit(interval, self.settings.acw_limit_seconds)
            else:
                self.phone(values["state"])
        elif kind in ("inbound_ringing", "outbound_dial"):
            call = self.call("IB" if kind == "inbound_ringing" else "OB")
            if kind == "outbound_dial" and call.ended_at is None:
                self.phone("outbound_call")
                if self.settings.outbound_auto_ticket:
                    _open_ticket(self.service, call, event.member_id, at)
        elif kind in ("answered", "connected"):
            call = self.call("IB" if kind == "answered" else "OB")
            call.answered_at = min(call.answered_at or at, at)
            if call.ended_at is None:
                self.phone("inbound_call" if call.direction == "IB" else "outbound_call")
            _settle(call)  # answered after its hang-up arrived: the talk time and outcome follow
            _open_ticket(self.service, call, call.member_id, at)
        elif kind == "transfer":
            if self.call("IB").ended_at is None:
                self.phone("transfer")
        elif kind == "hangup":
            self.end_call(self.call("IB"))
        elif kind == "error" and event.call_id:  # the telephony failed the call: it is over
            self.end_call(self.call("IB"), failed=True)


def _settle(call: Call) -> None:
    """An ended call's talk time and outcome from what is known of it now (events may complete it late)."""
    if call.ended_at is None:
        return
    call.ended_at = max(call.ended_at, call.started_at, call.answered_at or call.started_at)
    call.talk_seconds = int((call.ended_at - call.answered_at).total_seconds()) if call.answered_at else 0
    if call.answered_at:
        call.outcome = "answered"
    elif call.outcome != "failed":
        call.outcome = "abandoned" if call.direction == "IB" else "no_answer"


def _call_title(service: Service, call: Call) -> str:
    """A call's ticket starts with a title the agents may edit: user data, not a message rendered per reader, so it is
    written once, in the service's language (its default help-center language when the portal speaks it, else the
    home language), never in whatever language the request carrying the event had (a telephony's Accept-Language,
    the widget of the agent who answered). Titles written before stay as they are."""
    default = (service.default_language or "").split("-")[0].lower()
    language = default if default in SUPPORTED_LOCALES else current_app.config["BABEL_DEFAULT_LOCALE"]
    with force_locale(language):
        if call.direction == "IB":
            return _("Call from %(number)s", number=call.counterpart or "?")
        return _("Call to %(number)s", number=call.counterpart or "?")


def _open_ticket(service: Service, call: Call, member_id: int | None, at: datetime) -> None:
    if call.ticket_id:
        return
    number = tickets.reserve_numbers(service.id)
    ticket = Ticket(
        organization_id=service.organization_id, service_id=service.id, number=number,
        title=_call_title(service, call),
        channel=TicketChannel.phone_ib if call.direction == "IB" else TicketChannel.phone_ob,
        requester_phone=call.counterpart, assignee_id=member_id, call_id=call.call_id, created_at=at, updated_at=at,
        status=TicketStatus.in_progress if member_id else TicketStatus.unassigned,
    )
    db.session.add(ticket)
    db.session.flush()
    call.ticket_id = ticket.id
    if member_id is None:  # no agent on the call: the service's automatic assignment offers it like any other
        assignment.assign_waiting(service.id, ticket_ids=[ticket.id])
