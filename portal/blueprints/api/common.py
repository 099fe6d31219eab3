"""What every Open API endpoint shares: problem documents (RFC 9457), the organization key, the per-key rate
limit, Idempotency-Key on POST, and keyset cursors."""
from __future__ import annotations

import hashlib
import json
from functools import wraps

from flask import current_app, g, request
from flask_babel import gettext as _
import flask_smorest
from marshmallow import Schema, fields, missing
from sqlalchemy.exc import IntegrityError
from webargs.flaskparser import FlaskParser, is_json_request

from portal.errors import PROBLEM, problem
from portal.extensions import db, limiter
from portal.models import IdempotentRequest
from portal.services import ServiceError
from portal.services.organizations import organization_for_api_key
from portal.tenancy import current_org_id, scoped


class _BoundedParser(FlaskParser):
    """webargs reads the body that portal.json_bounds already parsed and checked (once, not twice)."""

    def _raw_load_json(self, req):
        if not is_json_request(req):
            return missing
        return g.json_body if "json_body" in g else super()._raw_load_json(req)


class Blueprint(flask_smorest.Blueprint):
    """The Open API's blueprints: flask-smorest's, reading bounded JSON."""

    ARGUMENTS_PARSER = _BoundedParser()

# A ServiceError code → the HTTP status it answers with (anything else: 422, the request was understood
# but breaks a rule).
STATUS_OF_CODE = {"once_a_day": 409, "stale": 409, "terminated": 409, "service_key_taken": 409, "draft": 409,
                  "not_suspended": 409, "no_cti": 409, "service_not_active": 409}


class ProblemSchema(Schema):
    """RFC 9457 problem details, with a stable machine-readable `code`."""

    type = fields.String(required=True)
    title = fields.String(required=True)
    status = fields.Integer(required=True)
    code = fields.String(required=True, metadata={"description": "Stable error code"})
    detail = fields.String(required=True, metadata={"description": "In the language of Accept-Language"})
    errors = fields.Dict(metadata={"description": "Per-field messages of a request that failed validation"})


def documented_errors(blueprint, *statuses):
    """Document the problem documents an endpoint can answer with."""
    def decorator(view):
        for status in statuses:
            view = blueprint.alt_response(status, schema=ProblemSchema, content_type=PROBLEM)(view)
        return view
    return decorator


def service_problem(exc: ServiceError):
    """A refused change: the same message as the UI, in the caller's language."""
    return problem(STATUS_OF_CODE.get(exc.code, 422), exc.code, exc.message)


def _key() -> str:
    header = request.headers.get("Authorization", "")
    return header[7:].strip() if header.lower().startswith("bearer ") else ""


def key_bucket() -> str:
    """The rate-limit bucket of the caller's key (a hash: Redis never sees a key)."""
    return "api:" + hashlib.sha256(_key().encode()).hexdigest()[:24]


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


def rate_limited(view):
    """At most API_RATE_LIMIT requests per key; answers carry RateLimit-* headers, a 429 a Retry-After."""
    return limiter.limit(lambda: current_app.config["API_RATE_LIMIT"], key_func=key_bucket)(view)


def idempotent(view):
    """POST with `Idempotency-Key`: the first answer (2xx) is stored in the same transaction as the change; a
    repeat with the same key and body gets that answer again (`Idempotent-Replayed: true`) and changes
    nothing; the same key with another body is refused. Views flush; the request commits (below 400)."""
    @wraps(view)
    def wrapper(*args, **kwargs):
        key = request.headers.get("Idempotency-Key")
        if key is None:
            return view(*args, **kwargs)
        if not 1 <= len(key) <= 100 or not key.isprintable():
            return problem(400, "bad_idempotency_key", _("An Idempotency-Key is 1–100 printable characters."))
        fingerprint = hashlib.sha256(b"\n".join([request.method.encode(), request.path.encode(),
                                                 request.get_data()])).hexdigest()
        stored = _stored(key)
        if stored is not None:
            return _replay(stored, fingerprint)
        response = current_app.make_response(view(*args, **kwargs))
        if 200 <= response.status_code < 300:
            db.session.add(IdempotentRequest(organization_id=current_org_id(), key=key, fingerprint=fingerprint,
                                             status_code=response.status_code, body=response.get_data(as_text=True),
                                             location=response.headers.get("Location")))
            try:
                db.session.flush()
            except IntegrityError:
                # The same key at the same moment: that request's change stands, so this whole one is undone
                # (not a savepoint: the change made under the key must go with it).
                db.session.rollback()
                stored = _stored(key)
                return _replay(stored, fingerprint) if stored else problem(
                    409, "idempotency_conflict", _("A request with this Idempotency-Key is being processed."))
        return response

    return wrapper


def _stored(key: str) -> IdempotentRequest | None:
    return db.session.scalars(scoped(IdempotentRequest).filter_by(key=key)).first()


def _replay(stored: IdempotentRequest, fingerprint: str):
    if stored.fingerprint != fingerprint:
        return problem(422, "idempotency_key_reused",
                       _("This Idempotency-Key was used for a different request. Use a new key."))
    response = current_app.response_class(stored.body, status=stored.status_code, mimetype="application/json")
    response.headers["Idempotent-Replayed"] = "true"
    if stored.location:
        response.headers["Location"] = stored.location
    return response


def dumps(value) -> str:
    return json.dumps(value, ensure_ascii=False)
