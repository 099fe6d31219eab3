"""A service's ticket list (full ticket work arrives with later issues)."""
from datetime import date

from flask import g, render_template, request
from flask_babel import gettext as _
from sqlalchemy import select

from portal.access import service_role_required
from portal.blueprints.tickets import bp
from portal.extensions import db
from portal.models import Member, ServiceMember, TicketStatus
from portal.services import tickets


def _day(raw: str | None, errors: list) -> date | None:
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
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
        select(Member.id, Member.name, Member.login_id).join(ServiceMember, ServiceMember.member_id == Member.id)
        .where(ServiceMember.service_id == g.service.id).order_by(Member.name)))
    assignee = args.get("assignee", type=int)
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
                           query_args=query_args, first_page=not args.get("cursor")), 400 if errors else 200
