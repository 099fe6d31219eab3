from __future__ import annotations

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from portal.extensions import db
from portal.models.base import TenantMixin, TimestampMixin


class Activity(TenantMixin, TimestampMixin, db.Model):
    """The activity trail: who did what to which service, contract or key, and when."""

    __tablename__ = "activity"
    __table_args__ = (
        Index("ix_activity_org_created", "organization_id", "created_at"),
        Index("ix_activity_subject", "subject_type", "subject_id", "created_at"),  # a ticket's history
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("member.id", ondelete="SET NULL"))
    action: Mapped[str] = mapped_column(String(64))
    subject_type: Mapped[str] = mapped_column(String(32))
    subject_id: Mapped[int | None]
    subject_label: Mapped[str | None] = mapped_column(String(200))
    details: Mapped[dict | None] = mapped_column(JSON)
    ip: Mapped[str | None] = mapped_column(String(45))
