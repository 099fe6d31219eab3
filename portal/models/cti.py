from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from portal.extensions import db
from portal.models.base import TenantMixin, UTCDateTime, str_enum, utcnow


class CtiVersion(str, enum.Enum):
    ipcc = "ipcc"
    mobile = "mobile"


class CtiSettings(TenantMixin, db.Model):
    """CTI settings of one service (CTI 설정)."""

    __tablename__ = "cti_settings"

    id: Mapped[int] = mapped_column(primary_key=True)
    service_id: Mapped[int] = mapped_column(ForeignKey("service.id", ondelete="CASCADE"), unique=True)
    version: Mapped[CtiVersion | None] = mapped_column(str_enum(CtiVersion, "cti_version"))
    mobile_activated: Mapped[bool] = mapped_column(default=False)
    tenant_id: Mapped[str | None] = mapped_column(String(64))
    tenant_name: Mapped[str | None] = mapped_column(String(100))
    log_monitoring: Mapped[bool] = mapped_column(default=False)
    after_call_bulk: Mapped[bool] = mapped_column(default=True)
    outbound_auto_ticket: Mapped[bool] = mapped_column(default=False)
    log_retention_days: Mapped[int] = mapped_column(default=180)
    # After-call work limit: an agent left in ticket work after a call returns to ready after this long.
    acw_limit_seconds: Mapped[int | None]
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CtiAgent(TenantMixin, db.Model):
    """A member's CTI credentials. CTI ID and CTI number are each unique in the organization (in the
    database, so two admins saving the same number at once cannot both win)."""

    __tablename__ = "cti_agent"
    __table_args__ = (
        UniqueConstraint("organization_id", "cti_id"),
        UniqueConstraint("organization_id", "cti_number"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("member.id", ondelete="CASCADE"), unique=True)
    cti_id: Mapped[str] = mapped_column(String(32))
    cti_number: Mapped[str] = mapped_column(String(20))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AgentStateInterval(TenantMixin, db.Model):
    """One stretch of time an agent spent in one state on one channel. Open while `ended_at` is null; at most
    one open interval per member and channel (partial unique index), none of zero length (check), none
    overlapping another of its member and channel (an exclusion constraint, PostgreSQL only: SQLite has no
    range types; see agent_states for how every change keeps it)."""

    __tablename__ = "agent_state_interval"
    __table_args__ = (
        Index("uq_agent_state_open", "member_id", "channel", unique=True,
              sqlite_where=text("ended_at IS NULL"), postgresql_where=text("ended_at IS NULL")),
        Index("ix_agent_state_member_time", "member_id", "started_at"),
        Index("ix_agent_state_service_time", "service_id", "started_at"),
        CheckConstraint("ended_at IS NULL OR ended_at > started_at", name="ck_agent_state_not_empty"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("member.id", ondelete="CASCADE"))
    service_id: Mapped[int | None] = mapped_column(ForeignKey("service.id", ondelete="SET NULL"))
    channel: Mapped[str] = mapped_column(String(8))
    state: Mapped[str] = mapped_column(String(24))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reason: Mapped[str | None] = mapped_column(String(200))
    end_reason: Mapped[str | None] = mapped_column(String(24))  # why it closed when nothing followed (idle, logout)
    changed_by_id: Mapped[int | None] = mapped_column(ForeignKey("member.id", ondelete="SET NULL"))


class CtiEvent(TenantMixin, db.Model):
    """One event from the telephony, stored once per external event ID (a retry finds the stored one).
    `error` records why an event could not drive anything (unknown CTI ID, out of order); it is kept anyway."""

    __tablename__ = "cti_event"
    __table_args__ = (
        UniqueConstraint("service_id", "external_id"),
        Index("ix_cti_event_service_day", "service_id", "local_day", "occurred_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    service_id: Mapped[int] = mapped_column(ForeignKey("service.id", ondelete="CASCADE"))
    external_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(24))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    local_day: Mapped[date]
    logged: Mapped[bool] = mapped_column(default=False)  # CTI log monitoring was on
    cti_id: Mapped[str | None] = mapped_column(String(32))
    member_id: Mapped[int | None] = mapped_column(ForeignKey("member.id", ondelete="SET NULL"))
    call_id: Mapped[str | None] = mapped_column(String(64))
    direction: Mapped[str | None] = mapped_column(String(2))
    counterpart: Mapped[str | None] = mapped_column(String(32))
    detail: Mapped[dict | None] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(String(200))  # text of events stored before error_code existed
    # Why the event drove nothing, or only part (`late`): a code and its parameters, shown in the reader's
    # language (labels.cti_error_text).
    error_code: Mapped[str | None] = mapped_column(String(24))
    error_args: Mapped[dict | None] = mapped_column(JSON)


class Call(TenantMixin, db.Model):
    """One phone call of a service, built from its events."""

    __tablename__ = "call"
    __table_args__ = (UniqueConstraint("service_id", "call_id"), Index("ix_call_service_started", "service_id", "started_at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    service_id: Mapped[int] = mapped_column(ForeignKey("service.id", ondelete="CASCADE"))
    call_id: Mapped[str] = mapped_column(String(64))
    direction: Mapped[str] = mapped_column(String(2))  # IB / OB
    member_id: Mapped[int | None] = mapped_column(ForeignKey("member.id", ondelete="SET NULL"))
    counterpart: Mapped[str | None] = mapped_column(String(32))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    talk_seconds: Mapped[int | None]
    outcome: Mapped[str | None] = mapped_column(String(16))  # answered / abandoned / no_answer / failed
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("ticket.id", ondelete="SET NULL"))
    called_back_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    called_back_by_id: Mapped[int | None] = mapped_column(ForeignKey("member.id", ondelete="SET NULL"))
