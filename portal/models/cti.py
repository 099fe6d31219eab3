from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint, text
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
    one open interval per member and channel (partial unique index)."""

    __tablename__ = "agent_state_interval"
    __table_args__ = (
        Index("uq_agent_state_open", "member_id", "channel", unique=True,
              sqlite_where=text("ended_at IS NULL"), postgresql_where=text("ended_at IS NULL")),
        Index("ix_agent_state_member_time", "member_id", "started_at"),
        Index("ix_agent_state_service_time", "service_id", "started_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("member.id", ondelete="CASCADE"))
    service_id: Mapped[int | None] = mapped_column(ForeignKey("service.id", ondelete="SET NULL"))
    channel: Mapped[str] = mapped_column(String(8))
    state: Mapped[str] = mapped_column(String(24))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reason: Mapped[str | None] = mapped_column(String(200))
    changed_by_id: Mapped[int | None] = mapped_column(ForeignKey("member.id", ondelete="SET NULL"))
