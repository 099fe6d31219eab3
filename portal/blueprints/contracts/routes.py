"""Contracted services (계약 서비스 현황): contract status, the add-service wizard, contract edit, status,
termination, billing and organization info. Handlers: load → check → act → render."""
from __future__ import annotations

from datetime import date

from flask import Response, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import func, select

from portal.access import member_required, org_admin_required
from portal.blueprints.actions import act, attempt, current_actor, leave_dialog
from portal.blueprints.contracts import bp
from portal.blueprints.contracts.forms import (
    ERROR_FIELDS,
    ContractForm,
    OrganizationForm,
    RotateKeyForm,
    ServiceBasicForm,
    StatusForm,
    TerminateForm,
)
from portal.extensions import db
from portal.htmx import render
from portal.models import Contract, EditorType, Service, ServiceStatus, ServiceType
from portal.params import month, page_arg
from portal.services import ServiceError, billing, contracts, parse_whole, whole_number
from portal.services.catalog import time_zones
from portal.models.base import utcnow
from portal.services.organizations import GRACE_HOURS, masked_api_key, rotate_api_key, update_organization
from portal.services.price_list import MAX_QUANTITY, estimate, features
from portal.services.storage import load
from portal.tenancy import get_or_404, scoped

PAGE_SIZE = 50


def _service(service_key: str) -> Service:
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
    service = _service(service_key)
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
    service = _service(service_key)
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

def _basic_values(form: ServiceBasicForm) -> dict:
    languages = request.form.getlist("languages")
    banner_file = request.files.get("banner")
    banner = (banner_file.filename, banner_file.read()) if banner_file and banner_file.filename else None
    return {
        "name": form.name.data or "", "type": ServiceType(form.type.data),
        "languages": languages, "default_language": form.default_language.data or "",
        "time_zone": (form.time_zone.data or "").strip(), "editor_type": EditorType(form.editor_type.data),
        "banner": banner,
    }


def _one_default(form: ServiceBasicForm) -> None:
    """A crafted request may carry two defaults; the form shows radios, so refuse rather than pick one."""
    if len(request.form.getlist("default_language")) > 1:
        raise ServiceError(_("Mark exactly one of the chosen languages as the default."), "bad_default_language")


def _show_error(form: ServiceBasicForm, exc: ServiceError) -> str | None:
    """Put a rule's refusal next to its field; return it when it belongs to the form as a whole."""
    field = ERROR_FIELDS.get(exc.code)
    if field is None:
        return exc.message
    getattr(form, field).errors = [*getattr(form, field).errors, exc.message]
    return None


def _basic_page(template: str, form: ServiceBasicForm, status_code: int, **context):
    initial = context.pop("chosen", ["ko"])
    chosen = request.form.getlist("languages") if form.is_submitted() else initial
    return render_template(template, form=form, time_zones=time_zones(), chosen=set(chosen), **context), status_code


@bp.route("/services/new", methods=["GET", "POST"])
@org_admin_required
def new_service():
    form = ServiceBasicForm()
    error = None
    if not form.is_submitted():
        form.default_language.data = "ko"
    if form.validate_on_submit():
        def add() -> Service:
            _one_default(form)
            return contracts.add_service(current_actor(), service_key=form.service_key.data or "",
                                         **_basic_values(form))

        service, refusal = attempt(add)
        if refusal:
            error = _show_error(form, refusal)
        else:
            flash(_("%(name)s is saved as a draft. Fill in the contract to start using it.", name=service.name),
                  "success")
            return redirect(url_for("contracts.contract", service_key=service.service_key), code=303)
    failed = form.is_submitted()
    return _basic_page("contracts/new_service.html", form, 422 if failed else 200, error=error)


@bp.route("/services/<service_key>/edit", methods=["GET", "POST"])
@org_admin_required
def edit_service(service_key: str):
    service = _service(service_key)
    form = ServiceBasicForm(obj=None if request.method == "POST" else service)
    if not form.is_submitted():
        form.type.data, form.editor_type.data = service.type.value, service.editor_type.value
        form.default_language.data, form.revision.data = service.default_language, service.revision
    error, status_code = None, 200
    if service.status == ServiceStatus.terminated:
        error = _("%(name)s is terminated and can no longer be changed.", name=service.name)
        status_code = 409 if form.is_submitted() else 200
    elif form.validate_on_submit():
        def save() -> Service:
            _one_default(form)
            return contracts.update_basic_info(current_actor(), service, revision=form.revision.data or 0,
                                               remove_banner=form.remove_banner.data, **_basic_values(form))

        _saved, refusal = attempt(save)
        if refusal:
            error = _show_error(form, refusal)
            status_code = 409 if refusal.code == "stale" else 422
        else:
            flash(_("The basic info of %(name)s is saved.", name=service.name), "success")
            return redirect(url_for("contracts.status"), code=303)
    elif form.is_submitted():
        status_code = 422
        if form.revision.errors:
            error = _("The form is incomplete. Reload the page and try again.")
    return _basic_page("contracts/edit_service.html", form, status_code, service=service, error=error,
                       chosen=[lang.code for lang in service.languages])


@bp.get("/services/<service_key>/banner")
@member_required
def banner(service_key: str):
    service = _service(service_key)
    stored = load(service.organization_id, service.banner_file_id) if service.banner_file_id else None
    if stored is None:
        abort(404)
    response = Response(stored.data, mimetype=stored.content_type)
    response.set_etag(stored.sha256)
    response.cache_control.private = True
    response.cache_control.max_age = 3600
    return response.make_conditional(request)


# -- step 2 and contract edit -------------------------------------------------------------------------------

def parse_quantities(form_data) -> tuple[dict[str, int], dict[str, str]]:
    """Read `use.<key>` / `qty.<key>` pairs; return quantities and per-feature error messages."""
    quantities, errors = {}, {}
    for f in features():
        used = f.required or form_data.get(f"use.{f.key}") in ("on", "1", "yes")
        if not used:
            continue
        if f.flat:
            quantities[f.key] = 1
            continue
        raw = (form_data.get(f"qty.{f.key}") or "").strip().replace(",", "")
        qty = whole_number(raw, 1, MAX_QUANTITY[f.unit])
        if qty is None:
            errors[f.key] = (_("Enter a whole number.") if parse_whole(raw) is None
                             else _("Enter a number from 1 to %(max)s.", max=f"{MAX_QUANTITY[f.unit]:,}"))
            continue
        quantities[f.key] = qty
    return quantities, errors


def _contract_context(service: Service, quantities: dict[str, int], errors: dict[str, str]) -> dict:
    current = contracts.current_contract(service)
    proposed = None
    if not errors:
        try:
            proposed = estimate(quantities)
        except ServiceError as exc:
            errors = {**errors, "_form": exc.message}
    difference = contracts.price_difference(service, proposed) if proposed is not None else None
    return {
        "service": service, "current": current, "features": features(), "quantities": quantities,
        "errors": errors, "proposed": proposed, "difference": difference,
        "locked_until": contracts.next_change_at(service),
        "history": contracts.contract_history(service),
    }


@bp.route("/services/<service_key>/contract", methods=["GET", "POST"])
@org_admin_required
def contract(service_key: str):
    service = _service(service_key)
    form = ContractForm()
    current = contracts.current_contract(service)
    if request.method == "GET":
        quantities = contracts.quantities_of(current) or {f.key: 1 for f in features() if f.required}
        form.base_version.data = current.version if current else None
        return render_template("contracts/contract.html", form=form,
                               **_contract_context(service, quantities, {}))
    quantities, errors = parse_quantities(request.form)
    if not form.validate_on_submit():
        errors["_form"] = _("The form is incomplete. Reload the page and try again.")
    if not errors:
        _signed, refusal = attempt(lambda: contracts.sign_contract(current_actor(), service, quantities,
                                                                   base_version=form.base_version.data))
        if refusal:
            errors["_form"] = refusal.message
            code = 409 if refusal.code in ("once_a_day", "stale", "terminated") else 422
        else:
            was_new = current is None
            flash(_("The contract of %(name)s is signed. The service is in use.", name=service.name) if was_new
                  else _("The contract of %(name)s is changed from today.", name=service.name), "success")
            return redirect(url_for("contracts.status"), code=303)
    else:
        code = 422
    return render_template("contracts/contract.html", form=form,
                           **_contract_context(service, quantities, errors)), code


@bp.post("/services/<service_key>/contract/estimate")
@org_admin_required
def contract_estimate(service_key: str):
    """The live estimate (HTMX): re-rendered on every change of the contract form."""
    service = _service(service_key)
    quantities, errors = parse_quantities(request.form)
    context = _contract_context(service, quantities, errors)
    return render_template("contracts/_estimate.html", **context), 422 if context["errors"] else 200


# -- billing ------------------------------------------------------------------------------------------------

def _month(raw: str | None, fallback: date) -> date | None:
    if not raw:
        return fallback
    try:
        return month(raw)
    except ValueError:
        return None


def _billing_query():
    """(first, last, scope, service type, service, errors) from the query string; the last 6 months by default."""
    this_month = billing.first_of_month(utcnow().date())
    default_first = billing.add_months(this_month, -5)
    errors = []
    first = _month(request.args.get("start"), default_first)
    last = _month(request.args.get("end"), this_month)
    if first is None or last is None:
        errors.append(_("Enter months as YYYY-MM."))
        first, last = default_first, this_month
    if first > last:
        errors.append(_("The first month must not be after the last."))
        first, last = last, first
    if len(billing.months_between(first, last)) > 36:
        errors.append(_("Choose at most 36 months."))
        first = billing.add_months(last, -35)
    scope = request.args.get("scope", "all")
    service_type, service = None, None
    if scope.startswith("type:") and scope[5:] in ServiceType._value2member_map_:
        service_type = ServiceType(scope[5:])
    elif scope.startswith("service:"):
        service = db.session.scalars(scoped(Service).where(Service.service_key == scope[8:])).first()
        if service is None:
            abort(404)
    elif scope != "all":
        errors.append(_("Unknown scope."))
        scope = "all"
    return first, last, scope, service_type, service, errors


@bp.get("/billing")
@org_admin_required
def billing_page():
    first, last, scope, service_type, service, errors = _billing_query()
    rows = billing.charges(current_user.organization_id, first, last, service_type=service_type,
                           service_id=service.id if service else None)
    months = billing.months_between(first, last)
    totals = billing.totals_by_month(rows, months)
    services = list(db.session.scalars(
        scoped(Service).where(Service.status != ServiceStatus.draft).order_by(func.lower(Service.name))))
    return render_template("contracts/billing.html", rows=rows, totals=totals, months=months, first=first,
                           last=last, scope=scope, service=service, services=services, errors=errors,
                           grand_total=sum(r.amount for r in rows)), 400 if errors else 200


@bp.get("/billing.xlsx")
@org_admin_required
def billing_export():
    from portal.services.exports import billing_workbook

    first, last, scope, service_type, service, errors = _billing_query()
    if errors:
        abort(400)
    rows = billing.charges(current_user.organization_id, first, last, service_type=service_type,
                           service_id=service.id if service else None)
    filename = f"billing-{first:%Y%m}-{last:%Y%m}.xlsx"
    return Response(
        billing_workbook(rows), mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


# -- organization info --------------------------------------------------------------------------------------

@bp.route("/organization", methods=["GET", "POST"])
@org_admin_required
def organization():
    org = current_user.organization
    form = OrganizationForm(obj=None if request.method == "POST" else org)
    if request.method == "GET":
        form.idle_timeout.data = str(org.idle_timeout_minutes)
    error = None
    if form.validate_on_submit():
        _saved, refusal = attempt(lambda: update_organization(
            current_actor(), org, name=form.name.data, domain=form.domain.data,
            idle_timeout=form.idle_timeout.data if form.idle_timeout.raw_data else None))
        if refusal:
            target = {"bad_idle_timeout": form.idle_timeout}.get(refusal.code) or (
                form.domain if "domain" in refusal.code else form.name)
            target.errors = [refusal.message]
        else:
            flash(_("The organization info is saved."), "success")
            return redirect(url_for("contracts.organization"), code=303)
    status_code = 422 if form.is_submitted() else 200
    org = current_user.organization
    return render_template("contracts/organization.html", org=org, form=form, error=error,
                           masked_key=masked_api_key(org), rotate_form=RotateKeyForm(), now=utcnow(),
                           base_domain=current_app.config["PORTAL_BASE_DOMAIN"]), status_code


@bp.route("/organization/api-key", methods=["GET", "POST"])
@org_admin_required
def rotate_key():
    org = current_user.organization
    form = RotateKeyForm()
    grace = request.form.get("grace", "0")
    if form.validate_on_submit():
        hours = whole_number(grace, 0, max(GRACE_HOURS))
        # -1: refused with the service's own message
        key, refusal = attempt(lambda: rotate_api_key(current_actor(), org, -1 if hours is None else hours))
        if refusal:
            return render("contracts/rotate_key.html", partial="contracts/_rotate_key.html", org=org, form=form,
                          masked_key=masked_api_key(org), grace_hours=GRACE_HOURS, values=request.form,
                          error=refusal.message), 422
        response = render("contracts/api_key_shown.html", partial="contracts/_api_key_shown.html", org=org, key=key)
        return response, 200, {"Cache-Control": "no-store"}
    status_code = 422 if form.is_submitted() else 200
    return render("contracts/rotate_key.html", partial="contracts/_rotate_key.html", org=org, form=form,
                  masked_key=masked_api_key(org), grace_hours=GRACE_HOURS, values=request.form), status_code
