from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, UniqueConstraint, text
from sqlalchemy import false as sa_false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.extensions import db
from portal.models.base import TenantMixin, TimestampMixin, UTCDateTime, str_enum
from portal.models.member import Member


class ServiceType(str, enum.Enum):
    counseling = "counseling"
    issue = "issue"


class ServiceStatus(str, enum.Enum):
    draft = "draft"
    active = "active"
    suspended = "suspended"
    terminated = "terminated"


class EditorType(str, enum.Enum):
    html = "HTML"
    text = "TEXT"


class ServiceRole(str, enum.Enum):
    manager = "manager"
    agent = "agent"


class AssignMode(str, enum.Enum):
    round_robin = "round_robin"  # the eligible agent assigned least recently
    least_loaded = "least_loaded"  # the eligible agent with the fewest tickets in progress


CHANNELS = ("ticket", "chat", "phone")


class Service(TenantMixin, TimestampMixin, db.Model):
    """A contracted service. `service_key` is the service ID of the guide: letters only, part of URLs, immutable."""

    __tablename__ = "service"
    __table_args__ = (
        UniqueConstraint("organization_id", "service_key"),
        # GLOB is SQLite-only, so the letters-only rule is enforced by length here and by the form.
        CheckConstraint("length(service_key) between 1 and 40", name="service_key_length"),
        CheckConstraint("ticket_capacity between 1 and 999", name="ticket_capacity"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    service_key: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(100))
    type: Mapped[ServiceType] = mapped_column(str_enum(ServiceType, "service_type"))
    status: Mapped[ServiceStatus] = mapped_column(str_enum(ServiceStatus, "service_status"), default=ServiceStatus.draft)
    time_zone: Mapped[str] = mapped_column(String(64), default="Asia/Seoul")
    editor_type: Mapped[EditorType] = mapped_column(str_enum(EditorType, "editor_type"), default=EditorType.html)
    terminated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The service-local day of termination: billing stops that day, whatever later time-zone edits say.
    terminated_on: Mapped[date | None]
    banner_file_id: Mapped[int | None] = mapped_column(ForeignKey("stored_file.id", ondelete="SET NULL"))
    # Bumped by every basic-info edit, so a stale form re-submitted is noticed instead of overwriting.
    revision: Mapped[int] = mapped_column(default=1, server_default="1")
    # The last ticket number given out (tickets.reserve_numbers): one counter row, so concurrent calls and
    # migrations never hand out a number twice.
    ticket_seq: Mapped[int] = mapped_column(default=0, server_default="0")
    # Automatic assignment (services.assignment): on for new services, off for those made before it existed.
    auto_assign: Mapped[bool] = mapped_column(default=True, server_default=sa_false())
    assign_mode: Mapped[AssignMode] = mapped_column(str_enum(AssignMode, "assign_mode"), default=AssignMode.round_robin,
                                                    server_default=AssignMode.round_robin.value)
    # Tickets in progress an agent may hold before automatic assignment passes them by (per-agent override on
    # ServiceMember).
    ticket_capacity: Mapped[int] = mapped_column(default=10, server_default="10")

    languages: Mapped[list[ServiceLanguage]] = relationship(
        back_populates="service", cascade="all, delete-orphan", order_by="ServiceLanguage.code"
    )

    @property
    def default_language(self) -> str | None:
        return next((lang.code for lang in self.languages if lang.is_default), None)

    @property
    def is_usable(self) -> bool:
        """Agents and the help center may use only an active service (suspended ones are still billed)."""
        return self.status == ServiceStatus.active

    def __repr__(self) -> str:
        return f"<Service {self.service_key}>"


class ServiceLanguage(db.Model):
    """A help-center language of a service; exactly one per service is the default."""

    __tablename__ = "service_language"
    __table_args__ = (
        UniqueConstraint("service_id", "code"),
        # At most one default per service, in the database (partial unique index, SQLite and PostgreSQL).
        Index(
            "uq_service_language_one_default",
            "service_id",
            unique=True,
            sqlite_where=text("is_default"),
            postgresql_where=text("is_default"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    service_id: Mapped[int] = mapped_column(ForeignKey("service.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(String(16))
    is_default: Mapped[bool] = mapped_column(default=False)

    service: Mapped[Service] = relationship(back_populates="languages")


class ServiceMember(TenantMixin, TimestampMixin, db.Model):
    """A member's role and channel permissions in one service."""

    __tablename__ = "service_member"
    __table_args__ = (
        UniqueConstraint("service_id", "member_id"),
        CheckConstraint("ticket_capacity IS NULL OR ticket_capacity between 1 and 999",
                        name="ticket_capacity"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    service_id: Mapped[int] = mapped_column(ForeignKey("service.id", ondelete="CASCADE"), index=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("member.id", ondelete="CASCADE"), index=True)
    role: Mapped[ServiceRole] = mapped_column(str_enum(ServiceRole, "service_role"), default=ServiceRole.agent)
    can_ticket: Mapped[bool] = mapped_column(default=False)
    can_chat: Mapped[bool] = mapped_column(default=False)
    can_phone: Mapped[bool] = mapped_column(default=False)
    ticket_capacity: Mapped[int | None]  # None: the service's capacity
    last_assigned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # round-robin's order

    service: Mapped[Service] = relationship()
    member: Mapped[Member] = relationship()

    @property
    def permissions(self) -> dict[str, bool]:
        return {channel: getattr(self, f"can_{channel}") for channel in CHANNELS}
