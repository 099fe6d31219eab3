"""Open API: services (list, get, create, update, suspend, resume, terminate) and their contracts (current and
history, estimate without saving, change). Every rule is the one the UI runs, from the same services."""
from __future__ import annotations

from flask import url_for
from flask_babel import gettext as _
from sqlalchemy import func

from portal.blueprints.actions import current_actor
from portal.blueprints.api.common import (
    Blueprint,
    api_key_required,
    documented_errors,
    idempotent,
    problem,
    rate_limited,
    service_problem,
)
from portal.blueprints.api.schemas import (
    ContractChangeSchema,
    ContractHistorySchema,
    ContractSchema,
    EstimateRequestSchema,
    EstimateSchema,
    ServiceCreateSchema,
    ServiceListArgs,
    ServicePageSchema,
    ServiceSchema,
    ServiceUpdateSchema,
    TerminateSchema,
)
from portal.extensions import db
from portal.models import Contract, Service, ServiceStatus
from portal.services import ServiceError, contracts
from portal.services.pagination import decode_cursor, encode_cursor, keyset_before
from portal.services.price_list import estimate
from portal.tenancy import get_or_404, scoped

blp = Blueprint("api_services", __name__, url_prefix="/api/v1/services",
                description="Contracted services and their contracts")


def errors(*statuses):
    return documented_errors(blp, *statuses)


def find(service_id: str) -> Service:
    return get_or_404(Service, service_key=service_id)


def service_out(service: Service) -> dict:
    return {"service_key": service.service_key, "name": service.name, "type": service.type,
            "status": service.status, "languages": [lang.code for lang in service.languages],
            "default_language": service.default_language, "time_zone": service.time_zone,
            "editor_type": service.editor_type, "revision": service.revision, "created_at": service.created_at,
            "terminated_on": service.terminated_on}


def contract_out(contract: Contract | None) -> dict | None:
    if contract is None:
        return None
    return {"version": contract.version, "effective_from": contract.effective_from,
            "effective_to": contract.effective_to, "monthly_total": contract.monthly_total,
            "lines": [{"feature_key": line.feature_key, "quantity": line.quantity, "unit_price": line.unit_price,
                       "amount": line.amount} for line in contract.lines]}


@blp.route("", methods=["GET"])
@api_key_required
@rate_limited
@blp.arguments(ServiceListArgs, location="query")
@blp.response(200, ServicePageSchema)
@errors(400, 401, 429)
def list_services(args):
    """Services of the organization, by creation (newest first), a page at a time (`next_cursor`)."""
    q = scoped(Service)
    if args.get("status"):
        q = q.where(Service.status == args["status"])
    if args.get("type"):
        q = q.where(Service.type == args["type"])
    if args.get("q"):
        needle = args["q"].strip().lower()
        q = q.where(func.lower(Service.name).contains(needle, autoescape=True)
                    | func.lower(Service.service_key).contains(needle, autoescape=True))
    if args.get("cursor"):
        position = decode_cursor(args["cursor"])
        if position is None:
            return problem(400, "bad_cursor", _("The page link is not valid. Start the search again."))
        q = q.where(keyset_before(Service.created_at, Service.id, position))
    limit = args["limit"]
    rows = list(db.session.scalars(q.order_by(Service.created_at.desc(), Service.id.desc()).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return {"items": [service_out(s) for s in rows],
            "next_cursor": encode_cursor(rows[-1].created_at, rows[-1].id) if more and rows else None}


@blp.route("", methods=["POST"])
@api_key_required
@rate_limited
@idempotent
@blp.arguments(ServiceCreateSchema)
@blp.response(201, ServiceSchema)
@errors(400, 401, 409, 422, 429)
def create_service(data):
    """Create a service (a draft until its contract is signed), with the wizard's rules."""
    try:
        service = contracts.add_service(current_actor(), service_key=data["service_id"], name=data["name"],
                                        type=data["type"], languages=data["languages"],
                                        default_language=data["default_language"], time_zone=data["time_zone"],
                                        editor_type=data["editor_type"])
    except ServiceError as exc:
        return service_problem(exc)
    db.session.flush()
    return service_out(service), 201, {"Location": url_for("api_services.get_service", service_id=service.service_key)}


@blp.route("/<service_id>", methods=["GET"])
@api_key_required
@rate_limited
@blp.response(200, ServiceSchema)
@errors(401, 404, 429)
def get_service(service_id):
    return service_out(find(service_id))


@blp.route("/<service_id>", methods=["PATCH"])
@api_key_required
@rate_limited
@idempotent
@blp.arguments(ServiceUpdateSchema)
@blp.response(200, ServiceSchema)
@errors(400, 401, 404, 409, 422, 429)
def update_service(data, service_id):
    """Basic info (everything but the service ID). Send the `revision` you read: a stale one is refused (409)."""
    service = find(service_id)
    try:
        contracts.update_basic_info(current_actor(), service, revision=data["revision"], name=data["name"],
                                    type=data["type"], languages=data["languages"],
                                    default_language=data["default_language"], time_zone=data["time_zone"],
                                    editor_type=data["editor_type"])
    except ServiceError as exc:
        return service_problem(exc)
    return service_out(service)


def _set_status(service_id: str, target: ServiceStatus):
    service = find(service_id)
    try:
        contracts.set_status(current_actor(), service, target)
    except ServiceError as exc:
        return service_problem(exc)
    return service_out(service)


@blp.route("/<service_id>/suspend", methods=["POST"])
@api_key_required
@rate_limited
@idempotent
@blp.response(200, ServiceSchema)
@errors(401, 404, 409, 422, 429)
def suspend_service(service_id):
    """Stop using the service (it stays billed). Suspending a suspended service changes nothing."""
    return _set_status(service_id, ServiceStatus.suspended)


@blp.route("/<service_id>/resume", methods=["POST"])
@api_key_required
@rate_limited
@idempotent
@blp.response(200, ServiceSchema)
@errors(401, 404, 409, 422, 429)
def resume_service(service_id):
    return _set_status(service_id, ServiceStatus.active)


@blp.route("/<service_id>/terminate", methods=["POST"])
@api_key_required
@rate_limited
@idempotent
@blp.arguments(TerminateSchema)
@blp.response(200, ServiceSchema)
@errors(400, 401, 404, 409, 422, 429)
def terminate_service(data, service_id):
    """End a suspended service for good (billing stops that day). Confirm with its service ID."""
    service = find(service_id)
    try:
        contracts.terminate(current_actor(), service, confirm_key=data["confirm_service_id"])
    except ServiceError as exc:
        return service_problem(exc)
    return service_out(service)


@blp.route("/<service_id>/contract", methods=["GET"])
@api_key_required
@rate_limited
@blp.response(200, ContractHistorySchema)
@errors(401, 404, 429)
def get_contract(service_id):
    """The contract in force and every version before it (newest first)."""
    service = find(service_id)
    return {"current": contract_out(contracts.current_contract(service)),
            "history": [contract_out(c) for c in contracts.contract_history(service)],
            "next_change_at": contracts.next_change_at(service)}


@blp.route("/<service_id>/contract/estimate", methods=["POST"])
@api_key_required
@rate_limited
@blp.arguments(EstimateRequestSchema)
@blp.response(200, EstimateSchema)
@errors(400, 401, 404, 422, 429)
def estimate_contract(data, service_id):
    """Price quantities with today's price list, and the difference against the contract in force. Nothing
    is saved."""
    service = find(service_id)
    try:
        priced = estimate(data["quantities"])
    except ServiceError as exc:
        return service_problem(exc)
    return {"lines": [{"feature_key": line.feature.key, "quantity": line.quantity, "unit_price": line.unit_price,
                       "amount": line.amount} for line in priced.lines],
            "total": priced.total, "difference": contracts.price_difference(service, priced)}


@blp.route("/<service_id>/contract", methods=["PUT"])
@api_key_required
@rate_limited
@idempotent
@blp.arguments(ContractChangeSchema)
@blp.response(200, ContractSchema)
@errors(400, 401, 404, 409, 422, 429)
def change_contract(data, service_id):
    """Contract a draft service or change a contracted one, in force from today in the service's time zone:
    at most one change a day (409 `once_a_day`); the first contract is not a change, so a service contracted
    today can still change once today. `base_version` is the version you started from (409 `stale`)."""
    service = find(service_id)
    try:
        contract = contracts.sign_contract(current_actor(), service, data["quantities"],
                                           base_version=data["base_version"])
    except ServiceError as exc:
        return service_problem(exc)
    return contract_out(contract)
