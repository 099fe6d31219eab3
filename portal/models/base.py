"""Column types and mixins shared by every model."""
from __future__ import annotations

from datetime import datetime, timezone

import enum

from sqlalchemy import DateTime, Enum, ForeignKey, types
from sqlalchemy.orm import Mapped, declared_attr, mapped_column


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class UTCDateTime(types.TypeDecorator):
    """Stored as naive UTC everywhere (SQLite has no time zones); always read back aware."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; pass an aware one")
        return value.astimezone(timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc)


def str_enum(cls: type[enum.Enum], name: str, length: int = 16) -> Enum:
    """An enum stored as its values in a VARCHAR with a CHECK constraint: portable to SQLite and PostgreSQL."""
    return Enum(
        cls, native_enum=False, create_constraint=True, length=length, name=name,
        values_callable=lambda members: [m.value for m in members],
    )


class TimestampMixin:
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class TenantMixin:
    """Every tenant table carries its organization; `portal.tenancy` scopes queries by it."""

    @declared_attr
    def organization_id(cls) -> Mapped[int]:
        return mapped_column(ForeignKey("organization.id", ondelete="CASCADE"), index=True)
