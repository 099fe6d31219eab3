"""Open API: monthly charges, migration batches and the permission change log (read-only)."""
from __future__ import annotations

from datetime import date

from flask_babel import gettext as _

from portal.blueprints.api.common import (
    Blueprint,
    api_key_required,
    documented_errors,
    problem,
    rate_limited,
    service_problem,
)
from portal.blueprints.api.schemas import (
    BatchArgs,
    BatchListSchema,
    BatchSchema,
    ChargeArgs,
    ChargeListSchema,
    PermissionLogArgs,
    PermissionLogPageSchema,
)
from portal.extensions import db
from portal.models import MigrationBatch, Service
from portal.params import month
from portal.services import ServiceError, billing, migration, permission_log
from portal.tenancy import current_org_id, scoped

blp = Blueprint("api_reports", __name__, url_prefix="/api/v1", description="Charges, migration batches, permission log")
MAX_CHARGE_MONTHS = 36


def errors(*statuses):
    return documented_errors(blp, *statuses)


def _service_pk(key: str | None) -> int | None | bool:
    """The database key of the organization's service whose Service ID (`service_id` in the API, always the
    service key, never a database ID) is `key`; False when there is no such service."""
    if not key:
        return None
    found = db.session.scalars(scoped(Service).filter_by(service_key=key)).first()
    return found.id if found is not None else False


def _month(text: str) -> date | None:
    try:
        return month(text)
    except ValueError:
        return None


@blp.route("/charges", methods=["GET"])
@api_key_required
@rate_limited
@blp.arguments(ChargeArgs, location="query")
@blp.response(200, ChargeListSchema)
@errors(400, 401, 404, 422, 429)
def list_charges(args):
    """Charges per service and month for months `from`..`to` (YYYY-MM): closed months as billed, the running
    month up to today."""
    first, last = _month(args["first"]), _month(args["last"])
    if first is None or last is None:
        return problem(422, "bad_month", _("Enter months as YYYY-MM."))
    if first > last:
        return problem(422, "reversed_range", _("The first month must not be after the last."))
    if (last.year - first.year) * 12 + last.month - first.month + 1 > MAX_CHARGE_MONTHS:
        return problem(422, "range_too_long", _("Ask for at most %(n)d months at a time.", n=MAX_CHARGE_MONTHS))
    service_pk = _service_pk(args.get("service_id"))
    if service_pk is False:
        return problem(404, "not_found", _("No such service in this organization."))
    rows = billing.charges(current_org_id(), first, last, service_id=service_pk)
    return {"items": [{"service_key": r.service_key, "service_name": r.service_name, "month": f"{r.month:%Y-%m}",
                       "amount": r.amount, "billed_days": r.billed_days, "to_date": r.to_date, "closed": r.closed}
                      for r in rows],
            "total": sum(r.amount for r in rows)}


def batch_out(batch: MigrationBatch, service_key: str) -> dict:
    return {"id": batch.id, "service_id": service_key, "filename": batch.filename, "status": batch.status,
            "rows": batch.rows, "progress": batch.progress, "error_count": batch.error_count,
            "message": migration.batch_message(batch), "message_code": batch.message_code,
            "scheduled_for": batch.scheduled_for, "finished_at": batch.finished_at,
            "created_tickets": batch.created_tickets, "created_at": batch.created_at}


@blp.route("/migration-batches", methods=["GET"])
@api_key_required
@rate_limited
@blp.arguments(BatchArgs, location="query")
@blp.response(200, BatchListSchema)
@errors(400, 401, 404, 429)
def list_batches(args):
    """Ticket migration batches (newest first, the last 200), by service and status."""
    q = scoped(MigrationBatch).add_columns(Service.service_key).join(Service, Service.id == MigrationBatch.service_id)
    service_pk = _service_pk(args.get("service_id"))
    if service_pk is False:
        return problem(404, "not_found", _("No such service in this organization."))
    if service_pk:
        q = q.where(MigrationBatch.service_id == service_pk)
    if args.get("status"):
        q = q.where(MigrationBatch.status == args["status"])
    rows = db.session.execute(q.order_by(MigrationBatch.created_at.desc(), MigrationBatch.id.desc()).limit(200)).all()
    return {"items": [batch_out(batch, key) for batch, key in rows]}


@blp.route("/migration-batches/<int:batch_id>", methods=["GET"])
@api_key_required
@rate_limited
@blp.response(200, BatchSchema)
@errors(401, 404, 429)
def get_batch(batch_id):
    """One batch's status and progress."""
    row = db.session.execute(scoped(MigrationBatch).add_columns(Service.service_key)
                             .join(Service, Service.id == MigrationBatch.service_id)
                             .where(MigrationBatch.id == batch_id)).first()
    if row is None:
        return problem(404, "not_found", _("No such migration batch in this organization."))
    return batch_out(*row)


@blp.route("/permission-log", methods=["GET"])
@api_key_required
@rate_limited
@blp.arguments(PermissionLogArgs, location="query")
@blp.response(200, PermissionLogPageSchema)
@errors(400, 401, 404, 422, 429)
def list_permission_log(args):
    """Permission changes, newest first, with the page's filters (default: the last 7 days; at most a year)."""
    service_pk = _service_pk(args.get("service_id"))
    if service_pk is False:
        return problem(404, "not_found", _("No such service in this organization."))
    try:
        flt = permission_log.make_filter(start=args.get("start"), end=args.get("end"),
                                         operation=args.get("operation", ""), target=args.get("target", ""),
                                         actor=args.get("actor", ""), service_id=service_pk)
        rows, next_cursor = permission_log.page(current_org_id(), flt, args.get("cursor"))
    except ServiceError as exc:
        return service_problem(exc) if exc.code != "bad_cursor" else problem(400, exc.code, exc.message)
    return {"items": [{"seq": r.seq, "created_at": r.created_at, "service_label": r.service_label,
                       "operation": r.operation.value, "target_name": r.target_name, "target_login": r.target_login,
                       "actor_name": r.actor_name, "actor_login": r.actor_login, "before": r.before, "after": r.after}
                      for r in rows],
            "next_cursor": next_cursor}
