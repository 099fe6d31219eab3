"""Service members (서비스관리 → 상담원): who works in a service, as what, on which channels.

For the service's managers and the org admins. Every change writes the permission change log."""
from flask import flash, g, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from portal.access import service_role_required
from portal.blueprints.actions import act, attempt, current_actor, leave_dialog
from portal.forms import ConfirmForm
from portal.blueprints.service_members import bp
from portal.extensions import db
from portal.htmx import render
from portal.models import CHANNELS, Member, ServiceMember, ServiceRole
from portal.params import int_arg, page_arg
from portal.services import ServiceError, accounts, permissions
from portal.services.memberships import membership
from portal.tenancy import get_or_404


def _links():
    return list(db.session.execute(
        select(ServiceMember, Member).join(Member, Member.id == ServiceMember.member_id)
        .where(ServiceMember.service_id == g.service.id).order_by(Member.name, Member.id)
    ))


def _row(member: Member, error: str | None = None) -> str:
    return render_template("service_members/_member_row.html", service=g.service,
                           link=membership(member.id, g.service.id), member=member, form=ConfirmForm(),
                           row_error=error)


def _index() -> str:
    return url_for("service_members.index", service_key=g.service.service_key)


@bp.get("")
@service_role_required("manager")
def index(service_key: str):
    criteria = {k: request.args.get(k, "") for k in ("name", "login_id", "email")}
    return render_template("service_members/index.html", service=g.service, links=_links(), form=ConfirmForm(),
                           channels=CHANNELS, criteria=criteria, **_search(criteria))


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
    return render("service_members/index.html", partial="service_members/_search_results.html", service=g.service,
                  links=_links(), form=ConfirmForm(), channels=CHANNELS, criteria=criteria, **context)


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
