from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from portal.extensions import db
from portal.models.base import TenantMixin, UTCDateTime, utcnow


class IdempotentRequest(TenantMixin, db.Model):
    """The answer to an API POST sent with an Idempotency-Key, kept so a repeat gets the same answer and
    changes nothing again. Unique per organization and key; written in the same transaction as the change."""

    __tablename__ = "idempotent_request"
    __table_args__ = (UniqueConstraint("organization_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(100))
    fingerprint: Mapped[str] = mapped_column(String(64))  # method, path and body of the first request
    status_code: Mapped[int]
    body: Mapped[str] = mapped_column(Text)
    location: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
