"""Who may do what: org admins, service roles and channel permissions, and their change log.

Every change goes through `record_change`, in the same transaction as the change itself, so the log
never misses a change and never shows one that did not happen.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timezone

from flask_babel import gettext as _
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import (
    CHANNELS,
    Member,
    MemberStatus,
    Organization,
    Service,
    ServiceMember,
    ServiceRole,
    ServiceStatus,
)
from portal.models.base import utcnow
from portal.models.permission_change import Operation, PermissionChange
from portal.services import Actor, ServiceError
from portal.services.memberships import membership

GENESIS = "0" * 64


# -- the log --------------------------------------------------------------------------------------------------

def _canonical(row: PermissionChange) -> bytes:
    payload = {
        "organization_id": row.organization_id, "seq": row.seq, "created_at": row.created_at.isoformat(),
        "service_id": row.service_id, "service_label": row.service_label, "operation": row.operation.value,
        "target_member_id": row.target_member_id, "target_name": row.target_name, "target_login": row.target_login,
        "actor_id": row.actor_id, "actor_name": row.actor_name, "actor_login": row.actor_login,
        "before": row.before, "after": row.after, "ip": row.ip, "prev_hash": row.prev_hash,
    }
    return json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()


def row_hash(row: PermissionChange) -> str:
    return hashlib.sha256(_canonical(row)).hexdigest()


def record_change(
    actor: Actor, operation: Operation, target: Member, *, service: Service | None = None,
    before: dict | None, after: dict | None, at: datetime | None = None,
) -> PermissionChange:
    """Append one row to the organization's permission change log, chained to the previous row.

    The organization row is locked first (PostgreSQL) and (organization, seq) is unique, so two concurrent
    changes can never both extend the chain from the same row. NO KEY UPDATE: rows that only reference the
    organization (a migration's tickets) are inserted beside it."""
    db.session.flush()  # the change itself is written first (on SQLite this takes the write lock)
    db.session.execute(select(Organization.id).where(Organization.id == actor.organization_id)
                       .with_for_update(key_share=True))
    last = db.session.execute(
        select(PermissionChange.seq, PermissionChange.row_hash)
        .where(PermissionChange.organization_id == actor.organization_id)
        .order_by(PermissionChange.seq.desc()).limit(1)
    ).first()
    acting = db.session.get(Member, actor.member_id) if actor.member_id else None
    row = PermissionChange(
        organization_id=actor.organization_id, seq=(last.seq + 1) if last else 1,
        created_at=(at or utcnow()).astimezone(timezone.utc),  # as it reads back, so the hash re-computes
        service_id=service.id if service else None,
        service_label=f"{service.name} ({service.service_key})" if service else None,
        operation=operation, target_member_id=target.id, target_name=target.name, target_login=target.login_id,
        actor_id=acting.id if acting else None, actor_name=acting.name if acting else None,
        actor_login=acting.login_id if acting else None, before=before, after=after, ip=actor.ip,
        prev_hash=last.row_hash if last else GENESIS,
    )
    row.row_hash = row_hash(row)
    db.session.add(row)
    db.session.flush()
    return row


@dataclass(frozen=True)
class ChainReport:
    organization_id: int
    rows: int
    broken_at_seq: int | None = None
    reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.broken_at_seq is None


def verify_chain(organization_id: int) -> ChainReport:
    """Walk the organization's log in order; report the first row whose hash or link does not hold."""
    expected_prev, expected_seq, count = GENESIS, 1, 0
    rows = db.session.scalars(
        select(PermissionChange).where(PermissionChange.organization_id == organization_id)
        .order_by(PermissionChange.seq).execution_options(yield_per=2000)
    )
    for row in rows:
        count += 1
        if row.seq != expected_seq:
            return ChainReport(organization_id, count, expected_seq, f"row {expected_seq} is missing")
        if row.prev_hash != expected_prev:
            return ChainReport(organization_id, count, row.seq, "does not link to the previous row")
        if row_hash(row) != row.row_hash:
            return ChainReport(organization_id, count, row.seq, "content does not match its hash")
        expected_prev, expected_seq = row.row_hash, expected_seq + 1
    return ChainReport(organization_id, count)


# -- org admins -----------------------------------------------------------------------------------------------

def _same_org(actor: Actor, *objects) -> None:
    for obj in objects:
        if obj.organization_id != actor.organization_id:
            raise ServiceError(_("The member is not part of this organization."), "foreign_member")


def org_admin_count(organization_id: int) -> int:
    return db.session.scalar(select(func.count()).select_from(Member).where(
        Member.organization_id == organization_id, Member.is_org_admin.is_(True),
        Member.status != MemberStatus.disabled))


def grant_org_admin(actor: Actor, member: Member, *, at: datetime | None = None) -> Member:
    _same_org(actor, member)
    if member.is_org_admin:
        raise ServiceError(_("%(name)s is already an org admin.", name=member.name), "already_admin")
    if member.status == MemberStatus.disabled:
        raise ServiceError(_("%(name)s is disabled.", name=member.name), "disabled")
    member.is_org_admin = True
    record_change(actor, Operation.grant_org_admin, member,
                  before={"org_admin": False}, after={"org_admin": True}, at=at)
    return member


def revoke_org_admin(actor: Actor, member: Member, *, confirm_self: bool = False,
                     at: datetime | None = None) -> Member:
    """Never the last org admin; yourself only when confirmed."""
    _same_org(actor, member)
    if not member.is_org_admin:
        raise ServiceError(_("%(name)s is not an org admin.", name=member.name), "not_admin")
    if org_admin_count(actor.organization_id) <= 1:
        raise ServiceError(_("%(name)s is the last org admin. Add another one first.", name=member.name),
                           "last_admin")
    if member.id == actor.member_id and not confirm_self:
        raise ServiceError(_("Confirm that you want to remove your own org admin role."), "confirm_self")
    member.is_org_admin = False
    record_change(actor, Operation.revoke_org_admin, member,
                  before={"org_admin": True}, after={"org_admin": False}, at=at)
    return member


# -- service members ------------------------------------------------------------------------------------------

def _snapshot(link: ServiceMember) -> dict:
    return {"role": link.role.value, **link.permissions}


def _require_changeable(service: Service) -> None:
    if service.status == ServiceStatus.terminated:
        raise ServiceError(_("%(name)s is terminated and can no longer be changed.", name=service.name), "terminated")


def _not_own_role(actor: Actor, member: Member, acting_is_org_admin: bool) -> None:
    if member.id == actor.member_id and not acting_is_org_admin:
        raise ServiceError(_("You cannot change or remove your own role in a service."), "own_role")


def add_service_member(
    actor: Actor, service: Service, member: Member, role: ServiceRole, *, ticket: bool = False,
    chat: bool = False, phone: bool = False, at: datetime | None = None,
) -> ServiceMember:
    _same_org(actor, service, member)
    _require_changeable(service)
    if member.status == MemberStatus.disabled:
        raise ServiceError(_("%(name)s is disabled.", name=member.name), "disabled")
    if membership(member.id, service.id) is not None:
        raise ServiceError(_("%(name)s is already in %(service)s.", name=member.name, service=service.name),
                           "already_member")
    link = ServiceMember(organization_id=service.organization_id, service_id=service.id, member_id=member.id,
                         role=role, can_ticket=ticket, can_chat=chat, can_phone=phone)
    db.session.add(link)
    record_change(actor, Operation.add_service_member, member, service=service,
                  before=None, after=_snapshot(link), at=at)
    return link


def _member_link(service: Service, member: Member) -> ServiceMember:
    """The member's link to the service, or a refusal saying the member is not in it."""
    link = membership(member.id, service.id)
    if link is None:
        raise ServiceError(_("%(name)s is not in %(service)s.", name=member.name, service=service.name), "not_member")
    return link


def remove_service_member(actor: Actor, service: Service, member: Member, *, acting_is_org_admin: bool,
                          at: datetime | None = None) -> None:
    _same_org(actor, service, member)
    _require_changeable(service)
    _not_own_role(actor, member, acting_is_org_admin)
    link = _member_link(service, member)
    before = _snapshot(link)
    db.session.delete(link)
    record_change(actor, Operation.remove_service_member, member, service=service,
                  before=before, after=None, at=at)


def change_role(actor: Actor, service: Service, member: Member, role: ServiceRole, *,
                acting_is_org_admin: bool, at: datetime | None = None) -> ServiceMember:
    _same_org(actor, service, member)
    _require_changeable(service)
    _not_own_role(actor, member, acting_is_org_admin)
    link = _member_link(service, member)
    if link.role == role:
        return link
    before = _snapshot(link)
    link.role = role
    record_change(actor, Operation.change_role, member, service=service,
                  before=before, after=_snapshot(link), at=at)
    return link


def set_channel(actor: Actor, service: Service, member: Member, channel: str, allowed: bool, *,
                at: datetime | None = None) -> ServiceMember:
    """Grant or take away one channel permission (ticket, chat, phone). Setting it to what it is changes nothing."""
    _same_org(actor, service, member)
    _require_changeable(service)
    if channel not in CHANNELS:
        raise ServiceError(_("Unknown channel: %(channel)s.", channel=channel), "bad_channel")
    link = _member_link(service, member)
    if getattr(link, f"can_{channel}") == allowed:
        return link
    before = _snapshot(link)
    setattr(link, f"can_{channel}", allowed)
    record_change(actor, Operation.change_channel, member, service=service,
                  before=before, after=_snapshot(link), at=at)
    return link
