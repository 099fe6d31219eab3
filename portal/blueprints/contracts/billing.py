"""Billing: the organization's charges by month and service, on the page and as an .xlsx."""
from __future__ import annotations

from datetime import date

from flask import abort, render_template, request
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import func

from portal.access import org_admin_required
from portal.blueprints.contracts import bp
from portal.downloads import xlsx_attachment
from portal.extensions import db
from portal.models import Service, ServiceStatus, ServiceType
from portal.models.base import utcnow
from portal.params import month
from portal.services import billing
from portal.services.exports import billing_workbook
from portal.tenancy import scoped


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
    first, last, scope, service_type, service, errors = _billing_query()
    if errors:
        abort(400)
    rows = billing.charges(current_user.organization_id, first, last, service_type=service_type,
                           service_id=service.id if service else None)
    filename = f"billing-{first:%Y%m}-{last:%Y%m}.xlsx"
    return xlsx_attachment(billing_workbook(rows), filename)


