"""CTI management (CTI 관리): settings per CTI service, and agents' CTI credentials with inline edit."""
from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from portal.access import org_admin_required
from portal.blueprints.actions import act, attempt, current_actor
from portal.blueprints.cti import bp
from portal.forms import ConfirmForm
from portal.errors import form_expired
from portal.extensions import db
from portal.htmx import is_htmx
from portal.models import CtiAgent, Member, Organization
from portal.params import page_arg
from portal.services import cti
from portal.tenancy import get_or_404

PAGE_SIZE = 50


def _cti_service(services, key: str | None):
    if key is None:
        return services[0] if services else None
    match = next((s for s in services if s.service_key == key), None)
    if match is None:
        abort(404)  # unknown, another organization's, or a service without CTI
    return match


def _org() -> Organization:
    return db.session.get(Organization, current_user.organization_id)


def _settings_page(services, service, *, values=None, error=None, status=200, asking=None, question=None):
    """The settings of one CTI service; `asking` names the switch whose row asks `question` before it goes off."""
    return render_template("cti/settings.html", services=services, service=service, settings=cti.settings_of(service),
                           org=_org(), form=ConfirmForm(), error=error, values=values or {}, asking=asking,
                           question=question, retention_range=cti.RETENTION_DAYS,
                           acw_range=cti.ACW_LIMIT_SECONDS), status


@bp.route("", methods=["GET", "POST"])
@org_admin_required
def settings():
    services = cti.cti_services(current_user.organization_id)
    service = _cti_service(services, request.values.get("service"))
    if service is None:
        return render_template("cti/settings.html", services=[], service=None, settings=None, form=ConfirmForm())
    error, status = None, 200
    if request.method == "POST":
        if not ConfirmForm().validate_on_submit():
            error, status = form_expired(), 400
        else:
            _saved, refusal = attempt(lambda: cti.save_connection(
                current_actor(), service, version=request.form.get("version", ""),
                tenant_id=request.form.get("tenant_id", ""), tenant_name=request.form.get("tenant_name", "")))
            if refusal:
                error, status = refusal.message, 422
            else:
                flash(_("The CTI settings of %(name)s are saved.", name=service.name), "success")
                return redirect(url_for("cti.settings", service=service.service_key), code=303)
    return _settings_page(services, service, values=request.form, error=error, status=status)


@bp.post("/<service_key>/toggle")
@org_admin_required
def toggle(service_key: str):
    """One on/off setting, saved at once; htmx gets the switch back re-rendered (and, for Mobile Contact's
    activation, the CTI version choice that follows it). Switching activation off while Mobile Contact is the
    version first asks, in the switch's row, and says what happens."""
    services = cti.cti_services(current_user.organization_id)
    service = _cti_service(services, service_key)
    name, value = request.form.get("name", ""), request.form.get("value") == "on"
    if name not in cti.TOGGLES:
        abort(400)
    error, status, asking = None, 200, None
    if not ConfirmForm().validate_on_submit():
        error, status = form_expired(), 400
    else:
        _saved, refusal = attempt(lambda: cti.set_toggle(current_actor(), service, name, value,
                                                         remove_version=request.form.get("remove_version") == "yes"))
        if refusal:
            error, status = refusal.message, 409
            asking = name if refusal.code == "version_needs_mobile" else None
    if is_htmx():
        return render_template("cti/_toggle.html", service=service, settings=cti.settings_of(service), name=name,
                               form=ConfirmForm(), error=error, asking=asking, oob=True, org=_org()), status
    if asking:  # without JavaScript the question is asked on the page, in the switch's row
        return _settings_page(services, service, status=status, asking=asking, question=error)
    if error:
        flash(error, "error")
    return redirect(url_for("cti.settings", service=service.service_key), code=303)


def _save_number(service_key: str, save, saved_message):
    """A one-number setting form: save it, say what it is now (or why not), back to the settings page."""
    service = _cti_service(cti.cti_services(current_user.organization_id), service_key)
    return act(lambda: save(service), lambda settings: saved_message(service, settings),
               url_for("cti.settings", service=service.service_key))


@bp.post("/<service_key>/retention")
@org_admin_required
def retention(service_key: str):
    """How many days of CTI log to keep."""
    return _save_number(
        service_key, lambda service: cti.set_retention(current_actor(), service, request.form.get("days", "")),
        lambda service, settings: _("The CTI log of %(name)s is kept for %(n)d days.", name=service.name,
                                    n=settings.log_retention_days))


@bp.post("/<service_key>/acw-limit")
@org_admin_required
def acw_limit(service_key: str):
    """After-call work limit (seconds, empty for none)."""
    return _save_number(
        service_key, lambda service: cti.set_acw_limit(current_actor(), service, request.form.get("seconds", "")),
        lambda service, settings: _("Agents of %(name)s return to ready %(n)d seconds after a call.",
                                    name=service.name, n=settings.acw_limit_seconds) if settings.acw_limit_seconds
        else _("Agents of %(name)s stay in ticket work after a call until they choose.", name=service.name))


# -- agents -------------------------------------------------------------------------------------------------

# Which field of an agent's inline edit shows a refusal of cti.set_credentials ("_form": the row as a whole).
AGENT_ERROR_FIELDS = {"bad_cti_id": "cti_id", "cti_id_taken": "cti_id", "bad_cti_number": "cti_number",
                      "cti_number_taken": "cti_number"}


def _agent_row(member: Member, *, editing=False, errors=None, values=None) -> str:
    agent = db.session.query(CtiAgent).filter_by(member_id=member.id).first()
    return render_template("cti/_agent_row.html", member=member, agent=agent, editing=editing, errors=errors or {},
                           values=values or {}, form=ConfirmForm())


def _agents_page(query: str, *, editing: int | None = None, errors=None, values=None, status=200):
    """The list; without JavaScript an inline edit is this page with the member's row open (found by `query`)."""
    page = page_arg()
    rows, total = cti.phone_members(current_user.organization_id, query, page, PAGE_SIZE)
    return render_template("cti/agents.html", rows=rows, total=total, query=query, page=page,
                           pages=max(1, -(-total // PAGE_SIZE)), form=ConfirmForm(), editing=editing,
                           errors=errors or {}, values=values or {}), status


def _phone_member(member_id: int) -> Member:
    member = get_or_404(Member, id=member_id)
    if not cti.has_phone_permission(member):
        abort(404)
    return member


@bp.get("/agents")
@org_admin_required
def agents():
    return _agents_page(request.args.get("q", ""))


@bp.get("/agents/<int:member_id>")
@org_admin_required
def agent_row(member_id: int):
    """Cancel: the row as it is saved."""
    return _agent_row(_phone_member(member_id))


@bp.get("/agents/<int:member_id>/edit")
@org_admin_required
def agent_edit(member_id: int):
    member = _phone_member(member_id)
    if is_htmx():
        return _agent_row(member, editing=True)
    return _agents_page(member.login_id, editing=member.id)


@bp.post("/agents/<int:member_id>")
@org_admin_required
def agent_save(member_id: int):
    """Save a member's CTI ID and number; a refusal is said under the field it concerns, in the row, as typed."""
    member = _phone_member(member_id)
    values = {"cti_id": request.form.get("cti_id", ""), "cti_number": request.form.get("cti_number", "")}
    if not ConfirmForm().validate_on_submit():
        errors, status = {"_form": form_expired()}, 400
    else:
        _agent, refusal = attempt(lambda: cti.set_credentials(current_actor(), member, **values))
        if refusal is None:
            if is_htmx():
                return _agent_row(member)
            flash(_("The CTI credentials of %(name)s are saved.", name=member.name), "success")
            return redirect(url_for("cti.agents"), code=303)
        errors, status = {AGENT_ERROR_FIELDS.get(refusal.code, "_form"): refusal.message}, 422
    if is_htmx():
        return _agent_row(member, editing=True, errors=errors, values=values), status
    return _agents_page(member.login_id, editing=member.id, errors=errors, values=values, status=status)
