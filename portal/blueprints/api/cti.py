"""Open API: CTI event ingest (POST /api/v1/cti/events), authenticated with the organization key."""
from __future__ import annotations

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy.exc import DBAPIError, IntegrityError

from portal.blueprints.api.common import Blueprint, api_key_required, documented_errors, key_bucket, problem
from portal.blueprints.api.schemas import CtiEventsSchema, CtiIngestSchema
from portal.extensions import db, limiter
from portal.models import Service, ServiceStatus
from portal.services import cti_events
from portal.services.cti import has_cti
from portal.tenancy import scoped
from portal.transactions import lost_to_another

blp = Blueprint("api_cti", __name__, url_prefix="/api/v1/cti", description="CTI telephony events")
MAX_EVENTS = 500
ATTEMPTS = 5  # a batch that lost a race (duplicate event, deadlock, serialization failure) is run again, this often


def _results(service, events: list) -> list[dict]:
    """The batch is read and checked before its transaction writes anything (on SQLite no write lock is held while
    events are validated), then stored in one savepoint: its agents' members are locked first (in id order), so
    two requests for the same agents wait for each other instead of deadlocking."""
    batch = cti_events.prepare(service, events)
    for attempt in range(1, ATTEMPTS + 1):
        try:
            with db.session.begin_nested():  # committed by the request, before the answer
                outcomes = cti_events.store(batch)
            break
        except DBAPIError as exc:
            # IntegrityError: another request stored one of these events at the same moment (read them again).
            # Deadlock or serialization failure: the member locks should prevent them; if one comes anyway, the
            # rolled-back savepoint released this batch's locks and the batch runs again (events are idempotent
            # by event ID).
            if attempt == ATTEMPTS or not (isinstance(exc, IntegrityError) or lost_to_another(exc)):
                raise
    results = []
    for raw, outcome in zip(events, outcomes):
        if outcome.refused is not None:
            event_id = raw.get("event_id") if isinstance(raw, dict) else None
            if not isinstance(event_id, (str, int)) or isinstance(event_id, bool) or len(str(event_id)) > 64:
                event_id = None  # a refused event's ID is echoed only when it is one
            results.append({"event_id": event_id, "status": "rejected", "code": outcome.refused.code,
                            "detail": outcome.refused.message})
            continue
        result = {"event_id": outcome.external_id, "status": "stored" if outcome.created else "duplicate",
                  "error": cti_events.error_text(outcome)}
        if outcome.error_code:
            result["code"] = outcome.error_code
        results.append(result)
    return results


@blp.route("/events", methods=["POST"])
@limiter.limit(lambda: current_app.config["CTI_INGEST_LIMIT"], key_func=key_bucket)
@api_key_required
@blp.arguments(CtiEventsSchema)
@blp.response(200, CtiIngestSchema)
@blp.alt_response(422, schema=CtiIngestSchema, description="Every event was rejected (or the body is invalid)")
@documented_errors(blp, 400, 401, 404, 409, 413, 429)
def ingest(body):
    """`{"service": "<service ID>", "events": [{…}, …]}` → one result per event, each stored (and committed)
    before the answer is sent; a retried event ID answers "duplicate" and changes nothing. Event kinds:
    agent_login, agent_logout, state_change, inbound_ringing, answered, outbound_dial, connected, transfer,
    hangup, error."""
    service = db.session.scalars(scoped(Service).filter_by(service_key=body["service"])).first()
    if service is None or service.status == ServiceStatus.draft:
        return problem(404, "unknown_service", _("No such service in this organization."))
    if not has_cti(service):
        return problem(409, "no_cti", _("%(name)s has no phone CTI in its contract.", name=service.name))
    events = body["events"]
    if len(events) > MAX_EVENTS:
        return problem(413, "too_many_events", _("Send at most %(n)d events per request.", n=MAX_EVENTS))
    results = _results(service, events)
    rejected = sum(1 for r in results if r["status"] == "rejected")
    return {"results": results, "rejected": rejected}, 422 if rejected == len(results) else 200
