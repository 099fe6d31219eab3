"""Contracted services (계약 서비스 현황): the status list, the add-service wizard (step 1), service edit, status,
termination and the banner. The contract itself is in contract.py, billing in billing.py, the organization's
info and API key in organization.py. Handlers: load → check → act → render."""
from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import func, select

from portal.access import member_required, org_admin_required
from portal.blueprints.actions import act, attempt, current_actor, leave_dialog
from portal.blueprints.contracts import bp
from portal.blueprints.contracts.forms import (
    ERROR_FIELDS,
    ServiceBasicForm,
    StatusForm,
    TerminateForm,
)
from portal.downloads import stored_image
from portal.extensions import db
from portal.htmx import render
from portal.models import Contract, EditorType, Service, ServiceStatus, ServiceType
from portal.params import page_arg
from portal.services import ServiceError, contracts
from portal.services.catalog import time_zones
from portal.services.storage import load
from portal.tenancy import current_org_id, get_or_404, scoped

PAGE_SIZE = 50


def org_service(service_key: str) -> Service:
    return get_or_404(Service, service_key=service_key)


# -- contract status ----------------------------------------------------------------------------------------

@bp.get("/services")
@org_admin_required
def status():
    type_filter = request.args.get("type", "")
    status_filter = request.args.get("status", "")
    page = page_arg()
    query = scoped(Service)
    if type_filter in ServiceType._value2member_map_:
        query = query.where(Service.type == ServiceType(type_filter))
    if status_filter in ServiceStatus._value2member_map_:
        query = query.where(Service.status == ServiceStatus(status_filter))
    total = db.session.scalar(select(func.count()).select_from(query.subquery()))
    services = list(db.session.scalars(
        query.order_by(func.lower(Service.name), Service.id).limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE)
    ))
    return render_template(
        "contracts/status.html", services=services, totals=_monthly_totals([s.id for s in services]), type_filter=type_filter,
        status_filter=status_filter, page=page, pages=max(1, -(-total // PAGE_SIZE)), total=total,
        status_form=StatusForm(),
    )


def _monthly_totals(service_ids: list[int]) -> dict[int, int]:
    """The monthly total of the contract in force, per service (services without one are absent)."""
    if not service_ids:
        return {}
    return dict(db.session.execute(
        select(Contract.service_id, Contract.monthly_total)
        .where(Contract.service_id.in_(service_ids), Contract.effective_to.is_(None))
    ).all())


def _row(service: Service, error: str | None = None) -> str:
    return render_template(
        "contracts/_service_row.html", service=service, monthly_total=_monthly_totals([service.id]).get(service.id),
        status_form=StatusForm(), row_error=error,
    )


@bp.post("/services/<service_key>/status")
@org_admin_required
def toggle_status(service_key: str):
    service = org_service(service_key)
    target = request.form.get("to", "")

    def switch() -> Service:
        if target not in ("active", "suspended"):
            raise ServiceError(_("Choose in use or suspended."), "bad_status")
        return contracts.set_status(current_actor(), service, ServiceStatus(target))

    return act(switch, lambda switched: _("%(name)s is in use again.", name=switched.name)
               if switched.status == ServiceStatus.active
               else _("%(name)s is suspended. It is still billed.", name=switched.name),
               url_for("contracts.status"), partial=lambda error: _row(service, error))


@bp.route("/services/<service_key>/terminate", methods=["GET", "POST"])
@org_admin_required
def terminate(service_key: str):
    service = org_service(service_key)
    form = TerminateForm()
    error = None
    if form.validate_on_submit():
        _terminated, refusal = attempt(lambda: contracts.terminate(current_actor(), service,
                                                                   confirm_key=form.confirm_key.data))
        if refusal:
            error = refusal.message
        else:
            flash(_("%(name)s is terminated. Its data is kept for audit and billing.", name=service.name), "success")
            return leave_dialog(url_for("contracts.status"))
    elif form.is_submitted():
        error = _("Type the service ID %(key)s to confirm.", key=service.service_key)
    status_code = 422 if error else 200
    if service.status == ServiceStatus.terminated:
        status_code = 409 if form.is_submitted() else 200
    return render("contracts/terminate.html", partial="contracts/_terminate.html", service=service, form=form,
                  error=error), status_code


# -- add service: step 1, basic info ------------------------------------------------------------------------

def _submitted_banner() -> tuple[str, bytes] | None:
    banner_file = request.files.get("banner")
    return (banner_file.filename, banner_file.read()) if banner_file and banner_file.filename else None


def _basic_values(form: ServiceBasicForm, banner: tuple[str, bytes] | None) -> dict:
    # A crafted type or editor is the form's own error (its choices); the rules are still checked with the default.
    kind = form.type.data if form.type.data in ServiceType._value2member_map_ else ServiceType.counseling.value
    editor = form.editor_type.data if form.editor_type.data in EditorType._value2member_map_ else EditorType.html.value
    return {
        "name": form.name.data or "", "type": ServiceType(kind),
        "languages": request.form.getlist("languages"), "default_language": form.default_language.data or "",
        "time_zone": (form.time_zone.data or "").strip(), "editor_type": EditorType(editor), "banner": banner,
    }


def _show_error(form: ServiceBasicForm, exc: ServiceError) -> str | None:
    """Put a rule's refusal next to its field (unless the field already says what is wrong); return it when it
    belongs to the form as a whole."""
    field = ERROR_FIELDS.get(exc.code)
    if field is None:
        return exc.message
    if not getattr(form, field).errors:
        getattr(form, field).errors = [exc.message]
    return None


def _checked(form: ServiceBasicForm, *, service_key: str | None):
    """Check every field at once, the form's own checks and the service rules, each refusal at its field (not one
    per submit). Returns (values to save, the banner kept pending as (id, file name), whether all is well). When
    something is refused, an accepted new banner is kept pending so that it need not be chosen again."""
    banner = _submitted_banner()
    pending = None
    if form.pending_banner.data and not form.discard_banner.data:
        kept = contracts.pending_banner(current_org_id(), form.pending_banner.data)
        pending = (kept.id, kept.filename) if kept is not None else None
    ok = form.validate()
    values = _basic_values(form, banner)
    if len(request.form.getlist("default_language")) > 1:  # a crafted request: the form shows radios
        form.default_language.errors = [_("Mark exactly one of the chosen languages as the default.")]
        ok = False
    checked = {k: values[k] for k in ("name", "languages", "default_language", "time_zone", "banner")}
    for problem in contracts.basic_info_problems(current_org_id(), service_key=service_key, **checked):
        _show_error(form, problem)
        ok = False
    if not ok and banner is not None and not form.banner.errors:
        pending = contracts.keep_pending_banner(current_org_id(), banner)
    return values, pending, ok


def _basic_page(template: str, form: ServiceBasicForm, status_code: int, **context):
    initial = context.pop("chosen", ["ko"])
    chosen = request.form.getlist("languages") if form.is_submitted() else initial
    return render_template(template, form=form, time_zones=time_zones(), chosen=set(chosen), **context), status_code


def _form_problem(form: ServiceBasicForm) -> str | None:
    return _("The form is incomplete. Reload the page and try again.") if form.csrf_token.errors or (
        form.revision.errors) else None


@bp.route("/services/new", methods=["GET", "POST"])
@org_admin_required
def new_service():
    form = ServiceBasicForm()
    error = None
    if not form.is_submitted():
        form.default_language.data = "ko"
        return _basic_page("contracts/new_service.html", form, 200, error=None, pending=None)
    values, pending, ok = _checked(form, service_key=form.service_key.data or "")
    if ok:
        service, refusal = attempt(lambda: contracts.add_service(
            current_actor(), service_key=form.service_key.data or "", **values,
            pending_banner_id=pending[0] if pending and values["banner"] is None else None))
        if refusal is None:
            flash(_("%(name)s is saved as a draft. Fill in the contract to start using it.", name=service.name),
                  "success")
            return redirect(url_for("contracts.contract", service_key=service.service_key), code=303)
        error = _show_error(form, refusal)
    return _basic_page("contracts/new_service.html", form, 422, error=error or _form_problem(form), pending=pending)


@bp.route("/services/<service_key>/edit", methods=["GET", "POST"])
@org_admin_required
def edit_service(service_key: str):
    service = org_service(service_key)
    form = ServiceBasicForm(obj=None if request.method == "POST" else service)
    if not form.is_submitted():
        form.type.data, form.editor_type.data = service.type.value, service.editor_type.value
        form.default_language.data, form.revision.data = service.default_language, service.revision
    error, status_code, pending = None, 200, None
    if service.status == ServiceStatus.terminated:
        error = _("%(name)s is terminated and can no longer be changed.", name=service.name)
        status_code = 409 if form.is_submitted() else 200
    elif form.is_submitted():
        values, pending, ok = _checked(form, service_key=None)
        status_code = 422
        if ok:
            _saved, refusal = attempt(lambda: contracts.update_basic_info(
                current_actor(), service, revision=form.revision.data or 0, remove_banner=form.remove_banner.data,
                **values, pending_banner_id=pending[0] if pending and values["banner"] is None else None))
            if refusal is None:
                flash(_("The basic info of %(name)s is saved.", name=service.name), "success")
                return redirect(url_for("contracts.status"), code=303)
            error = _show_error(form, refusal)
            status_code = 409 if refusal.code == "stale" else 422
        error = error or _form_problem(form)
    return _basic_page("contracts/edit_service.html", form, status_code, service=service, error=error,
                       pending=pending, chosen=[lang.code for lang in service.languages])


@bp.get("/services/<service_key>/banner")
@member_required
def banner(service_key: str):
    service = org_service(service_key)
    stored = load(service.organization_id, service.banner_file_id) if service.banner_file_id else None
    if stored is None:
        abort(404)
    return stored_image(stored, public=False)
