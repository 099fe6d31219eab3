"""The supervisor board (SPEC 5, 5.1, 12): every agent's states, assignment switch and tickets against capacity in
one service, and a manager's override of one agent's state or assignment with a reason. Served at
/services/<service ID>/board; the first address, under /agent, redirects."""
from flask import abort, flash, g, make_response, redirect, render_template, request, url_for
from flask_babel import get_locale, gettext as _, ngettext

from portal.access import service_role_required
from portal.blueprints.actions import attempt, current_actor, leave_dialog
from portal.blueprints.board import bp, poll
from portal.errors import form_expired
from portal.forms import ConfirmForm
from portal.htmx import render
from portal.models import Member
from portal.models.base import utcnow
from portal.params import local_moment
from portal.redirects import safe_next
from portal.services import agent_states, assignment
from portal.services.memberships import membership
from portal.tenancy import get_or_404


@bp.get("/services/<service_key>/board")
@service_role_required("manager")
def index(service_key: str):
    """Supervisor board: every agent's phone and chat state, time in state, calls today, eligible or not, the
    assignment switch and tickets in progress against capacity. The table body polls itself."""
    rows = agent_states.board(g.service)
    work = assignment.workloads(g.service, {r.member_id: r.ticket_capacity for r in rows})
    state, load = request.args.get("state", ""), request.args.get("assignment", "")
    if state == "eligible":
        rows = [r for r in rows if r.eligible("phone") or r.eligible("chat")]
    elif state == "working":
        rows = [r for r in rows if r.phone or r.chat]
    if load == "off":
        rows = [r for r in rows if not work[r.member_id].switch.on]
    elif load == "full":
        rows = [r for r in rows if r.can_ticket and work[r.member_id].full]
    board = poll.snapshot(f"{g.service.id}|{g.service.service_key}|{g.service.time_zone}|{get_locale()}|{state}|{load}",
                          rows, work)
    context = {"service": g.service, "rows": rows, "work": work, "state": state, "load": load, "now": utcnow(),
               "version": board.tag}
    if request.args.get("part") != "rows":
        poll.remember(board)
        return render_template("board/board.html", **context)
    # The poll: nothing changed → 304; a version known here → only the changed rows, out of band; else every row.
    shown = next(iter(request.if_none_match.as_set()), "") if request.if_none_match else ""
    if shown == board.tag:
        return _versioned(make_response("", 304), board)
    diff = poll.changes(poll.recall(shown), board)
    poll.remember(board)
    if diff is None:
        return _versioned(make_response(render_template("board/_board_rows.html", **context)), board)
    changed = set(diff.changed)
    response = make_response(render_template("board/_board_rows.html", **{
        **context, "rows": [r for r in rows if r.member_id in changed], "removed": diff.removed, "oob": True}))
    response.headers["HX-Reswap"] = "none"  # the rows swap themselves by id
    return _versioned(response, board)


def _versioned(response, board: poll.Snapshot):
    response.set_etag(board.tag)
    response.headers["Cache-Control"] = "no-store"  # the browser must not answer the poll from its cache
    return response


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


# Which field of the assignment dialog shows a refusal of assignment.switch (else the dialog as a whole).
SWITCH_ERROR_FIELDS = {"reason_required": "reason", "note_too_long": "reason", "until_past": "until",
                       "until_too_far": "until"}


def _switch_dialog(member: Member, values, errors: dict, status: int = 200):
    return render("board/assignment.html", partial="board/_assignment.html", service=g.service, member=member,
                  current=assignment.switch_of(member), form=ConfirmForm(), values=values, errors=errors,
                  back=safe_next(values.get("next")) or url_for("board.index", service_key=g.service.service_key)
                  ), status


@bp.get("/services/<service_key>/board/members/<int:member_id>/assignment")
@service_role_required("manager")
def assignment_form(service_key: str, member_id: int):
    member = _agent_of(member_id)
    return _switch_dialog(member, {"next": request.args.get("next", ""),
                                   "on": "off" if member.assignment_on else "on"}, {})


@bp.post("/services/<service_key>/board/members/<int:member_id>/assignment")
@service_role_required("manager")
def assignment_switch(service_key: str, member_id: int):
    """A service manager or org admin turns a member's assignment on or off (off: optionally until a time, in
    the service's zone, and returning their tickets to the queue), with a reason that is recorded."""
    member = _agent_of(member_id)
    form = request.form
    errors: dict[str, str] = {}
    on, until = form.get("on") == "on", None
    if not ConfirmForm().validate_on_submit():
        return _switch_dialog(member, form, {"_form": form_expired()}, 400)
    if form.get("on") not in ("on", "off"):
        errors["on"] = _("Choose on or off.")
    if not on and form.get("until", "").strip():
        try:
            until = local_moment(form["until"], g.service.time_zone)
        except ValueError:
            errors["until"] = _("Enter a date and time, or leave it blank.")
    if errors:
        return _switch_dialog(member, form, errors, 422)
    returned, refusal = attempt(lambda: assignment.switch(current_actor(), member, on, until=until,
                                                          note=form.get("reason", ""),
                                                          return_tickets=form.get("return_tickets") == "on"))
    if refusal:
        return _switch_dialog(member, form, {SWITCH_ERROR_FIELDS.get(refusal.code, "_form"): refusal.message}, 422)
    if on:
        flash(_("Assignment of %(name)s is on.", name=member.name), "success")
    elif returned:
        flash(ngettext("Assignment of %(name)s is off; %(num)d ticket went back to the queue.",
                       "Assignment of %(name)s is off; %(num)d tickets went back to the queue.", returned,
                       name=member.name), "success")
    else:
        flash(_("Assignment of %(name)s is off.", name=member.name), "success")
    return leave_dialog(safe_next(form.get("next")) or url_for("board.index", service_key=service_key))


@bp.route("/agent/<service_key>/board", methods=["GET"])
@bp.route("/agent/<service_key>/members/<int:member_id>/state", methods=["GET", "POST"])
@service_role_required("manager")
def moved(service_key: str, member_id: int | None = None):
    """The board's first address: bookmarks and scripts land on the one SPEC 12 names (308 keeps a POST)."""
    target = (url_for("board.index", service_key=service_key) if member_id is None
              else url_for("board.supervise", service_key=service_key, member_id=member_id))
    query = request.query_string.decode("utf-8", "replace")
    return redirect(f"{target}?{query}" if query else target, code=308 if request.method == "POST" else 301)
