"""Service members (서비스관리 → 상담원): who works in a service, as what, on which channels, and how its tickets
are assigned (automatic assignment, capacity, each member's override and switch).

For the service's managers and the org admins. Every change writes the permission change log or the activity
trail."""
from flask import abort, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from portal.access import service_role_required
from portal.blueprints.actions import act, attempt, current_actor, leave_dialog
from portal.errors import form_expired
from portal.forms import ConfirmForm
from portal.blueprints.service_members import bp
from portal.extensions import db
from portal.htmx import is_htmx, render
from portal.models import CHANNELS, AssignMode, Member, ServiceMember, ServiceRole, ServiceStatus
from portal.params import int_arg, page_arg
from portal.services import ServiceError, accounts, assignment, permissions
from portal.services.memberships import membership
from portal.tenancy import get_or_404


def _links():
    return list(db.session.execute(
        select(ServiceMember, Member).join(Member, Member.id == ServiceMember.member_id)
        .where(ServiceMember.service_id == g.service.id).order_by(Member.name, Member.id)
    ))


def _row(member: Member, error: str | None = None, *, editing=False, errors=None, values=None) -> str:
    link = membership(member.id, g.service.id)
    return render_template("service_members/_member_row.html", service=g.service, link=link, member=member,
                           form=ConfirmForm(), row_error=error, editing=editing, errors=errors or {},
                           values=values or {}, work=assignment.workloads(g.service, {member.id: link.ticket_capacity}))


def _index() -> str:
    return url_for("service_members.index", service_key=g.service.service_key)


def _page(*, editing: int | None = None, errors=None, values=None, settings_errors=None, settings_values=None,
          search: dict | None = None, status=200):
    """The page; without JavaScript an inline edit or a refused setting is this page with the row or card open."""
    criteria = {k: request.args.get(k, "") for k in ("name", "login_id", "email")}
    search = search if search is not None else _search(criteria)
    links = _links()
    return render_template("service_members/index.html", service=g.service, links=links, form=ConfirmForm(),
                           channels=CHANNELS, criteria=criteria, editing=editing, errors=errors or {},
                           values=values or {}, settings_errors=settings_errors or {},
                           settings_values=settings_values or {}, modes=list(AssignMode),
                           work=assignment.workloads(g.service, {m.id: link.ticket_capacity for link, m in links}),
                           **search), status


@bp.get("")
@service_role_required("manager")
def index(service_key: str):
    return _page()


def _search(criteria: dict) -> dict:
    page = page_arg()
    found, total, error = [], 0, None
    searched = any(v.strip() for v in criteria.values())
    if searched:
        in_service = select(ServiceMember.member_id).where(ServiceMember.service_id == g.service.id)
        try:
            found, total = accounts.search_members(current_user.organization_id, page=page, exclude_ids=in_service,
                                                   **criteria)
        except ServiceError as exc:
            error = exc.message
    return {"found": found, "total": total, "page": page, "searched": searched, "error": error,
            "pages": max(1, -(-total // accounts.SEARCH_PAGE_SIZE))}


@bp.get("/search")
@service_role_required("manager")
def search(service_key: str):
    criteria = {k: request.args.get(k, "") for k in ("name", "login_id", "email")}
    context = _search(criteria)
    if not context["searched"]:
        context["error"] = _("Enter a name, login ID or e-mail to search.")
    if not is_htmx():
        return _page(search=context)
    return render_template("service_members/_search_results.html", service=g.service, form=ConfirmForm(),
                           criteria=criteria, **context)


@bp.post("/add")
@service_role_required("manager")
def add(service_key: str):
    member = get_or_404(Member, id=int_arg("member_id", source=request.form) or 0)
    role = request.form.get("role", "agent")
    wanted = {channel: request.form.get(channel) == "on" for channel in CHANNELS}
    return act(lambda: permissions.add_service_member(current_actor(), g.service, member, _role(role), **wanted),
               _("%(name)s joined %(service)s as %(role)s.", name=member.name, service=g.service.name,
                 role=_("service manager") if role == "manager" else _("agent")), _index())


def _role(wanted: str) -> ServiceRole:
    if wanted not in ServiceRole._value2member_map_:
        raise ServiceError(_("Choose manager or agent."), "bad_role")
    return ServiceRole(wanted)


def _member_action(member_id: int, change):
    """Run one change on a member of the service; htmx gets the row back, a plain form a redirect."""
    member = get_or_404(Member, id=member_id)
    in_service = membership(member.id, g.service.id) is not None
    return act(lambda: change(member), None, _index(),
               partial=(lambda error: _row(member, error)) if in_service else None)


@bp.post("/<int:member_id>/channel")
@service_role_required("manager")
def channel(service_key: str, member_id: int):
    name, value = request.form.get("channel", ""), request.form.get("value") == "on"
    return _member_action(member_id, lambda m: permissions.set_channel(current_actor(), g.service, m, name, value))


@bp.post("/<int:member_id>/role")
@service_role_required("manager")
def role(service_key: str, member_id: int):
    wanted = request.form.get("role", "")
    return _member_action(member_id, lambda m: permissions.change_role(
        current_actor(), g.service, m, _role(wanted), acting_is_org_admin=current_user.is_org_admin))


@bp.route("/<int:member_id>/remove", methods=["GET", "POST"])
@service_role_required("manager")
def remove(service_key: str, member_id: int):
    member = get_or_404(Member, id=member_id)
    form = ConfirmForm()
    error = None
    if form.validate_on_submit():
        _removed, refusal = attempt(lambda: permissions.remove_service_member(
            current_actor(), g.service, member, acting_is_org_admin=current_user.is_org_admin))
        if refusal:
            error = refusal.message
        else:
            flash(_("%(name)s was removed from %(service)s.", name=member.name, service=g.service.name), "success")
            return leave_dialog(_index())
    status = 409 if error else 200
    return render("service_members/remove.html", partial="service_members/_remove.html", service=g.service,
                  member=member, form=form, error=error), status


# -- automatic assignment -----------------------------------------------------------------------------------

SETTING_ERROR_FIELDS = {"bad_capacity": "capacity", "bad_mode": "mode"}


@bp.post("/assignment")
@service_role_required("manager")
def assignment_settings(service_key: str):
    """Automatic assignment of the service: on or off, its order, and the service's capacity per agent."""
    values = {k: request.form.get(k, "") for k in ("auto", "mode", "capacity")}
    status = 422
    if not ConfirmForm().validate_on_submit():
        errors, status = {"_form": form_expired()}, 400
    elif g.service.status == ServiceStatus.terminated:
        errors = {"_form": _("%(name)s is terminated and can no longer be changed.", name=g.service.name)}
    else:
        actor = current_actor()
        _done, refusal = attempt(lambda: (assignment.set_capacity(actor, g.service, values["capacity"]),
                                          assignment.set_mode(actor, g.service, values["auto"] == "on",
                                                              values["mode"])))
        if refusal is None:
            flash(_("Automatic assignment of %(name)s is saved.", name=g.service.name), "success")
            if is_htmx():
                return render_template("service_members/_assignment_card.html", service=g.service,
                                       form=ConfirmForm(), settings_errors={}, settings_values={},
                                       modes=list(AssignMode))
            return redirect(_index(), code=303)
        errors = {SETTING_ERROR_FIELDS.get(refusal.code, "_form"): refusal.message}
    if is_htmx():
        return render_template("service_members/_assignment_card.html", service=g.service, form=ConfirmForm(),
                               settings_errors=errors, settings_values=values, modes=list(AssignMode)), status
    return _page(settings_errors=errors, settings_values=values, status=status)


@bp.get("/<int:member_id>")
@service_role_required("manager")
def row(service_key: str, member_id: int):
    """Cancel an inline edit: the row as it is saved."""
    return _row(_member_of(member_id))


def _member_of(member_id: int) -> Member:
    """A member of the current service (else 404)."""
    member = get_or_404(Member, id=member_id)
    if membership(member.id, g.service.id) is None:
        abort(404)
    return member


@bp.get("/<int:member_id>/capacity")
@service_role_required("manager")
def capacity_edit(service_key: str, member_id: int):
    member = _member_of(member_id)
    if is_htmx():
        return _row(member, editing=True)
    return _page(editing=member.id)


@bp.post("/<int:member_id>/capacity")
@service_role_required("manager")
def capacity_save(service_key: str, member_id: int):
    """The member's own capacity in the service (blank: the service's); a refusal is said under the field."""
    member = _member_of(member_id)
    values = {"capacity": request.form.get("capacity", "")}
    if not ConfirmForm().validate_on_submit():
        errors, status = {"_form": form_expired()}, 400
    elif g.service.status == ServiceStatus.terminated:
        errors = {"_form": _("%(name)s is terminated and can no longer be changed.", name=g.service.name)}
        status = 422
    else:
        _value, refusal = attempt(lambda: assignment.set_capacity(current_actor(), g.service, values["capacity"],
                                                                  member=member))
        if refusal is None:
            if is_htmx():
                return _row(member)
            flash(_("The capacity of %(name)s is saved.", name=member.name), "success")
            return redirect(_index(), code=303)
        errors, status = {"capacity" if refusal.code == "bad_capacity" else "_form": refusal.message}, 422
    if is_htmx():
        return _row(member, editing=True, errors=errors, values=values), status
    return _page(editing=member.id, errors=errors, values=values, status=status)
