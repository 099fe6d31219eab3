from __future__ import annotations

import enum
from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy import true as sa_true
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.extensions import db
from portal.models.base import TenantMixin, TimestampMixin, UTCDateTime, str_enum
from portal.models.organization import Organization


class MemberStatus(str, enum.Enum):
    invited = "invited"
    active = "active"
    disabled = "disabled"


class Member(UserMixin, TenantMixin, TimestampMixin, db.Model):
    """A person of one organization (an IAM member). Login IDs are unique within the organization."""

    __tablename__ = "member"
    __table_args__ = (
        UniqueConstraint("organization_id", "login_id"),
        UniqueConstraint("organization_id", "email"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    login_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(100))
    email: Mapped[str] = mapped_column(String(254))
    phone: Mapped[str | None] = mapped_column(String(32))
    password_hash: Mapped[str | None] = mapped_column(String(255))
    ui_language: Mapped[str | None] = mapped_column(String(8))
    status: Mapped[MemberStatus] = mapped_column(
        str_enum(MemberStatus, "member_status"),
        default=MemberStatus.invited,
    )
    is_org_admin: Mapped[bool] = mapped_column(default=False)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # last request (at most a minute old)
    # When the latest telephony event applied to the member's phone state happened: an older one is late
    # (cti_events), even when the latest left no interval behind (a log-out of an agent already offline).
    last_cti_event_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The assignment switch (SPEC personal settings, 할당): off, the member gets no ticket automatically. Off "until"
    # turns back on by itself (services.assignment); the note says why, and `assignment_by_id` who switched it
    # when it was not the member (a manager or an org admin, whose reason is the note).
    assignment_on: Mapped[bool] = mapped_column(default=True, server_default=sa_true())
    assignment_off_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    assignment_note: Mapped[str | None] = mapped_column(String(200))
    assignment_by_id: Mapped[int | None] = mapped_column(ForeignKey("member.id", ondelete="SET NULL",
                                                                    name="fk_member_assignment_by"))
    assignment_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Stamped into every session at log-in; raising it ends every session stamped before (services.accounts).
    session_generation: Mapped[int] = mapped_column(default=0, server_default="0")

    organization: Mapped[Organization] = relationship()
    assignment_by: Mapped[Member | None] = relationship(remote_side="Member.id", foreign_keys=[assignment_by_id])

    @property
    def is_active(self) -> bool:  # Flask-Login: only active members keep a session
        return self.status == MemberStatus.active

    def get_id(self) -> str:  # Flask-Login keeps this in the session (and a remember cookie): id and generation
        return f"{self.id}.{self.session_generation}"

    def __repr__(self) -> str:
        return f"<Member {self.login_id}>"


class Invitation(TenantMixin, TimestampMixin, db.Model):
    """A single-use, expiring link that lets an invited member set a password. Only its hash is kept."""

    __tablename__ = "invitation"

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("member.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    member: Mapped[Member] = relationship()
