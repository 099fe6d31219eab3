"""Request and response schemas of the Open API (marshmallow; flask-smorest turns them into OpenAPI).

Request schemas check shapes and types only; the business rules (and their messages, in the caller's
language) are the services', the same ones the UI runs."""
from marshmallow import Schema, fields, validate

from portal.models import BatchStatus, EditorType, ServiceStatus, ServiceType

SERVICE_ID = fields.String(metadata={"description": "Service ID: 1–40 ASCII letters, unique in the organization",
                                     "example": "support"})


class Strict(Schema):
    class Meta:
        ordered = True


class ServiceSchema(Strict):
    service_id = fields.String(required=True, attribute="service_key")
    name = fields.String(required=True)
    type = fields.Enum(ServiceType, by_value=True, required=True)
    status = fields.Enum(ServiceStatus, by_value=True, required=True)
    languages = fields.List(fields.String(), required=True)
    default_language = fields.String(required=True, allow_none=True)
    time_zone = fields.String(required=True)
    editor_type = fields.Enum(EditorType, by_value=True, required=True)
    revision = fields.Integer(required=True, metadata={"description": "Send it back when updating (stale edits are refused)"})
    created_at = fields.DateTime(required=True)
    terminated_on = fields.Date(allow_none=True)


class ServicePageSchema(Strict):
    items = fields.List(fields.Nested(ServiceSchema), required=True)
    next_cursor = fields.String(required=True, allow_none=True)


class ServiceListArgs(Strict):
    status = fields.Enum(ServiceStatus, by_value=True)
    type = fields.Enum(ServiceType, by_value=True)
    q = fields.String(validate=validate.Length(max=100), metadata={"description": "Part of the name or service ID"})
    cursor = fields.String(validate=validate.Length(max=200))
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))


class ServiceCreateSchema(Strict):
    service_id = fields.String(required=True, validate=validate.Length(max=100))
    name = fields.String(required=True, validate=validate.Length(max=1000))
    type = fields.Enum(ServiceType, by_value=True, required=True)
    languages = fields.List(fields.String(validate=validate.Length(max=20)), required=True,
                            validate=validate.Length(max=200))
    default_language = fields.String(required=True, validate=validate.Length(max=20))
    time_zone = fields.String(load_default="Asia/Seoul", validate=validate.Length(max=64))
    editor_type = fields.Enum(EditorType, by_value=True, load_default=EditorType.html)


class ServiceUpdateSchema(ServiceCreateSchema):
    class Meta:
        exclude = ("service_id",)

    revision = fields.Integer(required=True, strict=True)


class TerminateSchema(Strict):
    confirm_service_id = fields.String(required=True, validate=validate.Length(max=100),
                                       metadata={"description": "The service ID again, to confirm"})


class ContractLineSchema(Strict):
    feature = fields.String(required=True, attribute="feature_key")
    quantity = fields.Integer(required=True)
    unit_price = fields.Integer(required=True)
    amount = fields.Integer(required=True)


class ContractSchema(Strict):
    version = fields.Integer(required=True)
    effective_from = fields.Date(required=True)
    effective_to = fields.Date(required=True, allow_none=True)
    monthly_total = fields.Integer(required=True)
    lines = fields.List(fields.Nested(ContractLineSchema), required=True)


class ContractHistorySchema(Strict):
    current = fields.Nested(ContractSchema, required=True, allow_none=True)
    history = fields.List(fields.Nested(ContractSchema), required=True)
    next_change_at = fields.DateTime(required=True, allow_none=True,
                                     metadata={"description": "When the contract may change again (one change a day; null: now)"})


QUANTITIES = fields.Dict(keys=fields.String(validate=validate.Length(max=64)),
                         values=fields.Integer(strict=True, validate=validate.Range(min=0, max=1_000_000)),
                         required=True, metadata={"example": {"base.seat": 10, "ticket.phone_cti": 5}})


class EstimateRequestSchema(Strict):
    quantities = QUANTITIES


class EstimateSchema(Strict):
    lines = fields.List(fields.Nested(ContractLineSchema), required=True)
    total = fields.Integer(required=True)
    difference = fields.Integer(required=True, allow_none=True,
                                metadata={"description": "Against the contract in force (null when there is none)"})


class ContractChangeSchema(Strict):
    quantities = QUANTITIES
    base_version = fields.Integer(required=True, allow_none=True, strict=True,
                                  metadata={"description": "Version of the contract in force you started from"})


class ChargeArgs(Strict):
    first = fields.String(data_key="from", required=True, validate=validate.Regexp(r"^\d{4}-\d{2}$"),
                          metadata={"example": "2026-01"})
    last = fields.String(data_key="to", required=True, validate=validate.Regexp(r"^\d{4}-\d{2}$"),
                         metadata={"example": "2026-06"})
    service_id = fields.String(validate=validate.Length(max=100))


class ChargeSchema(Strict):
    service_id = fields.String(required=True, attribute="service_key")
    service_name = fields.String(required=True)
    month = fields.String(required=True, metadata={"example": "2026-06"})
    amount = fields.Integer(required=True, metadata={"description": "KRW"})
    billed_days = fields.Integer(required=True)
    to_date = fields.Boolean(required=True, metadata={"description": "The running month, up to today"})
    closed = fields.Boolean(required=True)


class ChargeListSchema(Strict):
    items = fields.List(fields.Nested(ChargeSchema), required=True)
    total = fields.Integer(required=True)


class BatchSchema(Strict):
    id = fields.Integer(required=True)
    service_id = fields.String(required=True)
    filename = fields.String(required=True)
    status = fields.Enum(BatchStatus, by_value=True, required=True)
    rows = fields.Integer(required=True)
    progress = fields.Integer(required=True)
    error_count = fields.Integer(required=True)
    message = fields.String(required=True, allow_none=True,
                            metadata={"description": "The check's or the apply's outcome, in the caller's language"})
    message_code = fields.String(required=True, allow_none=True, metadata={
        "description": "The outcome's stable code (null for a batch still checking, or checked before codes)"})
    scheduled_for = fields.DateTime(required=True, allow_none=True)
    finished_at = fields.DateTime(required=True, allow_none=True)
    created_tickets = fields.Integer(required=True, allow_none=True)
    created_at = fields.DateTime(required=True)


class BatchListSchema(Strict):
    items = fields.List(fields.Nested(BatchSchema), required=True)


class BatchArgs(Strict):
    service_id = fields.String(validate=validate.Length(max=100))
    status = fields.Enum(BatchStatus, by_value=True)


class PermissionLogArgs(Strict):
    start = fields.AwareDateTime(metadata={"description": "Default: 7 days ago"})
    end = fields.AwareDateTime(metadata={"description": "Default: now; at most a year after start"})
    operation = fields.String(validate=validate.Length(max=40))
    target = fields.String(validate=validate.Length(max=100), metadata={"description": "Name or login ID"})
    actor = fields.String(validate=validate.Length(max=100), metadata={"description": "Name or login ID"})
    service_id = fields.String(validate=validate.Length(max=100))
    cursor = fields.String(validate=validate.Length(max=200))


class PermissionChangeSchema(Strict):
    seq = fields.Integer(required=True)
    created_at = fields.DateTime(required=True)
    service = fields.String(required=True, allow_none=True, attribute="service_label")
    operation = fields.String(required=True)
    target_name = fields.String(required=True)
    target_login = fields.String(required=True)
    actor_name = fields.String(required=True, allow_none=True)
    actor_login = fields.String(required=True, allow_none=True)
    before = fields.Dict(required=True, allow_none=True)
    after = fields.Dict(required=True, allow_none=True)


class PermissionLogPageSchema(Strict):
    items = fields.List(fields.Nested(PermissionChangeSchema), required=True)
    next_cursor = fields.String(required=True, allow_none=True)


class CtiEventsSchema(Strict):
    service = fields.String(required=True, validate=validate.Length(max=100))
    events = fields.List(fields.Raw(), required=True, validate=validate.Length(min=1),
                         metadata={"description": "Each checked on its own: kind, event_id, occurred_at, …"})


class CtiResultSchema(Strict):
    event_id = fields.Raw(required=True, allow_none=True)
    status = fields.String(required=True, validate=validate.OneOf(["stored", "duplicate", "rejected"]))
    code = fields.String(metadata={"description": "Why it was rejected, or why a stored event drove nothing (`late`: older than the agent's latest event, so it changed no state)"})
    detail = fields.String()
    error = fields.String(allow_none=True)


class CtiIngestSchema(Strict):
    results = fields.List(fields.Nested(CtiResultSchema), required=True)
    rejected = fields.Integer(required=True)
