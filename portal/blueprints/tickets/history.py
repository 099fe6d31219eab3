"""A ticket's history as its reader reads it: who, when, what, from the activity trail (tickets.history), in the
reader's language. The trail stores codes and ids only; names and labels are looked up here, at display."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flask_babel import gettext as _
from sqlalchemy import select

from portal.extensions import db
from portal.labels import assign_mode_label, ticket_status_label
from portal.models import Member, Ticket, TicketStatus
from portal.services import tickets


@dataclass(frozen=True)
class Entry:
    at: datetime
    who: str
    what: str


def _status(code) -> str:
    return ticket_status_label(TicketStatus(code)) if code in TicketStatus._value2member_map_ else str(code)


def _what(action: str, details: dict, name) -> str:
    to, before = details.get("to"), details.get("from")
    if action == "ticket.created":
        return _("Created and assigned to %(name)s", name=name(to)) if to else _("Created")
    if action == "ticket.assigned":
        if to is None:
            return _("Returned to the queue (was %(name)s's)", name=name(before)) if before else _("Unassigned")
        if details.get("auto"):
            return _("Assigned to %(name)s (automatically, %(mode)s)", name=name(to),
                     mode=assign_mode_label(details["auto"]))
        if before:
            return _("Reassigned from %(before)s to %(name)s", before=name(before), name=name(to))
        return _("Assigned to %(name)s", name=name(to))
    if action == "ticket.returned":  # the assignee turned assignment off and gave back their open tickets
        return _("Returned to the queue when %(name)s turned assignment off", name=name(before))
    if action == "ticket.status":
        return _("Status %(before)s → %(after)s", before=_status(before), after=_status(to))
    return action


def entries(ticket: Ticket) -> list[Entry]:
    """Oldest first. A ticket made by a call or a migration has no creation row in the trail: its creation time
    opens the list all the same."""
    rows = tickets.history(ticket)
    ids = {r.actor_id for r in rows}
    for r in rows:
        ids |= {v for k, v in (r.details or {}).items() if k in ("from", "to") and isinstance(v, int)}
    ids.discard(None)
    names = dict(db.session.execute(select(Member.id, Member.name).where(
        Member.id.in_(ids), Member.organization_id == ticket.organization_id)).all()) if ids else {}
    name = lambda member_id: names.get(member_id, _("a former member"))
    result = []
    if not any(r.action == "ticket.created" for r in rows):
        result.append(Entry(ticket.created_at, _source_of(ticket), _("Created")))
    for r in rows:
        details = r.details or {}
        if r.actor_id is not None:
            who = name(r.actor_id)
        elif r.action == "ticket.assigned" and details.get("auto"):
            who = _("Automatic assignment")
        elif r.action == "ticket.created":
            who = _("Open API")
        else:
            who = _("System")
        result.append(Entry(r.created_at, who, _what(r.action, details, name)))
    return result


def _source_of(ticket: Ticket) -> str:
    if ticket.source_batch_id:
        return _("Data migration")
    if ticket.call_id:
        return _("Telephony")
    return _("System")
