"""Permission change log (권한 변경 로그 관리): filter, page through and export the log."""
from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from flask import current_app, render_template, request
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import func

from portal.access import org_admin_required
from portal.blueprints.permission_log import bp
from portal.downloads import xlsx_attachment
from portal.extensions import db
from portal.models import Operation, Service
from portal.services import ServiceError, activity, permission_log
from portal.services.exports import permission_log_workbook
from portal.tenancy import scoped

INPUT_FORMAT = "%Y-%m-%dT%H:%M"


def _zone() -> ZoneInfo:
    return ZoneInfo(current_app.config["BABEL_DEFAULT_TIMEZONE"])


def _when(raw: str | None) -> datetime | None:
    """A `datetime-local` value, read in the portal's time zone."""
    if not raw:
        return None
    try:
        return datetime.strptime(raw[:16], INPUT_FORMAT).replace(tzinfo=_zone())
    except ValueError:
        raise ServiceError(_("Enter dates and times as YYYY-MM-DD HH:MM."), "bad_date") from None


def _filters():
    """The filter from the query string, the services for the picker and the form values to show again."""
    args = request.args
    services = list(db.session.scalars(scoped(Service).order_by(func.lower(Service.name))))
    service_id = None
    if args.get("service"):
        match = next((s for s in services if s.service_key == args["service"]), None)
        if match is None:
            raise ServiceError(_("Unknown service: %(key)s.", key=args["service"]), "bad_service")
        service_id = match.id
    end = _when(args.get("end"))
    if end is not None:  # a time given to the minute includes that whole minute
        end += timedelta(seconds=59, microseconds=999_999)
    flt = permission_log.make_filter(start=_when(args.get("start")), end=end,
                                     operation=args.get("operation", ""), target=args.get("target", ""),
                                     actor=args.get("actor", ""), service_id=service_id)
    return flt, services


def _form_values(flt) -> dict:
    return {
        "start": flt.start.astimezone(_zone()).strftime(INPUT_FORMAT),
        "end": flt.end.astimezone(_zone()).strftime(INPUT_FORMAT),
        "operation": flt.operation.value if flt.operation else "", "target": flt.target, "actor": flt.actor,
        "service": request.args.get("service", ""),
    }


@bp.get("/permission-log")
@org_admin_required
def index():
    error, rows, next_cursor, services = None, [], None, []
    try:
        flt, services = _filters()
        rows, next_cursor = permission_log.page(current_user.organization_id, flt, request.args.get("cursor"))
        values = _form_values(flt)
    except ServiceError as exc:
        error = exc.message
        values = {k: request.args.get(k, "") for k in ("start", "end", "operation", "target", "actor", "service")}
        if not services:
            services = list(db.session.scalars(scoped(Service).order_by(func.lower(Service.name))))
    return render_template("permission_log/index.html", rows=rows, next_cursor=next_cursor, values=values,
                           query_args={k: v for k, v in values.items() if v}, services=services,
                           operations=list(Operation), error=error,
                           first_page=not request.args.get("cursor")), 400 if error else 200


@bp.get("/permission-log.xlsx")
@org_admin_required
def export():
    """The filtered rows as .xlsx, written row by row (write-only workbook) and streamed from a spooled file."""
    try:
        flt, _services = _filters()
    except ServiceError as exc:
        return render_template("permission_log/index.html", rows=[], next_cursor=None, values=request.args,
                               query_args={}, services=[], operations=list(Operation), error=exc.message,
                               first_page=True), 400
    org_id, member_id = current_user.organization_id, current_user.id
    workbook, count = permission_log_workbook(permission_log.export_rows(org_id, flt), _zone())
    activity.record(org_id, member_id, "permission_log.exported", subject_type="permission_log",
                    details={**_form_values(flt), "rows": count}, ip=request.remote_addr)
    filename = f"permission-log-{flt.start.astimezone(_zone()):%Y%m%d}-{flt.end.astimezone(_zone()):%Y%m%d}.xlsx"
    return xlsx_attachment(workbook, filename)
