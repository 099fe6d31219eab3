"""service rows created with the service

Every service gets its CTI settings and its system ticket fields when it is created; pages used to create them
on first view, from a GET. This gives them to the services created before.

Revision ID: 3f6b2d8e9a41
Revises: 8d2f4b6a1c30
Create Date: 2026-11-29 10:00:00.000000

"""
from datetime import datetime, timezone

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '3f6b2d8e9a41'
down_revision = '8d2f4b6a1c30'
branch_labels = None
depends_on = None

# The system fields as portal.services.ticket_fields defines them today (a migration keeps its own copy).
SYSTEM_FIELDS = [
    ("title", "text", "제목", "Title", True),
    ("body", "long_text", "내용", "Body", False),
    ("status", "single_choice", "상태", "Status", False),
    ("priority", "single_choice", "우선순위", "Priority", False),
    ("channel", "single_choice", "채널", "Channel", False),
    ("requester_name", "text", "요청자 이름", "Requester name", False),
    ("requester_email", "email", "요청자 이메일", "Requester e-mail", False),
    ("requester_phone", "phone", "요청자 전화번호", "Requester phone", False),
    ("assignee", "member", "담당자 로그인 ID", "Assignee login ID", False),
    ("category", "text", "카테고리", "Category", False),
    ("tags", "text", "태그", "Tags", False),
    ("external_id", "text", "외부 ID", "External ID", False),
    ("created_at", "datetime", "생성 일시", "Created at", False),
    ("closed_at", "datetime", "종료 일시", "Closed at", False),
]
SYSTEM_CHOICES = {
    "status": ["unassigned", "in_progress", "resolved", "completed"],
    "priority": ["low", "normal", "high", "urgent"],
    "channel": ["web", "email", "chat", "phone_ib", "phone_ob", "migration"],
}

service = sa.table("service", sa.column("id", sa.Integer), sa.column("organization_id", sa.Integer))
cti_settings = sa.table(
    "cti_settings", sa.column("organization_id", sa.Integer), sa.column("service_id", sa.Integer),
    sa.column("mobile_activated", sa.Boolean), sa.column("log_monitoring", sa.Boolean),
    sa.column("after_call_bulk", sa.Boolean), sa.column("outbound_auto_ticket", sa.Boolean),
    sa.column("log_retention_days", sa.Integer), sa.column("updated_at", sa.DateTime))
ticket_field = sa.table(
    "ticket_field", sa.column("organization_id", sa.Integer), sa.column("service_id", sa.Integer),
    sa.column("key", sa.String), sa.column("system", sa.Boolean), sa.column("type", sa.String),
    sa.column("label_ko", sa.String), sa.column("label_en", sa.String), sa.column("required", sa.Boolean),
    sa.column("choices", sa.JSON), sa.column("position", sa.Integer))


def upgrade():
    connection = op.get_bind()
    now = datetime.now(timezone.utc).replace(tzinfo=None)  # stored as naive UTC
    without_settings = connection.execute(sa.select(service.c.id, service.c.organization_id).where(
        ~sa.exists().where(cti_settings.c.service_id == service.c.id))).all()
    if without_settings:
        connection.execute(cti_settings.insert(), [
            {"organization_id": org_id, "service_id": service_id, "mobile_activated": False, "log_monitoring": False,
             "after_call_bulk": True, "outbound_auto_ticket": False, "log_retention_days": 180, "updated_at": now}
            for service_id, org_id in without_settings])
    without_fields = connection.execute(sa.select(service.c.id, service.c.organization_id).where(
        ~sa.exists().where(ticket_field.c.service_id == service.c.id))).all()
    if without_fields:
        connection.execute(ticket_field.insert(), [
            {"organization_id": org_id, "service_id": service_id, "key": key, "system": True, "type": type_,
             "label_ko": ko, "label_en": en, "required": required, "choices": SYSTEM_CHOICES.get(key),
             "position": position}
            for service_id, org_id in without_fields
            for position, (key, type_, ko, en, required) in enumerate(SYSTEM_FIELDS)])


def downgrade():
    pass  # the rows stay: the code before this revision reads them as its own first-view creations
