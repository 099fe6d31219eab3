"""Provisioning organizations (the platform operator's path: there is no self-sign-up)."""
from __future__ import annotations

import re
from dataclasses import dataclass

from flask_babel import gettext as _
from sqlalchemy import select

from portal.extensions import db
from portal.models import Member, Organization
from portal.services import ServiceError
from portal.services.accounts import create_invitation, create_member, normalise_login_id

DOMAIN_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")


def validate_domain(domain: str, *, exclude_org_id: int | None = None) -> str:
    """Lowercase letters, digits and hyphens (not at either end), at most 63, unique on the platform."""
    domain = domain.strip().lower()
    if not DOMAIN_RE.match(domain):
        raise ServiceError(
            _("A domain is 1–63 lowercase letters, digits or hyphens, not starting or ending with a hyphen."),
            "bad_domain",
        )
    query = select(Organization.id).where(Organization.domain == domain)
    if exclude_org_id is not None:
        query = query.where(Organization.id != exclude_org_id)
    if db.session.scalars(query).first() is not None:
        raise ServiceError(_("The domain %(domain)s is already taken.", domain=domain), "domain_taken")
    return domain


@dataclass
class Provisioned:
    organization: Organization
    admin: Member
    created: bool
    invitation_token: str | None = None


def provision_organization(
    *, name: str, domain: str, admin_login: str, admin_email: str, admin_name: str | None = None,
    password: str | None = None,
) -> Provisioned:
    """Create an organization with its first org admin. Idempotent: an existing organization with that
    domain and admin is returned unchanged; the same domain with another admin is refused."""
    existing = db.session.scalars(select(Organization).where(Organization.domain == domain.strip().lower())).first()
    if existing is not None:
        admin = db.session.scalars(
            select(Member).where(
                Member.organization_id == existing.id, Member.login_id == normalise_login_id(admin_login)
            )
        ).first()
        if admin is None or not admin.is_org_admin:
            raise ServiceError(_("The domain %(domain)s is already taken.", domain=existing.domain), "domain_taken")
        return Provisioned(existing, admin, created=False)

    if not name.strip():
        raise ServiceError(_("Enter the organization name."), "bad_name")
    org = Organization(name=name.strip(), domain=validate_domain(domain))
    db.session.add(org)
    db.session.flush()
    admin = create_member(
        org.id,
        login_id=admin_login,
        name=admin_name or admin_login,
        email=admin_email,
        password=password,
        is_org_admin=True,
    )
    token = None if password is not None else create_invitation(admin)
    return Provisioned(org, admin, created=True, invitation_token=token)
