from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from portal.extensions import db
from portal.models.base import TenantMixin, UTCDateTime, str_enum, utcnow


class TicketStatus(str, enum.Enum):
    unassigned = "unassigned"
    in_progress = "in_progress"
    resolved = "resolved"
    completed = "completed"


class TicketPriority(str, enum.Enum):
    low = "low"
    normal = "normal"
    high = "high"
    urgent = "urgent"


class TicketChannel(str, enum.Enum):
    web = "web"
    email = "email"
    chat = "chat"
    phone_ib = "phone_ib"
    phone_ob = "phone_ob"
    migration = "migration"


class FieldType(str, enum.Enum):
    text = "text"
    long_text = "long_text"
    number = "number"
    date = "date"
    datetime = "datetime"
    single_choice = "single_choice"
    multi_choice = "multi_choice"
    checkbox = "checkbox"
    email = "email"
    phone = "phone"
    member = "member"  # a login ID of a member of the service


class TicketField(TenantMixin, db.Model):
    """A field of a service's tickets: a fixed system field or a custom one. The migration template and
    its validator follow these rows (their order, types, required flags and choices)."""

    __tablename__ = "ticket_field"
    __table_args__ = (UniqueConstraint("service_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    service_id: Mapped[int] = mapped_column(ForeignKey("service.id", ondelete="CASCADE"), index=True)
    key: Mapped[str] = mapped_column(String(40))
    system: Mapped[bool] = mapped_column(default=False)
    type: Mapped[FieldType] = mapped_column(str_enum(FieldType, "field_type"))
    label_ko: Mapped[str] = mapped_column(String(100))
    label_en: Mapped[str] = mapped_column(String(100))
    required: Mapped[bool] = mapped_column(default=False)
    choices: Mapped[list | None] = mapped_column(JSON)
    position: Mapped[int]


class Ticket(TenantMixin, db.Model):
    """A ticket of a service. `number` counts per service; (source_batch_id, source_row) is unique, so a
    migration applied twice cannot create a ticket twice."""

    __tablename__ = "ticket"
    __table_args__ = (
        UniqueConstraint("service_id", "number"),
        UniqueConstraint("source_batch_id", "source_row"),
        UniqueConstraint("service_id", "idempotency_key"),  # an Open API client's retry creates nothing twice
        # The waiting queue, oldest first (automatic assignment; NULLs of assignee_id never match it).
        Index("ix_ticket_service_waiting", "service_id", "created_at", "id",
              sqlite_where=text("status = 'unassigned'"), postgresql_where=text("status = 'unassigned'")),
        Index("ix_ticket_service_created", "service_id", "created_at", "id"),
        Index("ix_ticket_service_status_created", "service_id", "status", "created_at", "id"),
        Index("ix_ticket_service_assignee_created", "service_id", "assignee_id", "created_at", "id"),
        # My performance counts one agent's tickets by status (SQLite without statistics chose a whole status).
        Index("ix_ticket_service_assignee_status", "service_id", "assignee_id", "status", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    service_id: Mapped[int] = mapped_column(ForeignKey("service.id", ondelete="CASCADE"))
    number: Mapped[int]
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str | None] = mapped_column(Text)
    status: Mapped[TicketStatus] = mapped_column(str_enum(TicketStatus, "ticket_status"), default=TicketStatus.unassigned)
    priority: Mapped[TicketPriority] = mapped_column(str_enum(TicketPriority, "ticket_priority"),
                                                     default=TicketPriority.normal)
    channel: Mapped[TicketChannel] = mapped_column(str_enum(TicketChannel, "ticket_channel"))
    requester_name: Mapped[str | None] = mapped_column(String(100))
    requester_email: Mapped[str | None] = mapped_column(String(254))
    requester_phone: Mapped[str | None] = mapped_column(String(32))
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("member.id", ondelete="SET NULL"))
    category: Mapped[str | None] = mapped_column(String(100))
    tags: Mapped[list | None] = mapped_column(JSON)
    custom: Mapped[dict | None] = mapped_column(JSON)
    external_id: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    source_batch_id: Mapped[int | None] = mapped_column(ForeignKey("migration_batch.id", ondelete="SET NULL"))
    source_row: Mapped[int | None]
    call_id: Mapped[str | None] = mapped_column(String(64))
    idempotency_key: Mapped[str | None] = mapped_column(String(64))
