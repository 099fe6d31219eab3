from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from portal.extensions import db
from portal.models.base import TenantMixin, UTCDateTime, str_enum, utcnow


class Operation(str, enum.Enum):
    grant_org_admin = "grant_org_admin"
    revoke_org_admin = "revoke_org_admin"
    add_service_member = "add_service_member"
    remove_service_member = "remove_service_member"
    change_role = "change_role"
    change_channel = "change_channel"


class PermissionChange(TenantMixin, db.Model):
    """One change of an org-admin flag, service role or channel permission. Append-only and chained:
    `row_hash` covers the row and the previous row's hash of the same organization (`seq` order), so an
    edited or deleted row breaks the chain (`flask audit verify`). Names are snapshots: the log keeps
    saying who it was even after a member is renamed."""

    __tablename__ = "permission_change"
    __table_args__ = (
        UniqueConstraint("organization_id", "seq"),
        # Keyset pagination runs newest first on (created_at, id) under each filter.
        Index("ix_permission_change_org_time", "organization_id", "created_at", "id"),
        Index("ix_permission_change_org_op_time", "organization_id", "operation", "created_at", "id"),
        Index("ix_permission_change_org_target_time", "organization_id", "target_member_id", "created_at", "id"),
        Index("ix_permission_change_org_actor_time", "organization_id", "actor_id", "created_at", "id"),
        Index("ix_permission_change_org_service_time", "organization_id", "service_id", "created_at", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    seq: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    service_id: Mapped[int | None] = mapped_column(ForeignKey("service.id", ondelete="SET NULL"))
    service_label: Mapped[str | None] = mapped_column(String(160))
    operation: Mapped[Operation] = mapped_column(str_enum(Operation, "permission_operation", length=32))
    target_member_id: Mapped[int | None] = mapped_column(ForeignKey("member.id", ondelete="SET NULL"))
    target_name: Mapped[str] = mapped_column(String(100))
    target_login: Mapped[str] = mapped_column(String(64))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("member.id", ondelete="SET NULL"))
    actor_name: Mapped[str | None] = mapped_column(String(100))
    actor_login: Mapped[str | None] = mapped_column(String(64))
    before: Mapped[dict | None] = mapped_column(JSON)
    after: Mapped[dict | None] = mapped_column(JSON)
    ip: Mapped[str | None] = mapped_column(String(45))
    prev_hash: Mapped[str] = mapped_column(String(64))
    row_hash: Mapped[str] = mapped_column(String(64))
