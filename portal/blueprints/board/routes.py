"""The supervisor board (SPEC 5, 12): every agent's states in one service, and a manager's override of one
agent's state with a reason. Served at /services/<service ID>/board; the first address, under /agent, redirects."""
from flask import abort, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _

from portal.access import service_role_required
from portal.blueprints.actions import attempt, current_actor, leave_dialog
from portal.blueprints.board import bp
from portal.errors import form_expired
from portal.forms import ConfirmForm
from portal.htmx import render
from portal.models import Member
from portal.models.base import utcnow
from portal.services import agent_states
from portal.services.memberships import membership
from portal.tenancy import get_or_404


@bp.get("/services/<service_key>/board")
@service_role_required("manager")
def index(service_key: str):
    """Supervisor board: every agent's phone and chat state, time in state, calls today, eligible or not. The
    table body polls itself."""
    rows = agent_states.board(g.service)
    state = request.args.get("state", "")
    if state == "eligible":
        rows = [r for r in rows if r.eligible("phone") or r.eligible("chat")]
    elif state == "working":
        rows = [r for r in rows if r.phone or r.chat]
    context = {"service": g.service, "rows": rows, "state": state, "now": utcnow()}
    if request.args.get("part") == "rows":
        return render_template("board/_board_rows.html", **context)
    return render_template("board/board.html", **context)


def _agent_of(member_id: int) -> Member:
    """A member who is an agent of the current service (else 404)."""
    member = get_or_404(Member, id=member_id)
    if membership(member.id, g.service.id) is None:
        abort(404)
    return member


@bp.get("/services/<service_key>/board/members/<int:member_id>/state")
@service_role_required("manager")
def supervise_form(service_key: str, member_id: int):
    member = _agent_of(member_id)

    return render("board/supervise.html", partial="board/_supervise.html", service=g.service, member=member,
                  states=agent_states.current(member.id), form=ConfirmForm(), values={}, error=None,
                  supervisor_choices=agent_states.SUPERVISOR_CHOICES)


@bp.post("/services/<service_key>/board/members/<int:member_id>/state")
@service_role_required("manager")
def supervise(service_key: str, member_id: int):
    """A service manager or org admin sets an agent's state, with a reason that is recorded."""
    member = _agent_of(member_id)
    error = reason_error = None
    if not ConfirmForm().validate_on_submit():
        error = form_expired()
    else:
        channel, _sep, state = request.form.get("channel_state", "").partition(":")
        if not _sep:  # the two fields separately (API-style callers)
            channel, state = request.form.get("channel", ""), request.form.get("state", "")
        before = agent_states.current(member.id).get(channel)
        _changed, refusal = attempt(lambda: agent_states.change(current_actor(), member, g.service, channel, state,
                                                                reason=request.form.get("reason", "")))
        if refusal:
            if refusal.code == "reason_required":
                reason_error = refusal.message
            else:
                error = refusal.message
        else:
            unchanged = (before.state if before else "offline") == state and (
                before is None or before.service_id == g.service.id)
            flash(_("%(name)s is already in that state; nothing changed.", name=member.name) if unchanged
                  else _("The state of %(name)s is changed.", name=member.name), "info" if unchanged else "success")
            return leave_dialog(url_for("board.index", service_key=service_key))
    return render("board/supervise.html", partial="board/_supervise.html", service=g.service, member=member,
                  states=agent_states.current(member.id), form=ConfirmForm(), values=request.form,
                  error=error, reason_error=reason_error, supervisor_choices=agent_states.SUPERVISOR_CHOICES), 422


@bp.route("/agent/<service_key>/board", methods=["GET"])
@bp.route("/agent/<service_key>/members/<int:member_id>/state", methods=["GET", "POST"])
@service_role_required("manager")
def moved(service_key: str, member_id: int | None = None):
    """The board's first address: bookmarks and scripts land on the one SPEC 12 names (308 keeps a POST)."""
    target = (url_for("board.index", service_key=service_key) if member_id is None
              else url_for("board.supervise", service_key=service_key, member_id=member_id))
    query = request.query_string.decode("utf-8", "replace")
    return redirect(f"{target}?{query}" if query else target, code=308 if request.method == "POST" else 301)
