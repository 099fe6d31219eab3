"""The Open API's CTI ingest: POST /api/v1/cti/events, authenticated with the organization key.

Answers are JSON; errors are problem documents (RFC 9457) with a stable `code`."""
from __future__ import annotations

from functools import wraps

from flask import current_app, g, jsonify, request
from flask_babel import gettext as _
from sqlalchemy import select

from portal.blueprints.api import bp
from portal.extensions import csrf, db, limiter
from portal.models import Service, ServiceStatus
from portal.services import ServiceError, cti_events
from portal.services.cti import cti_services
from portal.services.organizations import organization_for_api_key

MAX_EVENTS = 500


def problem(status: int, code: str, detail: str, **extra):
    body = {"type": f"https://portal.example/problems/{code}", "title": code.replace("_", " "), "status": status,
            "code": code, "detail": detail, **extra}
    response = jsonify(body)
    response.status_code = status
    response.mimetype = "application/problem+json"
    return response


def _key() -> str:
    header = request.headers.get("Authorization", "")
    return header[7:].strip() if header.lower().startswith("bearer ") else ""


def api_key_required(view):
    """The organization key in `Authorization: Bearer …`; the organization goes to `g.api_org`."""
    @wraps(view)
    def wrapper(*args, **kwargs):
        org = organization_for_api_key(_key())
        if org is None:
            response = problem(401, "unauthorized", _("Send the organization API key as Authorization: Bearer <key>."))
            response.headers["WWW-Authenticate"] = "Bearer"
            return response
        g.api_org = org
        return view(*args, **kwargs)

    wrapper.access_level = "api_key"
    return wrapper


@bp.post("/cti/events")
@csrf.exempt
@limiter.limit(lambda: current_app.config["CTI_INGEST_LIMIT"], key_func=lambda: "api:" + _key()[:16])
@api_key_required
def cti_ingest():
    """{"service": "<service ID>", "events": [{…}, …]} → one result per event, each stored (and committed)
    before the answer is sent; a retried event ID answers "duplicate" and changes nothing."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return problem(400, "malformed_json", _("The body must be a JSON object."))
    service = db.session.scalars(select(Service).where(Service.organization_id == g.api_org.id,
                                                       Service.service_key == str(body.get("service", "")))).first()
    if service is None or service.status == ServiceStatus.draft:
        return problem(404, "unknown_service", _("No such service in this organization."))
    if service.id not in {s.id for s in cti_services(g.api_org.id)}:
        return problem(409, "no_cti", _("%(name)s has no phone CTI in its contract.", name=service.name))
    events = body.get("events")
    if not isinstance(events, list) or not events:
        return problem(422, "no_events", _("events must be a non-empty list."))
    if len(events) > MAX_EVENTS:
        return problem(413, "too_many_events", _("Send at most %(n)d events per request.", n=MAX_EVENTS))
    results = []
    for raw in events:
        event_id = raw.get("event_id") if isinstance(raw, dict) else None
        try:
            stored = cti_events.ingest(service, raw)
        except ServiceError as exc:
            db.session.rollback()
            results.append({"event_id": event_id, "status": "rejected", "code": exc.code, "detail": exc.message})
            continue
        db.session.commit()
        results.append({"event_id": stored.event.external_id, "status": "stored" if stored.created else "duplicate",
                        "error": stored.event.error})
    rejected = sum(1 for r in results if r["status"] == "rejected")
    return jsonify({"results": results, "rejected": rejected}), 422 if rejected == len(results) else 200
