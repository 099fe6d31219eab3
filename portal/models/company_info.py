from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from portal.extensions import db
from portal.models.base import TenantMixin, TimestampMixin, UTCDateTime, utcnow


class CompanyInfo(TenantMixin, TimestampMixin, db.Model):
    """Company details shown in help-center footers, with terms of use and privacy policy.

    The Markdown is kept as written; `*_html` is its rendering after sanitizing, made on save."""

    __tablename__ = "company_info"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(100))
    language: Mapped[str] = mapped_column(String(16))
    company_name: Mapped[str] = mapped_column(String(100))
    representative: Mapped[str | None] = mapped_column(String(100))
    address: Mapped[str | None] = mapped_column(String(300))
    business_number: Mapped[str | None] = mapped_column(String(32))
    phone: Mapped[str | None] = mapped_column(String(32))
    email: Mapped[str | None] = mapped_column(String(254))
    trademark: Mapped[str | None] = mapped_column(String(300))
    terms_md: Mapped[str | None] = mapped_column(Text)
    terms_html: Mapped[str | None] = mapped_column(Text)
    privacy_md: Mapped[str | None] = mapped_column(Text)
    privacy_html: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class HelpCenterFooter(TenantMixin, db.Model):
    """Which company info a service's help center shows in its footer, per help-center language."""

    __tablename__ = "help_center_footer"
    __table_args__ = (UniqueConstraint("service_id", "language"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    service_id: Mapped[int] = mapped_column(ForeignKey("service.id", ondelete="CASCADE"), index=True)
    language: Mapped[str] = mapped_column(String(16))
    company_info_id: Mapped[int] = mapped_column(ForeignKey("company_info.id", ondelete="RESTRICT"), index=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
