"""CTI event ingest (SPEC 4.3): events from the telephony drive agents' phone states, calls and tickets.

Each event is stored once per (service, external ID); a retried event returns what the first delivery
stored and does nothing again. An event that cannot drive anything (an unknown CTI ID) is stored with an
error, never raised. Events may arrive in any order: the first event of a call starts its record, whichever
it is, and the others complete it; an event older than its agent's latest one changes no state (_Batch).

A batch is read and checked first (prepare: no write), then stored in one go (store): its agents locked, their
state read once, its effects computed in memory in event order and written with one statement per kind of row."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import bindparam, delete, insert, select, union_all, update

from portal.config import SUPPORTED_LOCALES
from portal.extensions import db
from portal.models import (AgentStateInterval, Call, CtiAgent, CtiEvent, CtiSettings, Member, Service, ServiceMember,
                           ServiceStatus, Ticket, TicketChannel, TicketStatus)
from portal.models.base import utcnow
from portal.labels import cti_error_text
from portal.services import ServiceError, agent_states, assignment, tickets
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


@dataclass(frozen=True)
class _Agent:
    member_id: int
    can_phone: bool  # the phone permission in the batch's service


@dataclass
class Prepared:
    """A batch read and checked before its transaction writes anything: each event's values (or why it was
    refused), the service's CTI settings and the CTI agents it names (None: unknown CTI ID)."""
    service: Service
    now: datetime
    values: list  # per event: its values (dict) or the ServiceError that refused it
    settings: CtiSettings
    agents: dict  # cti_id → _Agent | None


@dataclass(frozen=True)
class Outcome:
    """What became of one event of a batch: refused (`refused` holds why), stored now, or stored before."""
    external_id: str | None
    created: bool = False
    error_code: str | None = None
    error_args: dict | None = None
    error: str | None = None
    refused: ServiceError | None = None


def prepare(service: Service, events: list, now: datetime | None = None) -> Prepared:
    """Validate every event and read what does not change under the batch (the settings, the agents and their
    phone permission in the service): two statements, no write, so on SQLite no write lock is held yet."""
    now = now or utcnow()
    values = []
    for raw in events:
        try:
            values.append(_validate(raw, now))
        except ServiceError as exc:
            values.append(exc)
    settings = settings_of(service)
    cti_ids = {v["cti_id"] for v in values if isinstance(v, dict) and v["cti_id"]}
    agents = dict.fromkeys(cti_ids)
    if cti_ids:
        rows = db.session.execute(
            select(CtiAgent.cti_id, CtiAgent.member_id, ServiceMember.can_phone)
            .outerjoin(ServiceMember, (ServiceMember.member_id == CtiAgent.member_id)
                       & (ServiceMember.service_id == service.id))
            .where(CtiAgent.organization_id == service.organization_id, CtiAgent.cti_id.in_(cti_ids)))
        agents.update({row.cti_id: _Agent(row.member_id, bool(row.can_phone)) for row in rows})
    return Prepared(service, now, values, settings, agents)


def store(batch: Prepared) -> list[Outcome]:
    """Store the batch's new events and let them drive states, calls and tickets, in event order, in the caller's
    transaction. Locks the batch's agents first (members in id order, agent_states.lock_members), then reads
    their state (latest phone intervals, last telephony event), the calls the batch names and the event IDs
    stored before: a handful of statements per batch, then the writes, each an executemany. The same event
    stored by another request at the same moment raises IntegrityError: the caller rolls back and runs it again."""
    return _Batch(batch).run()


def ingest(service: Service, raw: dict, now: datetime | None = None) -> Ingested:
    """One event (the softphone's): store it (once) and let it drive states, calls and tickets. Raises
    ServiceError for a malformed event (nothing stored); returns the stored event, `created` False when it had
    been received before."""
    outcome = store(prepare(service, [raw], now))[0]
    if outcome.refused is not None:
        raise outcome.refused
    event = db.session.scalars(select(CtiEvent).where(CtiEvent.service_id == service.id,
                                                      CtiEvent.external_id == outcome.external_id)).one()
    return Ingested(event, outcome.created)


def error_text(event) -> str | None:
    """Why the event drove nothing (or no state), in the reader's language (a CtiEvent or an Outcome)."""
    return cti_error_text(event.error_code, event.error_args, event.error)


_EVENT, _INTERVAL, _CALL, _TICKET, _MEMBER = (CtiEvent.__table__, AgentStateInterval.__table__, Call.__table__,
                                              Ticket.__table__, Member.__table__)
_CALL_FIELDS = ("direction", "member_id", "counterpart", "started_at", "answered_at", "ended_at", "talk_seconds",
                "outcome", "ticket_id")


class _Batch:
    """A batch's effects computed in memory, in event order, from what it read once; written at the end, or
    before an automatic-assignment hook that must see them (the service assigns automatically): a state change
    that makes an agent present, a call's ticket without an agent. The rules are those of
    agent_states.change (boundary, zero-length intervals, the phone permission), applied to the batch's agents
    whose rows it holds locked."""

    def __init__(self, batch: Prepared) -> None:
        self.batch, self.service, self.settings = batch, batch.service, batch.settings
        self.hooks_run = self.service.auto_assign and self.service.status == ServiceStatus.active
        self.phone_of: dict[int, list[dict]] = {}  # member → latest phone intervals, oldest first (at most 2 read)
        self.last_event: dict[int, datetime | None] = {}
        self.calls: dict[str, dict] = {}
        self.events: list[dict] = []
        self.tickets: list[dict] = []
        self.deleted: list[int] = []
        self.arm: list[dict] = []  # after-call intervals whose limit is scheduled once they have an id
        self._last_written: dict[int, datetime | None] = {}

    # -- reading -----------------------------------------------------------------------------------------------

    def _read(self, values: list[dict]) -> dict[str, Outcome]:
        member_ids = sorted({a.member_id for a in self.batch.agents.values() if a is not None})
        if member_ids:
            agent_states.lock_members(member_ids)
            self.last_event = dict(db.session.execute(
                select(_MEMBER.c.id, _MEMBER.c.last_cti_event_at).where(_MEMBER.c.id.in_(member_ids))).all())
            self._last_written = dict(self.last_event)
            # The latest two phone intervals of each agent: the open one (if any) is the latest, and if the batch
            # removes it (zero length), the one before gives the boundary.
            columns = (_INTERVAL.c.id, _INTERVAL.c.member_id, _INTERVAL.c.service_id, _INTERVAL.c.state,
                       _INTERVAL.c.started_at, _INTERVAL.c.ended_at, _INTERVAL.c.reason, _INTERVAL.c.end_reason)
            latest = [select(*columns).where(_INTERVAL.c.member_id == m, _INTERVAL.c.channel == "phone")
                      .order_by(_INTERVAL.c.started_at.desc(), _INTERVAL.c.id.desc()).limit(2).subquery().select()
                      for m in member_ids]
            for m in member_ids:
                self.phone_of[m] = []
            rows = db.session.execute(union_all(*latest) if len(latest) > 1 else latest[0]).all()
            for row in sorted(rows, key=lambda r: (r.started_at, r.id)):
                self.phone_of[row.member_id].append({
                    "id": row.id, "service_id": row.service_id, "state": row.state, "started_at": row.started_at,
                    "ended_at": row.ended_at, "reason": row.reason, "end_reason": row.end_reason, "dirty": False})
        call_ids = {v["call_id"] for v in values if v["call_id"]}
        if call_ids:
            for call in db.session.execute(select(_CALL.c.id, _CALL.c.call_id, *(_CALL.c[n] for n in _CALL_FIELDS))
                                           .where(_CALL.c.service_id == self.service.id, _CALL.c.call_id.in_(call_ids))):
                fields = {name: call._mapping[name] for name in _CALL_FIELDS}
                self.calls[call.call_id] = {"id": call.id, "call_id": call.call_id, **fields, "was": fields}
        stored = {}
        for row in db.session.execute(select(_EVENT.c.external_id, _EVENT.c.error_code, _EVENT.c.error_args,
                                             _EVENT.c.error).where(
                _EVENT.c.service_id == self.service.id, _EVENT.c.external_id.in_({v["external_id"] for v in values}))):
            stored[row.external_id] = Outcome(row.external_id, False, row.error_code, row.error_args, row.error)
        return stored

    # -- the run -----------------------------------------------------------------------------------------------

    def run(self) -> list[Outcome]:
        values = [v for v in self.batch.values if isinstance(v, dict)]
        seen = self._read(values) if values else {}
        outcomes = []
        for v in self.batch.values:
            if not isinstance(v, dict):
                outcomes.append(Outcome(None, refused=v))
            elif v["external_id"] in seen:
                first = seen[v["external_id"]]
                outcomes.append(Outcome(first.external_id, False, first.error_code, first.error_args, first.error))
            else:
                outcome = self._event(v)
                seen[v["external_id"]] = outcome
                outcomes.append(outcome)
        self._write()
        return outcomes

    def _event(self, values: dict) -> Outcome:
        now, zone = self.batch.now, ZoneInfo(self.service.time_zone)
        agent = self.batch.agents.get(values["cti_id"]) if values["cti_id"] else None
        member = agent.member_id if agent else None
        code = args = None
        if values["cti_id"] and agent is None:
            code, args = "unknown_cti_id", {"cti_id": values["cti_id"]}
        else:
            self.member, self.agent, self.values = member, agent, values
            self.at = values["occurred_at"]
            self.late = member is not None and self._is_late(member, self.at)
            try:
                self._drive(values["kind"])
            except ServiceError as exc:
                code = exc.code[:24]
            if self.late and code is None:
                code = "late"
            elif member is not None and code is None:
                self.last_event[member] = self.at
        self.events.append({
            "organization_id": self.service.organization_id, "service_id": self.service.id,
            "external_id": values["external_id"], "kind": values["kind"], "occurred_at": values["occurred_at"],
            "received_at": now, "local_day": values["occurred_at"].astimezone(zone).date(),
            "logged": self.settings.log_monitoring, "cti_id": values["cti_id"], "member_id": member,
            "call_id": values["call_id"], "direction": values["direction"], "counterpart": values["counterpart"],
            "detail": {**(values["detail"] or {}), **({"state": values["state"]} if values["state"] else {})} or None,
            "error": None, "error_code": code, "error_args": args})
        return Outcome(values["external_id"], True, code, args)

    def _boundary(self, member: int) -> datetime | None:
        intervals = self.phone_of[member]
        return (intervals[-1]["ended_at"] or intervals[-1]["started_at"]) if intervals else None

    def _is_late(self, member: int, at: datetime) -> bool:
        """Older than the agent's latest applied telephony event, or than the boundary of its phone intervals (a
        click or a sweep may have changed the state since)."""
        since = [t for t in (self.last_event.get(member), self._boundary(member)) if t is not None]
        return bool(since) and at < max(since)

    def _open(self, member: int) -> dict | None:
        intervals = self.phone_of[member]
        return intervals[-1] if intervals and intervals[-1]["ended_at"] is None else None

    def state(self) -> str:
        interval = self._open(self.member) if self.member is not None else None
        return interval["state"] if interval else "offline"

    def phone(self, state: str, reason: str | None = None) -> dict | None:
        """agent_states.change for the batch's agent, in memory."""
        if self.member is None or self.late:
            return None
        if state != "offline" and not self.agent.can_phone:
            raise ServiceError(_("You have no %(channel)s permission in %(name)s.", channel="phone",
                                 name=self.service.name), "no_permission")
        member, intervals = self.member, self.phone_of[self.member]
        current = self._open(member)
        if current is not None and current["state"] == state and current["service_id"] == self.service.id:
            return current
        since = self._boundary(member)
        at = max(self.at, since) if since is not None else self.at
        was = current["state"] if current is not None and current["service_id"] == self.service.id else None
        if current is not None:
            closed_at = max(at, current["started_at"])
            if closed_at == current["started_at"]:  # it held no time: removed, never stored empty
                intervals.pop()
                if current.get("id"):
                    self.deleted.append(current["id"])
            else:
                current.update(ended_at=closed_at, end_reason=None, dirty=True)
        if state == "offline":
            return None
        interval = {"id": None, "service_id": self.service.id, "state": state, "started_at": at, "ended_at": None,
                    "reason": (reason or "").strip()[:200] or None, "end_reason": None, "dirty": True}
        intervals.append(interval)
        if self.hooks_run and state not in assignment.ABSENT_STATES and (was is None or was in assignment.ABSENT_STATES):
            self._write()  # the hook reads the new state from the database
            assignment.became_present(member, self.service.id, was, state)
        return interval

    def arm_after_call_limit(self, interval: dict | None) -> None:
        if interval is not None and self.settings.acw_limit_seconds:
            self.arm.append(interval)

    def after_call(self) -> None:
        """The call the agent was on is over: ticket work when the service puts agents there by itself (the
        after-call limit timed), otherwise ticket work too, marked so the widget asks what comes next. Either
        way the agent leaves the call state, so the top bar, the board and the times stop counting a call."""
        if self.state() not in agent_states.CALL_STATES:
            return  # the agent had moved on (or the call never reached them: an unanswered inbound ring)
        if self.settings.after_call_bulk:
            self.arm_after_call_limit(self.phone("ticket_work", reason=agent_states.AFTER_CALL))
        else:
            self.phone("ticket_work", reason=agent_states.AFTER_CALL_CHOICE)

    def call(self, direction: str) -> dict:
        """The event's call, made from this event when it is the first of its call to arrive: a telephony's
        events can overtake each other (a hang-up before its ringing), and whichever comes first starts the
        record the others complete (started_at is the earliest time any of them gives)."""
        v = self.values
        call = self.calls.get(v["call_id"])
        if call is None:
            call = self.calls[v["call_id"]] = {
                "id": None, "call_id": v["call_id"], "direction": v["direction"] or direction, "member_id": self.member,
                "counterpart": v["counterpart"], "started_at": self.at, "answered_at": None, "ended_at": None,
                "talk_seconds": None, "outcome": None, "ticket_id": None, "was": None}
        call["started_at"] = min(call["started_at"], self.at)
        call["member_id"] = call["member_id"] or self.member
        call["counterpart"] = call["counterpart"] or v["counterpart"]
        return call

    def end_call(self, call: dict, failed: bool = False) -> None:
        if call["ended_at"] is None:
            call["ended_at"] = self.at
            call["outcome"] = "failed" if failed and call["answered_at"] is None else None
        _settle(call)
        self.after_call()

    def open_ticket(self, call: dict, member_id: int | None) -> None:
        if call["ticket_id"] or call.get("ticket"):
            return
        ticket = {"organization_id": self.service.organization_id, "service_id": self.service.id,
                  "title": _call_title(self.service, call["direction"], call["counterpart"]),
                  "channel": TicketChannel.phone_ib if call["direction"] == "IB" else TicketChannel.phone_ob,
                  "requester_phone": call["counterpart"], "assignee_id": member_id, "call_id": call["call_id"],
                  "created_at": self.at, "updated_at": self.at,
                  "status": TicketStatus.in_progress if member_id else TicketStatus.unassigned}
        call["ticket"] = ticket
        self.tickets.append(ticket)
        if member_id is None and self.hooks_run:  # no agent on the call: offered like any other waiting ticket
            self._write()
            assignment.assign_waiting(self.service.id, ticket_ids=[ticket["id"]])

    def _drive(self, kind: str) -> None:
        """What one event does to the agent's phone state, the call and its ticket (per-agent order: a late event
        records what it says about the call and opens its ticket, but changes no state)."""
        values, at = self.values, self.at
        if kind == "agent_login":
            self.phone("ready")
        elif kind == "agent_logout":
            self.phone("offline")
        elif kind == "state_change":
            if values["state"] == "ticket_work" and self.state() in agent_states.CALL_STATES:
                self.after_call()
            elif values["state"] == "ticket_work" and not self.late and self.member is not None:
                # Picked at the after-call prompt: the ticket work goes on, now as chosen after-call work.
                interval = self._open(self.member)
                if interval is None or interval["reason"] != agent_states.AFTER_CALL_CHOICE:
                    self.phone("ticket_work")
                else:
                    interval.update(reason=agent_states.AFTER_CALL, dirty=True)
                    self.arm_after_call_limit(interval)
            else:
                self.phone(values["state"])
        elif kind in ("inbound_ringing", "outbound_dial"):
            call = self.call("IB" if kind == "inbound_ringing" else "OB")
            if kind == "outbound_dial" and call["ended_at"] is None:
                self.phone("outbound_call")
                if self.settings.outbound_auto_ticket:
                    self.open_ticket(call, self.member)
        elif kind in ("answered", "connected"):
            call = self.call("IB" if kind == "answered" else "OB")
            call["answered_at"] = min(call["answered_at"] or at, at)
            if call["ended_at"] is None:
                self.phone("inbound_call" if call["direction"] == "IB" else "outbound_call")
            _settle(call)  # answered after its hang-up arrived: the talk time and outcome follow
            self.open_ticket(call, call["member_id"])
        elif kind == "transfer":
            if self.call("IB")["ended_at"] is None:
                self.phone("transfer")
        elif kind == "hangup":
            self.end_call(self.call("IB"))
        elif kind == "error" and values["call_id"]:  # the telephony failed the call: it is over
            self.end_call(self.call("IB"), failed=True)

    # -- writing -----------------------------------------------------------------------------------------------

    def _write(self) -> None:
        """Everything computed since the last write, one executemany per kind of row."""
        session = db.session
        if self.events:
            session.execute(insert(_EVENT), self.events)
            self.events = []
        if self.deleted:
            session.execute(delete(_INTERVAL).where(_INTERVAL.c.id.in_(self.deleted)))
            self.deleted = []
        changed, new = [], []
        for member, intervals in self.phone_of.items():
            for interval in intervals:
                if interval["dirty"]:
                    (changed if interval["id"] else new).append((member, interval))
        if changed:  # closed (or confirmed) before the next one opens: one open interval per member at a time
            session.execute(update(_INTERVAL).where(_INTERVAL.c.id == bindparam("iid")).values(
                ended_at=bindparam("ended"), end_reason=bindparam("end_reason"), reason=bindparam("why")),
                [{"iid": i["id"], "ended": i["ended_at"], "end_reason": i["end_reason"], "why": i["reason"]}
                 for _member, i in changed])
        if new:
            rows = [{"organization_id": self.service.organization_id, "member_id": member,
                     "service_id": i["service_id"], "channel": "phone", "state": i["state"],
                     "started_at": i["started_at"], "ended_at": i["ended_at"], "reason": i["reason"],
                     "end_reason": i["end_reason"], "changed_by_id": None} for member, i in new]
            # The ids: a later write of this batch may close or remove one, an after-call limit's job names it.
            # Matched by member and start (unique: intervals of a member neither overlap nor are empty), as one
            # multi-row INSERT … RETURNING promises no order.
            ids = {(row.member_id, row.started_at): row.id for row in session.execute(
                insert(_INTERVAL).returning(_INTERVAL.c.id, _INTERVAL.c.member_id, _INTERVAL.c.started_at), rows)}
            for member, interval in new:
                interval["id"] = ids[member, interval["started_at"]]
        for _member, interval in changed + new:
            interval["dirty"] = False
        if self.tickets:
            first = tickets.reserve_numbers(self.service.id, len(self.tickets))
            for n, ticket in enumerate(self.tickets):
                ticket["number"] = first + n
            rows = [dict(t) for t in self.tickets]
            ids = dict(session.execute(insert(_TICKET).returning(_TICKET.c.number, _TICKET.c.id), rows).all())
            for ticket in self.tickets:
                ticket["id"] = ids[ticket["number"]]
            self.tickets = []
        new_calls, changed_calls = [], []
        for call in self.calls.values():
            if call.get("ticket") is not None and call["ticket"].get("id"):
                call["ticket_id"] = call.pop("ticket")["id"]
            fields = {name: call[name] for name in _CALL_FIELDS}
            if call["id"] is None:
                new_calls.append(call)
            elif fields != call["was"]:
                changed_calls.append(call)
            call["was"] = fields
        if new_calls:
            ids = dict(session.execute(insert(_CALL).returning(_CALL.c.call_id, _CALL.c.id), [
                {"organization_id": self.service.organization_id, "service_id": self.service.id,
                 "call_id": c["call_id"], **c["was"]} for c in new_calls]).all())
            for call in new_calls:
                call["id"] = ids[call["call_id"]]
        if changed_calls:
            session.execute(update(_CALL).where(_CALL.c.id == bindparam("cid")).values(
                {name: bindparam(f"v_{name}") for name in _CALL_FIELDS}),
                [{"cid": c["id"], **{f"v_{name}": c["was"][name] for name in _CALL_FIELDS}} for c in changed_calls])
        moved = [{"mid": m, "at": at} for m, at in self.last_event.items() if at is not None
                 and at != self._last_written.get(m)]
        if moved:
            session.execute(update(_MEMBER).where(_MEMBER.c.id == bindparam("mid"))
                            .values(last_cti_event_at=bindparam("at")), moved)
            self._last_written.update({row["mid"]: row["at"] for row in moved})
        for interval in self.arm:
            if interval["id"]:  # (one removed before it was stored held no time: nothing to end)
                agent_states.arm_after_call_limit(_Armed(interval["id"], interval["started_at"]),
                                                  self.settings.acw_limit_seconds)
        self.arm = []
        _forget(session)


class _Armed:
    """An after-call interval as agent_states.arm_after_call_limit reads it."""

    def __init__(self, interval_id: int, started_at: datetime) -> None:
        self.id, self.started_at = interval_id, started_at


def _forget(session) -> None:
    """The rows written above with Core statements may be loaded in the session (the softphone's member, its
    intervals and calls): read them again when next used."""
    for obj in list(session.identity_map.values()):
        if isinstance(obj, (AgentStateInterval, Call, Ticket, Member)):
            session.expire(obj)


def _settle(call: dict) -> None:
    """An ended call's talk time and outcome from what is known of it now (events may complete it late)."""
    if call["ended_at"] is None:
        return
    call["ended_at"] = max(call["ended_at"], call["started_at"], call["answered_at"] or call["started_at"])
    answered = call["answered_at"]
    call["talk_seconds"] = int((call["ended_at"] - answered).total_seconds()) if answered else 0
    if answered:
        call["outcome"] = "answered"
    elif call["outcome"] != "failed":
        call["outcome"] = "abandoned" if call["direction"] == "IB" else "no_answer"


def _call_title(service: Service, direction: str, counterpart: str | None) -> str:
    """A call's ticket starts with a title the agents may edit: user data, not a message rendered per reader, so it is
    written once, in the service's language (its default help-center language when the portal speaks it, else the
    home language), never in whatever language the request carrying the event had (a telephony's Accept-Language,
    the widget of the agent who answered). Titles written before stay as they are."""
    default = (service.default_language or "").split("-")[0].lower()
    language = default if default in SUPPORTED_LOCALES else current_app.config["BABEL_DEFAULT_LOCALE"]
    with force_locale(language):
        if direction == "IB":
            return _("Call from %(number)s", number=counterpart or "?")
        return _("Call to %(number)s", number=counterpart or "?")
