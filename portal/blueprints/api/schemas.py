"""Request and response schemas of the Open API (marshmallow; flask-smorest turns them into OpenAPI).

Request schemas check shapes and types only; the business rules (and their messages, in the caller's
language) are the services', the same ones the UI runs."""
from flask_babel import lazy_gettext as _l
from marshmallow import Schema, fields, validate

from portal.models import (BatchStatus, EditorType, ServiceStatus, ServiceType, TicketChannel, TicketPriority,
                           TicketStatus)

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


# -- tickets ------------------------------------------------------------------------------------------------------
# Their request schema checks only shapes, types and sizes, with messages in the caller's language; the values
# themselves go through the service's ticket fields (tickets.create), as a migration row does.

def _said(field: fields.Field) -> fields.Field:
    """The field's type messages in the caller's language (marshmallow's own are English only). Each in a list:
    marshmallow lists only a str message, and a lazy one is said when the answer is written."""
    wrong = [_l("Not a value of the right type.")]
    field.error_messages = {**field.error_messages, "required": [_l("Required.")],
                            "null": [_l("Give a value or leave the field out.")], "invalid": wrong, "type": wrong}
    return field


def _text(max_length: int, **kwargs) -> fields.String:
    return _said(fields.String(validate=validate.Length(max=max_length, error=_l("At most %(n)s characters.",
                                                                                n=max_length)), **kwargs))


# A hard cap on every text: each field's own limit (200 for a title, 20,000 for a body, …) is the service's ticket
# fields' check, which says which limit (the JSON body as a whole is bounded by JSON_MAX_KB).
TICKET_TEXT_MAX = 100_000
TICKET_TAGS_MAX, TICKET_TAG_MAX = 50, 100
TICKET_CUSTOM_MAX = 100  # keys in `custom` (a service has at most 50 custom fields)


class CustomValue(fields.Field):
    """A custom field's value: text, a number, true/false, or a list of texts (a multiple choice)."""

    default_error_messages = {"invalid": [_l("Give text, a number, true or false, or a list of texts.")],
                              "too_long": [_l("At most %(n)s characters.", n=TICKET_TEXT_MAX)]}

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, list):
            if len(value) > 200 or not all(isinstance(v, str) for v in value):
                raise self.make_error("invalid")
            if sum(len(v) for v in value) > TICKET_TEXT_MAX:
                raise self.make_error("too_long")
            return value
        if isinstance(value, str):
            if len(value) > TICKET_TEXT_MAX:
                raise self.make_error("too_long")
            return value
        if isinstance(value, (bool, int, float)):
            return value
        raise self.make_error("invalid")


class CustomValues(fields.Dict):
    """At most TICKET_CUSTOM_MAX of them, counted before each is read (documented as maxProperties)."""

    default_error_messages = {"too_many": [_l("At most %(n)s custom fields.", n=TICKET_CUSTOM_MAX)]}

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, dict) and len(value) > TICKET_CUSTOM_MAX:
            raise self.make_error("too_many")
        return super()._deserialize(value, attr, data, **kwargs)


class _TicketSchema(Strict):
    class Meta:
        ordered = True

    error_messages = {"unknown": _l("Unknown field."), "type": _l("Not a value of the right type.")}


class RequesterSchema(_TicketSchema):
    name = _text(TICKET_TEXT_MAX, allow_none=True, metadata={"example": "홍길동"})
    email = _text(TICKET_TEXT_MAX, allow_none=True, metadata={"example": "gildong@example.com"})
    phone = _text(TICKET_TEXT_MAX, allow_none=True, metadata={"example": "010-1234-5678"})


class TicketCreateSchema(_TicketSchema):
    title = _text(TICKET_TEXT_MAX, required=True, metadata={"description": "At most 200 characters",
                                                            "example": "주문한 상품이 아직 안 왔어요"})
    body = _text(TICKET_TEXT_MAX, allow_none=True, metadata={"description": "At most 20,000 characters"})
    requester = _said(fields.Nested(RequesterSchema, allow_none=True))
    channel = _text(20, load_default="web", metadata={"enum": ["web", "email"], "description": "web or email"})
    priority = _text(20, allow_none=True, metadata={"enum": ["low", "normal", "high", "urgent"],
                                                    "description": "Default normal"})
    category = _text(TICKET_TEXT_MAX, allow_none=True, metadata={"description": "At most 100 characters"})
    tags = _said(fields.List(_text(TICKET_TAG_MAX), allow_none=True, validate=validate.Length(
        max=TICKET_TAGS_MAX, error=_l("At most %(n)s tags.", n=TICKET_TAGS_MAX))))
    external_id = _text(TICKET_TEXT_MAX, allow_none=True, metadata={
        "description": "Your system's ID of the ticket (at most 100 characters)"})
    assignee = _text(TICKET_TEXT_MAX, allow_none=True, metadata={
        "description": "Login ID of a member of the service; leave it out to let the service assign"})
    custom = _said(CustomValues(keys=_text(40), values=CustomValue(allow_none=True), allow_none=True,
                                metadata={"description": "Custom field values by field key",
                                          "maxProperties": TICKET_CUSTOM_MAX, "example": {"order_no": "A-1001"}}))


class TicketRequesterOut(Strict):
    name = fields.String(required=True, allow_none=True)
    email = fields.String(required=True, allow_none=True)
    phone = fields.String(required=True, allow_none=True)


class TicketSchema(Strict):
    service_id = fields.String(required=True)
    number = fields.Integer(required=True, metadata={"description": "Counts per service"})
    title = fields.String(required=True)
    body = fields.String(required=True, allow_none=True)
    status = fields.Enum(TicketStatus, by_value=True, required=True)
    assignee = fields.String(required=True, allow_none=True, metadata={"description": "Login ID of the assignee"})
    channel = fields.Enum(TicketChannel, by_value=True, required=True)
    priority = fields.Enum(TicketPriority, by_value=True, required=True)
    requester = fields.Nested(TicketRequesterOut, required=True)
    category = fields.String(required=True, allow_none=True)
    tags = fields.List(fields.String(), required=True)
    external_id = fields.String(required=True, allow_none=True)
    custom = fields.Dict(required=True)
    created_at = fields.DateTime(required=True)
    updated_at = fields.DateTime(required=True)
    closed_at = fields.DateTime(required=True, allow_none=True)
