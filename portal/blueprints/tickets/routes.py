"""A service's ticket list, assignment by hand, and one ticket's page: its values, where it came from, its history,
and the moves that close the loop (in progress → resolved → completed, back to the queue). Replies and e-mail
threads arrive with later issues."""
from datetime import date

from flask import flash, g, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from portal.access import service_role_required
from portal.blueprints.actions import act, current_actor
from portal.blueprints.tickets import bp, history
from portal.extensions import db
from portal.forms import ConfirmForm
from portal.labels import ticket_status_label
from portal.models import Call, CtiEvent, Member, MigrationBatch, ServiceMember, Ticket, TicketStatus
from portal.params import NotANumber, day, int_arg
from portal.redirects import safe_next
from portal.services import ServiceError, tickets
from portal.services.ticket_fields import fields_of
from portal.tenancy import get_or_404

MAX_EVENTS = 200  # a call's CTI events shown on its ticket (a real call has a handful)


def _day(raw: str | None, errors: list) -> date | None:
    if not raw:
        return None
    try:
        return day(raw)
    except ValueError:
        errors.append(_("Enter dates as YYYY-MM-DD."))
        return None


@bp.get("")
@service_role_required("reader")
def index(service_key: str):
    args, errors = request.args, []
    status = TicketStatus(args["status"]) if args.get("status") in TicketStatus._value2member_map_ else None
    if args.get("status") and status is None:
        errors.append(_("Unknown status."))
    members = list(db.session.execute(
        select(Member.id, Member.name, Member.login_id, Member.assignment_on).join(ServiceMember, ServiceMember.member_id == Member.id)
        .where(ServiceMember.service_id == g.service.id).order_by(Member.name)))
    try:
        assignee = int_arg("assignee")
    except NotANumber:
        assignee = 0  # no member has it
    if assignee is not None and assignee not in {m.id for m in members}:
        errors.append(_("Unknown assignee."))
        assignee = None
    day_from, day_to = _day(args.get("from"), errors), _day(args.get("to"), errors)
    rows, next_cursor = tickets.page(g.service, status=status, assignee_id=assignee, day_from=day_from,
                                     day_to=day_to, cursor=args.get("cursor"))
    names = {m.id: m.name for m in members}
    query_args = {k: v for k, v in args.items() if k != "cursor" and v}
    return render_template("tickets/index.html", service=g.service, rows=rows, next_cursor=next_cursor,
                           members=members, names=names, statuses=list(TicketStatus), errors=errors,
                           query_args=query_args, first_page=not args.get("cursor"),
                           can_assign=g.service_membership is not None), 400 if errors else 200


@bp.post("/<int:ticket_id>/assign")
@service_role_required("agent")
def assign(service_key: str, ticket_id: int):
    """Assign by hand (members of the service); an away agent, or one whose assignment is off, gets the ticket
    with a warning."""
    ticket = get_or_404(Ticket, id=ticket_id, service_id=g.service.id)
    assignee = int_arg("assignee", source=request.form)  # blank: unassign; no member's id: not found

    def say(warnings: list[str]) -> None:
        flash(_("Ticket #%(number)s is assigned.", number=ticket.number) if ticket.assignee_id
              else _("Ticket #%(number)s is unassigned.", number=ticket.number), "success")
        for warning in warnings:
            flash(warning, "warning")

    return act(lambda: tickets.assign(current_actor(), ticket, assignee), say,
               safe_next(request.form.get("next")) or url_for("tickets.index", service_key=service_key))


def _ticket(number: int) -> Ticket:
    """The ticket of the service in the URL by its number (404 for another service's or organization's)."""
    return get_or_404(Ticket, service_id=g.service.id, number=number)


def _source(ticket: Ticket) -> dict:
    """Where the ticket came from: the call and its CTI events, or the migration batch and row."""
    call = events = batch = None
    if ticket.call_id:
        call = db.session.scalars(select(Call).where(Call.service_id == ticket.service_id,
                                                     Call.call_id == ticket.call_id)).first()
    else:
        call = db.session.scalars(select(Call).where(Call.service_id == ticket.service_id,
                                                     Call.ticket_id == ticket.id).limit(1)).first()
    if call is not None:
        events = list(db.session.scalars(select(CtiEvent).where(
            CtiEvent.service_id == call.service_id, CtiEvent.call_id == call.call_id)
            .order_by(CtiEvent.occurred_at, CtiEvent.id).limit(MAX_EVENTS)))
    if ticket.source_batch_id:
        batch = db.session.scalars(select(MigrationBatch).where(
            MigrationBatch.id == ticket.source_batch_id,
            MigrationBatch.organization_id == ticket.organization_id)).first()
    return {"call": call, "events": events or [], "batch": batch}


def _custom_values(ticket: Ticket) -> list[tuple[str, object]]:
    """(label in the reader's language, value) of the custom fields, in the service's field order; a value whose
    field was deleted since shows under its key."""
    values = dict(ticket.custom or {})
    shown = []
    for field in fields_of(g.service):
        if not field.system and field.key in values:
            shown.append((field, values.pop(field.key)))
    return shown + [(key, value) for key, value in sorted(values.items())]


@bp.get("/<int:number>")
@service_role_required("reader")
def detail(service_key: str, number: int):
    """One ticket. The assignee, a manager of the service or an org admin may move it; other agents read it."""
    ticket = _ticket(number)
    source = _source(ticket)
    ids = {ticket.assignee_id, source["call"].member_id if source["call"] else None,
           *(e.member_id for e in source["events"])} - {None}
    names = dict(db.session.execute(select(Member.id, Member.name).where(
        Member.id.in_(ids), Member.organization_id == ticket.organization_id)).all()) if ids else {}
    return render_template("tickets/detail.html", service=g.service, ticket=ticket, names=names,
                           custom=_custom_values(ticket), history=history.entries(ticket), form=ConfirmForm(),
                           can_work=tickets.may_work_on(current_user, ticket),
                           next_status=tickets.NEXT_STATUS[ticket.status], **source)


def _work(number: int, change, say):
    """Run a move on the ticket for someone who may work on it, refusing when it changed since the page showed it
    (the status the form was made for), and go back to the ticket either way."""
    ticket = _ticket(number)
    back = url_for("tickets.detail", service_key=g.service.service_key, number=number)

    def attempt():
        if not tickets.may_work_on(current_user, ticket):
            raise ServiceError(_("Only the assignee or a manager of the service can change this ticket."),
                               "not_yours")
        seen = request.form.get("seen", "")
        if seen and seen != ticket.status.value:
            raise ServiceError(_("The ticket changed meanwhile; look again."), "changed")
        return change(ticket)

    return act(attempt, say, back)


@bp.post("/<int:number>/status")
@service_role_required("reader")
def move(service_key: str, number: int):
    """in progress → resolved → completed, or a resolved one back in progress; resolving frees capacity at once."""
    status = request.form.get("status", "")

    return _work(number, lambda ticket: tickets.set_status(current_actor(), ticket, status),
                 lambda ticket: _("Ticket #%(number)s is now %(status)s.", number=ticket.number,
                                  status=ticket_status_label(ticket.status)))


@bp.post("/<int:number>/return")
@service_role_required("reader")
def give_back(service_key: str, number: int):
    """Unassign a ticket in progress: it waits in the queue, or goes to someone eligible at once."""
    def say(ticket: Ticket) -> str:
        if ticket.assignee_id is None:
            return _("Ticket #%(number)s is back in the queue.", number=ticket.number)
        return _("Ticket #%(number)s went back to the queue and on to %(name)s.", number=ticket.number,
                 name=db.session.get(Member, ticket.assignee_id).name)

    return _work(number, lambda ticket: tickets.return_to_queue(current_actor(), ticket), say)
