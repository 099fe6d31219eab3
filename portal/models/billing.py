from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import ForeignKey, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from portal.extensions import db
from portal.models.base import TenantMixin, UTCDateTime, utcnow


class MonthlyCharge(TenantMixin, db.Model):
    """A closed month's charge for one service, materialized once (unique per service and month)."""

    __tablename__ = "monthly_charge"
    __table_args__ = (UniqueConstraint("service_id", "month"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    service_id: Mapped[int] = mapped_column(ForeignKey("service.id", ondelete="CASCADE"), index=True)
    month: Mapped[date]  # the first day of the month
    amount: Mapped[int]
    billed_days: Mapped[int]
    closed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
