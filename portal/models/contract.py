from __future__ import annotations

from datetime import date

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.extensions import db
from portal.models.base import TenantMixin, TimestampMixin


class Contract(TenantMixin, TimestampMixin, db.Model):
    """One version of a service's contract, in force on the service-local days [effective_from, effective_to).

    Version 1 is the registration (등록); every later version is a modification (수정), at most one per
    service-local day: the partial unique index on (service, effective_from) of versions after the first is that
    rule in the database, so two modifications the same day fail the second insert even when both pass the check.
    A contract registered and modified the same day is in force for no day (effective_to = effective_from).
    """

    __tablename__ = "contract"
    __table_args__ = (
        Index("uq_contract_one_modification_a_day", "service_id", "effective_from", unique=True,
              sqlite_where=text("version > 1"), postgresql_where=text("version > 1")),
        UniqueConstraint("service_id", "version"),
        CheckConstraint("effective_to IS NULL OR effective_to >= effective_from", name="effective_range"),
        CheckConstraint("monthly_total >= 0", name="total_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    service_id: Mapped[int] = mapped_column(ForeignKey("service.id", ondelete="CASCADE"), index=True)
    version: Mapped[int]
    effective_from: Mapped[date]
    effective_to: Mapped[date | None]
    monthly_total: Mapped[int]
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("member.id", ondelete="SET NULL"))

    lines: Mapped[list[ContractLine]] = relationship(
        back_populates="contract", cascade="all, delete-orphan", order_by="ContractLine.position"
    )


class ContractLine(db.Model):
    """A price-list feature as contracted: quantity and the unit price of that day (later price changes
    do not rewrite history)."""

    __tablename__ = "contract_line"
    __table_args__ = (
        UniqueConstraint("contract_id", "feature_key"),
        CheckConstraint("quantity >= 0", name="quantity_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    contract_id: Mapped[int] = mapped_column(ForeignKey("contract.id", ondelete="CASCADE"), index=True)
    position: Mapped[int]
    feature_key: Mapped[str] = mapped_column(String(64))
    quantity: Mapped[int]
    unit_price: Mapped[int]
    amount: Mapped[int]

    contract: Mapped[Contract] = relationship(back_populates="lines")
