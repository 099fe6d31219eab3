from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy import CheckConstraint, String
from sqlalchemy.orm import Mapped, mapped_column

from portal.extensions import db
from portal.models.base import TimestampMixin, UTCDateTime

DOMAIN_PATTERN = r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$"


def new_public_id() -> str:
    return "ORG" + secrets.token_hex(6).upper()


class Organization(TimestampMixin, db.Model):
    """A tenant. `public_id` is the opaque organization ID shown to people and integrations."""

    __tablename__ = "organization"
    __table_args__ = (CheckConstraint("length(domain) between 1 and 63", name="domain_length"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True, default=new_public_id)
    name: Mapped[str] = mapped_column(String(100))
    domain: Mapped[str] = mapped_column(String(63), unique=True)
    api_key_hash: Mapped[str | None] = mapped_column(String(128))
    api_key_hint: Mapped[str | None] = mapped_column(String(16))  # the first characters, to show it masked
    api_key_rotated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    api_key_last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # After a rotation with a grace period the previous key keeps working until then.
    api_key_previous_hash: Mapped[str | None] = mapped_column(String(128))
    api_key_previous_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Set by the platform operator once the organization is approved for IPCC (Private) CTI.
    ipcc_approved: Mapped[bool] = mapped_column(default=False, server_default="0")
    # Agents without activity for this long go offline in chat (reason "idle").
    idle_timeout_minutes: Mapped[int] = mapped_column(default=30, server_default="30")

    def oc_url(self, base_domain: str) -> str:
        return f"https://{self.domain}.{base_domain}"

    def __repr__(self) -> str:
        return f"<Organization {self.domain}>"
