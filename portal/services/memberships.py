"""The membership of a member in a service (the one query every layer asks)."""
from __future__ import annotations

from sqlalchemy import select

from portal.extensions import db
from portal.models import ServiceMember


def membership(member_id: int, service_id: int) -> ServiceMember | None:
    """The member's link to the service (role, permissions), or None when the member is not in it."""
    return db.session.scalars(select(ServiceMember).where(
        ServiceMember.member_id == member_id, ServiceMember.service_id == service_id)).first()
