"""The agent's availability: phone and chat state from the top bar, and the phone widget."""
from flask import abort, render_template, request, url_for
from flask_login import current_user

from portal.access import member_required
from portal.blueprints.actions import act, current_actor
from portal.blueprints.agent import bp
from portal.layout import current_service
from portal.redirects import safe_referrer
from portal.services import agent_states, softphone


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
