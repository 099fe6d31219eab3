"""The agent's home in one service (SPEC 5.1): my tickets in progress, the queue, my states and assignment, today's
headline figures, and for a manager the team's states. The live part polls itself like the supervisor board."""
from collections import Counter

from flask import g, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from portal.access import service_role_required
from portal.blueprints.workspace import bp
from portal.errors import render_error
from portal.extensions import db
from portal.layout import SESSION_SERVICE_KEY
from portal.models import ServiceRole, Ticket, TicketStatus
from portal.models.base import utcnow
from portal.services import agent_states, assignment, performance

MY_TICKETS_SHOWN = 50  # the rest are one click away in the ticket list, filtered to me


def _team(service) -> dict:
    """The supervisor board in numbers: agents per phone and chat state here, logged in, eligible, offline."""
    rows = agent_states.board(service)
    phone = Counter(r.phone.state for r in rows if r.can_phone and r.phone)
    chat = Counter(r.chat.state for r in rows if r.can_chat and r.chat)
    return {"agents": len(rows), "logged_in": sum(1 for r in rows if r.phone or r.chat),
            "eligible": sum(1 for r in rows if r.eligible_channels()),
            "offline": sum(1 for r in rows if not (r.phone or r.chat)),
            "phone": [(s, phone[s]) for s in agent_states.PHONE_STATES if phone[s]],
            "chat": [(s, chat[s]) for s in agent_states.CHAT_STATES if chat[s]]}


def _live(service, link) -> dict:
    mine = list(db.session.scalars(select(Ticket).where(
        Ticket.service_id == service.id, Ticket.assignee_id == current_user.id,
        Ticket.status == TicketStatus.in_progress).order_by(Ticket.created_at.desc(), Ticket.id.desc())
        .limit(MY_TICKETS_SHOWN)))
    figures = performance.figures(current_user, service)  # the day's headline: My performance's own numbers
    return {"service": service, "link": link, "mine": mine, "figures": figures, "now": utcnow(),
            "states": agent_states.current(current_user.id), "switch": assignment.switch_of(current_user),
            "capacity": assignment.capacity_of(service, link) if link.can_ticket else None,
            "team": _team(service) if link.role == ServiceRole.manager else None}


@bp.get("/workspace/<service_key>")
@service_role_required("agent")
def index(service_key: str):
    """The agent's home of one service; `?part=live` is the part that refreshes itself."""
    if not g.service.is_usable:
        return render_error(403, _("%(name)s is not active, so it cannot be used now.", name=g.service.name))
    context = _live(g.service, g.service_membership)
    if request.args.get("part") == "live":
        return render_template("workspace/_live.html", **context)
    session[SESSION_SERVICE_KEY] = g.service.service_key
    return render_template("workspace/index.html", **context)


@bp.get("/services/<service_key>/")
@service_role_required("agent")
def moved(service_key: str):
    """The workspace's first address: bookmarks land on the one SPEC 12 names."""
    return redirect(url_for("workspace.index", service_key=service_key), code=301)
