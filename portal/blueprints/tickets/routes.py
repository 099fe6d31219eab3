"""A service's ticket list and assignment by hand (full ticket work arrives with later issues)."""
from datetime import date

from flask import flash, g, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from portal.access import service_role_required
from portal.blueprints.actions import act, current_actor
from portal.blueprints.tickets import bp
from portal.extensions import db
from portal.models import Member, ServiceMember, Ticket, TicketStatus
from portal.params import NotANumber, day, int_arg
from portal.redirects import safe_next
from portal.services import tickets
from portal.tenancy import get_or_404


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
