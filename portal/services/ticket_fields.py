"""Ticket fields of a service (서비스관리 → 티켓 → 필드): fixed system fields and custom ones.

The migration template, its validator and the ticket list all read `fields_of(service)`. The
fingerprint changes whenever anything the template depends on changes.
"""
from __future__ import annotations

import hashlib
import json
import re

from flask_babel import get_locale
from flask_babel import gettext as _
from sqlalchemy import select

from portal.extensions import db
from portal.models import FieldType, Service, ServiceStatus, TicketField
from portal.services import Actor, ServiceError, activity

# key, type, Korean label, English label, required (and fixed as required when it is "always")
SYSTEM_FIELDS = [
    ("title", FieldType.text, "제목", "Title", "always"),
    ("body", FieldType.long_text, "내용", "Body", False),
    ("status", FieldType.single_choice, "상태", "Status", False),
    ("priority", FieldType.single_choice, "우선순위", "Priority", False),
    ("channel", FieldType.single_choice, "채널", "Channel", False),
    ("requester_name", FieldType.text, "요청자 이름", "Requester name", False),
    ("requester_email", FieldType.email, "요청자 이메일", "Requester e-mail", False),
    ("requester_phone", FieldType.phone, "요청자 전화번호", "Requester phone", False),
    ("assignee", FieldType.member, "담당자 로그인 ID", "Assignee login ID", False),
    ("category", FieldType.text, "카테고리", "Category", False),
    ("tags", FieldType.text, "태그", "Tags", False),
    ("external_id", FieldType.text, "외부 ID", "External ID", False),
    ("created_at", FieldType.datetime, "생성 일시", "Created at", False),
    ("closed_at", FieldType.datetime, "종료 일시", "Closed at", False),
]
SYSTEM_CHOICES = {
    "status": ["unassigned", "in_progress", "resolved", "completed"],
    "priority": ["low", "normal", "high", "urgent"],
    "channel": ["web", "email", "chat", "phone_ib", "phone_ob", "migration"],
}
ALWAYS_REQUIRED = {key for key, *_rest, required in SYSTEM_FIELDS if required == "always"}
CUSTOM_TYPES = [FieldType.text, FieldType.long_text, FieldType.number, FieldType.date, FieldType.datetime,
                FieldType.single_choice, FieldType.multi_choice, FieldType.checkbox]
CHOICE_TYPES = {FieldType.single_choice, FieldType.multi_choice}
KEY_RE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
MAX_CUSTOM_FIELDS = 50
MAX_CHOICES = 200


def label(field: TicketField) -> str:
    return field.label_ko if str(get_locale()) == "ko" else field.label_en


def system_fields(service: Service) -> list[TicketField]:
    """The fixed fields a new service starts with (not yet added to the session)."""
    return [TicketField(organization_id=service.organization_id, service_id=service.id, key=key, system=True,
                        type=type_, label_ko=ko, label_en=en, required=bool(required),
                        choices=SYSTEM_CHOICES.get(key), position=position)
            for position, (key, type_, ko, en, required) in enumerate(SYSTEM_FIELDS)]


def fields_of(service: Service) -> list[TicketField]:
    """The service's fields in order (the system fields exist from the service's creation)."""
    return list(db.session.scalars(
        select(TicketField).where(TicketField.service_id == service.id).order_by(TicketField.position)))


def fingerprint(fields: list[TicketField]) -> str:
    """A short hash of everything a filled template depends on: keys, types, order, required flags, choices."""
    config = [[f.key, f.type.value, f.required, f.choices or []] for f in fields]
    return hashlib.sha256(json.dumps(config, ensure_ascii=False).encode()).hexdigest()[:16]


def _require_open(service: Service) -> None:
    if service.status == ServiceStatus.terminated:
        raise ServiceError(_("%(name)s is terminated and can no longer be changed.", name=service.name), "terminated")


def _parse_choices(type_: FieldType, raw: str | list | None) -> list[str] | None:
    if type_ not in CHOICE_TYPES:
        return None
    lines = raw if isinstance(raw, list) else (raw or "").splitlines()
    choices = list(dict.fromkeys(c.strip() for c in lines if c and c.strip()))
    if not choices:
        raise ServiceError(_("A choice field needs at least one choice, one per line."), "no_choices")
    if len(choices) > MAX_CHOICES or any(len(c) > 100 or "," in c for c in choices):
        raise ServiceError(_("Choices are at most 100 characters each, without commas, and at most 200 of them."),
                           "bad_choices")
    return choices


def _labels(label_ko: str, label_en: str) -> tuple[str, str]:
    label_ko, label_en = (label_ko or "").strip(), (label_en or "").strip()
    for label, code in ((label_ko, "bad_label_ko"), (label_en, "bad_label_en")):  # the code names the label
        if not label:
            raise ServiceError(_("Enter the label in Korean and in English."), code)
        if len(label) > 100:
            raise ServiceError(_("A label is at most 100 characters."), code)
    return label_ko, label_en


def add_custom_field(actor: Actor, service: Service, *, key: str, type: str, label_ko: str, label_en: str,
                     required: bool = False, choices: str | list | None = None) -> TicketField:
    """A custom field: key of lowercase letters, digits and _, unique in the service; choices for choice types."""
    _require_open(service)
    fields = fields_of(service)
    key = (key or "").strip()
    if not KEY_RE.match(key):
        raise ServiceError(_("A field key is 1–40 lowercase letters, digits or _, starting with a letter."), "bad_key")
    if key in {f.key for f in fields}:
        raise ServiceError(_("The field key %(key)s is already used.", key=key), "key_taken")
    if type not in {t.value for t in CUSTOM_TYPES}:
        raise ServiceError(_("Unknown field type: %(type)s.", type=type), "bad_type")
    if sum(1 for f in fields if not f.system) >= MAX_CUSTOM_FIELDS:
        raise ServiceError(_("A service has at most %(n)d custom fields.", n=MAX_CUSTOM_FIELDS), "too_many")
    type_ = FieldType(type)
    label_ko, label_en = _labels(label_ko, label_en)
    field = TicketField(organization_id=service.organization_id, service_id=service.id, key=key, system=False,
                        type=type_, label_ko=label_ko, label_en=label_en, required=bool(required),
                        choices=_parse_choices(type_, choices), position=max(f.position for f in fields) + 1)
    db.session.add(field)
    db.session.flush()
    _log(actor, service, "ticket_field.added", field)
    return field


def update_field(actor: Actor, service: Service, field: TicketField, *, label_ko: str, label_en: str,
                 required: bool, choices: str | list | None = None) -> TicketField:
    """Labels, required flag and choices. System fields keep their labels and choices; the title stays required."""
    _require_open(service)
    if field.system:
        if field.key in ALWAYS_REQUIRED and not required:
            raise ServiceError(_("The title is always required."), "always_required")
    else:
        field.label_ko, field.label_en = _labels(label_ko, label_en)
        field.choices = _parse_choices(field.type, choices)
    field.required = bool(required)
    db.session.flush()
    _log(actor, service, "ticket_field.updated", field)
    return field


def delete_field(actor: Actor, service: Service, field: TicketField) -> None:
    _require_open(service)
    if field.system:
        raise ServiceError(_("System fields cannot be deleted."), "system_field")
    db.session.delete(field)
    db.session.flush()
    _log(actor, service, "ticket_field.deleted", field)


def move_field(actor: Actor, service: Service, field: TicketField, direction: str) -> list[TicketField]:
    """Swap the field with its neighbour above or below; returns the fields in their new order."""
    _require_open(service)
    fields = fields_of(service)
    index = next(i for i, f in enumerate(fields) if f.id == field.id)
    other = index - 1 if direction == "up" else index + 1 if direction == "down" else None
    if other is None:
        raise ServiceError(_("Move a field up or down."), "bad_direction")
    if 0 <= other < len(fields):
        a, b = fields[index], fields[other]
        a.position, b.position = b.position, a.position
        db.session.flush()
        _log(actor, service, "ticket_field.moved", field, {"direction": direction})
    return sorted(fields, key=lambda f: f.position)


def _log(actor: Actor, service: Service, action: str, field: TicketField, extra: dict | None = None) -> None:
    activity.record(actor.organization_id, actor.member_id, action, subject_type="ticket_field",
                    subject_id=field.id, subject_label=f"{service.service_key}.{field.key}",
                    details={"key": field.key, "type": field.type.value, "required": field.required,
                             "choices": field.choices, **(extra or {})}, ip=actor.ip)
