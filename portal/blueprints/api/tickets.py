"""Open API: a service's tickets. Create one (a web form or a mail gateway in front of the portal), read one.

A ticket's values go through the service's ticket fields exactly as a migration row does (tickets.create), so the
refusals are the migration's row errors, said in the caller's language. `Idempotency-Key` makes a retry safe: the
first answer is stored with the ticket (common.idempotent), and the key is also kept on the ticket, unique per
service, so two requests with the same key at the same moment still create one ticket."""
from __future__ import annotations

import hashlib

from flask import request, url_for
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from portal.blueprints.actions import current_actor
from portal.blueprints.api.common import (
    Blueprint,
    api_key_required,
    documented_errors,
    idempotent,
    problem,
    rate_limited,
    service_problem,
)
from portal.blueprints.api.schemas import TicketCreateSchema, TicketSchema
from portal.extensions import db
from portal.messages import RowErrors
from portal.models import Member, Service, Ticket, TicketChannel, TicketPriority, TicketStatus
from portal.services import ServiceError, tickets
from portal.services.ticket_fields import SYSTEM_FIELDS, fields_of
from portal.tenancy import get_or_404
from portal.transactions import savepoint

blp = Blueprint("api_tickets", __name__, url_prefix="/api/v1/services", description="Tickets of a service")

SYSTEM_KEYS = {key for key, *_rest in SYSTEM_FIELDS}
REQUESTER = {"name": "requester_name", "email": "requester_email", "phone": "requester_phone"}
# Where a field's value sits in the request, to name it in an error.
PATH_OF = {field: f"requester.{part}" for part, field in REQUESTER.items()}
PLAIN = ("title", "body", "channel", "priority", "category", "tags", "external_id", "assignee")


def _path(key: str) -> str:
    return PATH_OF.get(key) or (key if key in SYSTEM_KEYS else f"custom.{key}")


def ticket_key(idempotency_key: str) -> str:
    """The client's key as the ticket keeps it: its SHA-256 (a key may be 100 characters, the column holds 64)."""
    return hashlib.sha256(idempotency_key.encode()).hexdigest()


def ticket_out(service: Service, ticket: Ticket) -> dict:
    assignee = db.session.scalar(select(Member.login_id).where(Member.id == ticket.assignee_id)) \
        if ticket.assignee_id else None
    return {"service_id": service.service_key, "number": ticket.number, "title": ticket.title, "body": ticket.body,
            "status": TicketStatus(ticket.status), "assignee": assignee, "channel": TicketChannel(ticket.channel),
            "priority": TicketPriority(ticket.priority),
            "requester": {"name": ticket.requester_name, "email": ticket.requester_email,
                          "phone": ticket.requester_phone},
            "category": ticket.category, "tags": ticket.tags or [], "external_id": ticket.external_id,
            "custom": ticket.custom or {}, "created_at": ticket.created_at, "updated_at": ticket.updated_at,
            "closed_at": ticket.closed_at}


def _created(service: Service, ticket: Ticket, status: int):
    return ticket_out(service, ticket), status, {
        "Location": url_for("api_tickets.get_ticket", service_id=service.service_key, number=ticket.number)}


def _values(data: dict) -> tuple[dict, list[str]]:
    """The request as ticket values keyed by field key, and the custom keys that name a system field (which
    `custom` cannot set)."""
    values = {key: data[key] for key in PLAIN if data.get(key) is not None}
    for part, key in REQUESTER.items():
        if (data.get("requester") or {}).get(part) is not None:
            values[key] = data["requester"][part]
    custom = data.get("custom") or {}
    misplaced = sorted(key for key in custom if key in SYSTEM_KEYS)
    values.update({key: value for key, value in custom.items() if key not in SYSTEM_KEYS and value is not None})
    return values, misplaced


def _invalid(errors: list[dict], fields_by_column: dict, unknown: list[str]):
    """422 with every problem at its field (`errors`: path → messages, as a schema refusal lists them) and its
    stable code (`codes`: path → code), in the caller's language."""
    said = RowErrors()
    messages: dict[str, list[str]] = {}
    codes: dict[str, str] = {}
    for error in errors:
        path = _path(fields_by_column.get(tuple(error.get("column") or ()), "ticket"))
        messages.setdefault(path, []).append(said.message(error.get("code"), error.get("args")))
        codes.setdefault(path, error.get("code"))
    for key in unknown:
        path = f"custom.{key}"
        messages.setdefault(path, []).append(_("No ticket field has this key."))
        codes.setdefault(path, "unknown_field")
    return problem(422, "invalid_ticket", _("The ticket's values are not valid; see errors."), errors=messages,
                   codes=codes)


@blp.route("/<service_id>/tickets", methods=["POST"])
@api_key_required
@rate_limited
@idempotent
@blp.arguments(TicketCreateSchema)
@blp.response(201, TicketSchema, headers={"Location": {"description": "The ticket's address",
                                                       "schema": {"type": "string"}}})
@blp.alt_response(200, schema=TicketSchema, description="A ticket created before with this Idempotency-Key")
@documented_errors(blp, 400, 401, 404, 409, 413, 422, 429)
def create_ticket(data, service_id):
    """Create a ticket in the service: `title` (required), `body`, `requester` {name, email, phone}, `channel`
    (web or email), `priority`, `category`, `tags`, `external_id`, `assignee` (a member's login ID) and `custom`
    values by field key, checked against the service's ticket fields (422 `invalid_ticket`, each problem at its
    field). Without an assignee the ticket waits in the service's queue, and goes at once to an agent who can take
    it when the service assigns automatically: the answer names the assignee.

    A service that is not active (draft, suspended or terminated) takes no tickets: 409 `service_not_active`.
    Send an `Idempotency-Key` to retry safely: a repeat answers the first answer again (201, with
    `Idempotent-Replayed: true`) and creates nothing, also when both are sent at the same moment."""
    service = get_or_404(Service, service_key=service_id)
    values, misplaced = _values(data)
    header = request.headers.get("Idempotency-Key")
    key = ticket_key(header) if header else None
    if key is not None and (existing := tickets.find_by_key(service, key)) is not None:
        return _created(service, existing, 200)
    try:
        if misplaced:
            raise tickets.TicketInvalid([], misplaced)
        with savepoint():
            ticket = tickets.create(current_actor(), service, values, idempotency_key=key)
    except tickets.TicketInvalid as exc:
        return _invalid(exc.errors, {(f.label_ko, f.label_en): f.key for f in fields_of(service)}, exc.unknown)
    except ServiceError as exc:
        return service_problem(exc)
    except IntegrityError:
        # The same key at the same moment: the other request's ticket is the one (this one's savepoint is undone).
        ticket = tickets.find_by_key(service, key) if key else None
        if ticket is None:
            raise
        return _created(service, ticket, 200)
    return _created(service, ticket, 201)


@blp.route("/<service_id>/tickets/<int:number>", methods=["GET"])
@api_key_required
@rate_limited
@blp.response(200, TicketSchema)
@documented_errors(blp, 401, 404, 429)
def get_ticket(service_id, number):
    """One ticket of the service, by its number."""
    service = get_or_404(Service, service_key=service_id)
    ticket = db.session.scalars(select(Ticket).where(Ticket.service_id == service.id,
                                                     Ticket.number == number)).first()
    if ticket is None:
        return problem(404, "not_found", _("No such ticket in this service."))
    return ticket_out(service, ticket)
