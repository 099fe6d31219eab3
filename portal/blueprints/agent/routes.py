"""The agent's availability: phone and chat state from the top bar, and a supervisor's override."""
from flask import abort, flash, g, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from portal.access import member_required, service_role_required
from portal.blueprints.actions import act, attempt, current_actor, leave_dialog
from portal.blueprints.agent import bp
from portal.errors import form_expired
from portal.forms import ConfirmForm
from portal.htmx import render
from portal.layout import current_service
from portal.models import Member
from portal.models.base import utcnow
from portal.redirects import safe_referrer
from portal.services import agent_states, softphone
from portal.services.memberships import membership
from portal.tenancy import get_or_404


@bp.post("/state")
@member_required
def state():
    """One click in the top bar: the member's own phone or chat state in the current service."""
    def states(error: str | None) -> str:
        # The phone widget shows the same phone state: it follows out of band.
        service = current_service()
        phone_agent = softphone.available(current_user, service)
        return render_template("agent/_states.html", state_error=error, phone_oob=phone_agent is not None,
                               phone=softphone.status(current_user, service, phone_agent) if phone_agent else None,
                               service=service)

    return act(lambda: agent_states.change(current_actor(), current_user, current_service(),
                                           request.form.get("channel", ""), request.form.get("state", "")),
               None, safe_referrer() or url_for("home.index"), partial=states)


@bp.get("/<service_key>/board")
@service_role_required("manager")
def board(service_key: str):
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
        return render_template("agent/_board_rows.html", **context)
    return render_template("agent/board.html", **context)


def _agent_of(member_id: int) -> Member:
    """A member who is an agent of the current service (else 404)."""
    member = get_or_404(Member, id=member_id)
    if membership(member.id, g.service.id) is None:
        abort(404)
    return member


@bp.get("/<service_key>/members/<int:member_id>/state")
@service_role_required("manager")
def supervise_form(service_key: str, member_id: int):
    member = _agent_of(member_id)

    return render("agent/supervise.html", partial="agent/_supervise.html", service=g.service, member=member,
                  states=agent_states.current(member.id), form=ConfirmForm(), values={}, error=None,
                  supervisor_choices=agent_states.SUPERVISOR_CHOICES)


@bp.post("/<service_key>/members/<int:member_id>/state")
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
            return leave_dialog(url_for("agent.board", service_key=service_key))
    return render("agent/supervise.html", partial="agent/_supervise.html", service=g.service, member=member,
                  states=agent_states.current(member.id), form=ConfirmForm(), values=request.form,
                  error=error, reason_error=reason_error, supervisor_choices=agent_states.SUPERVISOR_CHOICES), 422


def _phone_context():
    """The widget applies to phone agents with CTI credentials in the service they work in; 404 otherwise."""
    service = current_service()
    agent = softphone.available(current_user, service)
    if agent is None:
        abort(404)
    return service, agent


def _render_phone(service, agent, error=None, states_oob=False) -> str:
    """The panel, with its summary line out of band; after an action also the top bar's states (not on
    polls: replacing the top bar would shut a state menu the agent has open)."""
    phone = softphone.status(current_user, service, agent)
    return render_template("agent/_phone_panel.html", phone=phone, service=service, phone_error=error,
                           oob=True, states_oob=states_oob)


@bp.get("/phone")
@member_required
def phone():
    """The widget's panel (polled while it is open, so events from the switch show up)."""
    service, agent = _phone_context()
    return _render_phone(service, agent)


PHONE_ACTIONS = {
    "login": lambda member, service, agent, form: softphone.login(member, service, agent),
    "logout": lambda member, service, agent, form: softphone.logout(member, service, agent),
    "dial": lambda member, service, agent, form: softphone.dial(member, service, agent, form.get("number", "")),
    "ring": lambda member, service, agent, form: softphone.ring(member, service, agent, form.get("number", "")),
    "answer": lambda member, service, agent, form: softphone.answer(member, service, agent),
    "hangup": lambda member, service, agent, form: softphone.hang_up(member, service, agent),
    "next": lambda member, service, agent, form: softphone.after_call(member, service, agent, form.get("state", "")),
}


@bp.post("/phone/<action>")
@member_required
def phone_action(action: str):
    """Log in/out, dial, a simulated inbound call, answer, hang up, the after-call pick: each one CTI event."""
    if action not in PHONE_ACTIONS:
        abort(404)
    service, agent = _phone_context()
    return act(lambda: PHONE_ACTIONS[action](current_user, service, agent, request.form), None,
               safe_referrer() or url_for("home.index"), refused_status=422,
               partial=lambda error: _render_phone(service, agent, error, states_oob=True))
