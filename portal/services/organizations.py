"""Provisioning organizations (the platform operator's path: there is no self-sign-up)."""
from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask_babel import gettext as _
from sqlalchemy import select, update

from portal.extensions import db
from portal.models import Member, Organization
from portal.models.base import utcnow
from portal.services import ServiceError, activity, whole_number
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


API_KEY_PREFIX = "oc_"


def hash_api_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def masked_api_key(org: Organization) -> str | None:
    return f"{org.api_key_hint}{'•' * 12}" if org.api_key_hint else None


IDLE_TIMEOUT_MINUTES = (5, 480)


def update_organization(actor, org: Organization, *, name: str, domain: str,
                        idle_timeout: str | int | None = None) -> Organization:
    """Name and domain (lowercase letters, digits, hyphens; unique on the platform; the OC URL follows the
    domain), and how long agents may be idle before they go offline in chat."""
    name = (name or "").strip()
    if not name:
        raise ServiceError(_("Enter the organization name."), "bad_name")
    if len(name) > 100:
        raise ServiceError(_("The organization name is at most 100 characters."), "bad_name")
    domain = validate_domain(domain, exclude_org_id=org.id)
    minutes = org.idle_timeout_minutes
    if idle_timeout is not None:
        minutes = whole_number(idle_timeout, *IDLE_TIMEOUT_MINUTES)
        if minutes is None:
            raise ServiceError(_("The idle timeout is %(low)d to %(high)d minutes.", low=IDLE_TIMEOUT_MINUTES[0],
                                 high=IDLE_TIMEOUT_MINUTES[1]), "bad_idle_timeout")
    changed = {k: {"from": old, "to": new} for k, old, new in
               (("name", org.name, name), ("domain", org.domain, domain),
                ("idle_timeout_minutes", org.idle_timeout_minutes, minutes)) if old != new}
    org.name, org.domain, org.idle_timeout_minutes = name, domain, minutes
    db.session.flush()
    if changed:
        activity.record(org.id, actor.member_id, "organization.updated", subject_type="organization",
                        subject_id=org.id, subject_label=org.name, details=changed, ip=actor.ip)
    return org


GRACE_HOURS = (0, 1, 6, 24)  # what the rotation dialog offers; at most a day


def rotate_api_key(actor, org: Organization, grace_hours: int = 0) -> str:
    """Issue a new organization API key and return it (the only time it is seen in full). Only its hash is
    kept. The old key stops working at once, or after `grace_hours` (at most 24) so integrations can switch
    without downtime; a rotation without grace also ends any earlier grace."""
    if grace_hours not in GRACE_HOURS:
        raise ServiceError(_("Choose when the old key stops working: at once or after 1, 6 or 24 hours."),
                           "bad_grace")
    now = utcnow()
    key = API_KEY_PREFIX + secrets.token_urlsafe(32)
    if grace_hours and org.api_key_hash:
        org.api_key_previous_hash, org.api_key_previous_until = org.api_key_hash, now + timedelta(hours=grace_hours)
    else:
        org.api_key_previous_hash, org.api_key_previous_until = None, None
    org.api_key_hash = hash_api_key(key)
    org.api_key_hint = key[:8]
    org.api_key_rotated_at = now
    org.api_key_last_used_at = None
    db.session.flush()
    activity.record(org.id, actor.member_id, "organization.api_key_rotated", subject_type="organization",
                    subject_id=org.id, subject_label=org.name,
                    details={"hint": org.api_key_hint, "old_key_until": org.api_key_previous_until.isoformat()
                             if org.api_key_previous_until else None}, ip=actor.ip)
    return key


LAST_USED_EVERY = timedelta(seconds=60)


def organization_for_api_key(key: str, now: datetime | None = None) -> Organization | None:
    """The organization whose current key this is, or whose previous key it is while its grace lasts
    (compared by hash, in constant time). Records when the key was last used (at most once a minute), with the
    request's changes."""
    if not key or not key.startswith(API_KEY_PREFIX):
        return None
    now = now or utcnow()
    digest = hash_api_key(key)
    org = db.session.scalars(select(Organization).where(
        (Organization.api_key_hash == digest) | (Organization.api_key_previous_hash == digest))).first()
    if org is None:
        return None
    current = bool(org.api_key_hash) and hmac.compare_digest(org.api_key_hash, digest)
    previous = (bool(org.api_key_previous_hash) and hmac.compare_digest(org.api_key_previous_hash, digest)
                and org.api_key_previous_until is not None and now < org.api_key_previous_until)
    if not (current or previous):
        return None
    if org.api_key_last_used_at is None or now - org.api_key_last_used_at >= LAST_USED_EVERY:
        db.session.execute(update(Organization).where(Organization.id == org.id).values(api_key_last_used_at=now))
    return org
