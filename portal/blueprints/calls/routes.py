"""Calls of a service: filters, and missed inbound calls until someone marks them called back."""
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask import g, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from portal.access import service_role_required
from portal.blueprints.actions import act, current_actor
from portal.blueprints.calls import bp
from portal.forms import ConfirmForm
from portal.extensions import db
from portal.models import Call, Member, ServiceMember, Ticket
from portal.models.base import utcnow
from portal.params import NotANumber, day, int_arg
from portal.redirects import safe_referrer
from portal.services.calls import mark_called_back
from portal.services.pagination import decode_cursor, encode_cursor, keyset_before

OUTCOMES = ("answered", "abandoned", "no_answer", "failed")
PAGE_SIZE = 100


@bp.get("")
@service_role_required("reader")
def index(service_key: str):
    args, errors = request.args, []
    zone = ZoneInfo(g.service.time_zone)
    today = utcnow().astimezone(zone).date()
    try:
        first = day(args["from"]) if args.get("from") else today
        last = day(args["to"]) if args.get("to") else first
    except ValueError:
        errors.append(_("Enter days as YYYY-MM-DD."))
        first = last = today
    if first > last or (last - first).days > 92:
        errors.append(_("Choose a range of at most 93 days, first day first."))
        first = last = today
    q = select(Call).where(Call.service_id == g.service.id,
                           Call.started_at >= datetime.combine(first, time.min, tzinfo=zone),
                           Call.started_at < datetime.combine(last + timedelta(days=1), time.min, tzinfo=zone))
    if args.get("direction") in ("IB", "OB"):
        q = q.where(Call.direction == args["direction"])
    if args.get("outcome") in OUTCOMES:
        q = q.where(Call.outcome == args["outcome"])
    if args.get("missed") == "1":
        q = q.where(Call.direction == "IB", Call.outcome == "abandoned", Call.called_back_at.is_(None))
    try:
        agent = int_arg("agent")
    except NotANumber:
        errors.append(_("Unknown agent."))
        agent = None
    if agent:
        q = q.where(Call.member_id == agent)
    position = decode_cursor(args["cursor"]) if args.get("cursor") else None
    if position is not None:
        q = q.where(keyset_before(Call.started_at, Call.id, position))
    calls = list(db.session.scalars(q.order_by(Call.started_at.desc(), Call.id.desc()).limit(PAGE_SIZE + 1)))
    next_cursor = encode_cursor(calls[PAGE_SIZE - 1].started_at, calls[PAGE_SIZE - 1].id) if len(calls) > PAGE_SIZE else None
    calls = calls[:PAGE_SIZE]
    ticket_numbers = dict(db.session.execute(select(Ticket.id, Ticket.number).where(
        Ticket.id.in_({c.ticket_id for c in calls} - {None}))).all())
    members = list(db.session.execute(
        select(Member.id, Member.name).join(ServiceMember, ServiceMember.member_id == Member.id)
        .where(ServiceMember.service_id == g.service.id, ServiceMember.can_phone.is_(True)).order_by(Member.name)))
    referenced = {c.member_id for c in calls} | {c.called_back_by_id for c in calls}
    names = dict(db.session.execute(select(Member.id, Member.name).where(Member.id.in_(referenced - {None}))).all())
    return render_template("calls/index.html", service=g.service, calls=calls, members=members, names=names,
                           errors=errors, first=first, last=last, outcomes=OUTCOMES, form=ConfirmForm(),
                           next_cursor=next_cursor, ticket_numbers=ticket_numbers,
                           query_args={k: v for k, v in args.items() if k != "cursor" and v},
                           first_page=not args.get("cursor")), 400 if errors else 200


@bp.post("/<int:call_id>/called-back")
@service_role_required("agent")
def called_back(service_key: str, call_id: int):
    """Mark a missed inbound call as called back (who and when are recorded; the first mark stays)."""
    return act(lambda: mark_called_back(current_actor(), g.service, call_id), _("Marked as called back."),
               safe_referrer() or url_for("calls.index", service_key=service_key))
