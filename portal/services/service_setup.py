"""Creating services and placing members in them (the first cut; the wizard and contracts build on it)."""
from __future__ import annotations

import re

from flask_babel import gettext as _
from sqlalchemy import select

from portal.extensions import db
from portal.models import (
    EditorType,
    Member,
    Service,
    ServiceLanguage,
    ServiceMember,
    ServiceRole,
    ServiceStatus,
    ServiceType,
)
from portal.services import ServiceError

SERVICE_KEY_RE = re.compile(r"^[A-Za-z]{1,40}$")


def create_service(
    organization_id: int,
    *,
    service_key: str,
    name: str,
    type: ServiceType,
    languages: list[str],
    default_language: str,
    time_zone: str = "Asia/Seoul",
    editor_type: EditorType = EditorType.html,
    status: ServiceStatus = ServiceStatus.draft,
) -> Service:
    """A service ID is ASCII letters only and unique in the organization."""
    if not SERVICE_KEY_RE.match(service_key):
        raise ServiceError(_("A service ID is 1–40 ASCII letters (A–Z, a–z)."), "bad_service_key")
    taken = db.session.scalars(
        select(Service.id).where(Service.organization_id == organization_id, Service.service_key == service_key)
    ).first()
    if taken is not None:
        raise ServiceError(_("The service ID %(key)s is already used.", key=service_key), "service_key_taken")
    if default_language not in languages:
        raise ServiceError(_("Choose the default language among the service's languages."), "bad_default_language")
    service = Service(
        organization_id=organization_id,
        service_key=service_key,
        name=name.strip(),
        type=type,
        time_zone=time_zone,
        editor_type=editor_type,
        status=status,
        languages=[ServiceLanguage(code=code, is_default=code == default_language) for code in dict.fromkeys(languages)],
    )
    db.session.add(service)
    db.session.flush()
    return service


def place_member(
    service: Service, member: Member, role: ServiceRole, *, ticket: bool = False, chat: bool = False,
    phone: bool = False,
) -> ServiceMember:
    if member.organization_id != service.organization_id:
        raise ServiceError(_("The member is not part of this organization."), "foreign_member")
    link = ServiceMember(
        organization_id=service.organization_id,
        service_id=service.id,
        member_id=member.id,
        role=role,
        can_ticket=ticket,
        can_chat=chat,
        can_phone=phone,
    )
    db.session.add(link)
    db.session.flush()
    return link


def services_of(member: Member, *, usable_only: bool = True) -> list[Service]:
    """The services a member works in, by name; suspended and terminated ones are left out by default."""
    query = (
        select(Service)
        .join(ServiceMember, ServiceMember.service_id == Service.id)
        .where(ServiceMember.member_id == member.id, Service.organization_id == member.organization_id)
        .order_by(Service.name)
    )
    if usable_only:
        query = query.where(Service.status == ServiceStatus.active)
    return list(db.session.scalars(query))
