"""Bulk data for benchmarks: millions of permission log rows, chained exactly like real ones."""
from __future__ import annotations

import random
from datetime import timedelta
from typing import Callable

from sqlalchemy import insert, select

from portal.extensions import db
from portal.models import Member, Operation, Organization, PermissionChange, Service
from portal.models.base import utcnow
from portal.services.permissions import GENESIS, row_hash

BATCH = 5000


def fill_permission_log(domain: str, rows: int, progress: Callable[[int], None] | None = None) -> int:
    """Append `rows` log rows to the organization's chain, spread over the past year (oldest first)."""
    org = db.session.scalars(select(Organization).where(Organization.domain == domain)).one()
    members = list(db.session.scalars(select(Member).where(Member.organization_id == org.id)))
    services = list(db.session.scalars(select(Service).where(Service.organization_id == org.id)))
    if len(members) < 2 or not services:
        raise ValueError("seed the demo data first")
    last = db.session.execute(
        select(PermissionChange.seq, PermissionChange.row_hash, PermissionChange.created_at)
        .where(PermissionChange.organization_id == org.id).order_by(PermissionChange.seq.desc()).limit(1)
    ).first()
    seq, prev = (last.seq, last.row_hash) if last else (0, GENESIS)
    rng = random.Random(42)
    # Spread over the past year whatever the last row's time: the chain follows seq, not time.
    start = utcnow() - timedelta(days=365)
    step = (utcnow() - start) / max(rows, 1)
    channel_ops = [Operation.change_channel] * 6 + [Operation.change_role, Operation.add_service_member,
                                                     Operation.remove_service_member]
    table = PermissionChange.__table__
    batch = []
    for i in range(rows):
        seq += 1
        target, actor = rng.sample(members, 2)
        op = rng.choice(channel_ops) if rng.random() > 0.02 else rng.choice(
            [Operation.grant_org_admin, Operation.revoke_org_admin])
        service = None if op in (Operation.grant_org_admin, Operation.revoke_org_admin) else rng.choice(services)
        before, after = _snapshots(op, rng)
        row = PermissionChange(
            organization_id=org.id, seq=seq, created_at=start + step * i, service_id=service.id if service else None,
            service_label=f"{service.name} ({service.service_key})" if service else None, operation=op,
            target_member_id=target.id, target_name=target.name, target_login=target.login_id,
            actor_id=actor.id, actor_name=actor.name, actor_login=actor.login_id, before=before, after=after,
            ip="10.0.0.1", prev_hash=prev)
        row.row_hash = prev = row_hash(row)
        batch.append({c.key: getattr(row, c.key) for c in table.columns if c.key != "id"})
        if len(batch) == BATCH:
            db.session.execute(insert(table), batch)
            db.session.commit()
            batch.clear()
            if progress and (i + 1) % 100_000 == 0:
                progress(i + 1)
    if batch:
        db.session.execute(insert(table), batch)
        db.session.commit()
    return rows


def _snapshots(op: Operation, rng: random.Random) -> tuple[dict | None, dict | None]:
    if op == Operation.grant_org_admin:
        return {"org_admin": False}, {"org_admin": True}
    if op == Operation.revoke_org_admin:
        return {"org_admin": True}, {"org_admin": False}
    state = {"role": rng.choice(["agent", "manager"]), "ticket": True, "chat": rng.random() > 0.5,
             "phone": rng.random() > 0.5}
    if op == Operation.add_service_member:
        return None, state
    if op == Operation.remove_service_member:
        return state, None
    changed = dict(state)
    if op == Operation.change_role:
        changed["role"] = "manager" if state["role"] == "agent" else "agent"
    else:
        key = rng.choice(["ticket", "chat", "phone"])
        changed[key] = not state[key]
    return state, changed
