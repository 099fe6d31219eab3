"""The activity trail. Every change to services, contracts, status and keys calls `record` in the same
transaction as the change, so a change is never without its trace (and a failed one leaves none)."""
from __future__ import annotations

from typing import Any

from sqlalchemy import Update, insert, literal, select

from portal.extensions import db
from portal.models import Activity
from portal.models.base import utcnow


def record(
    organization_id: int,
    actor_id: int | None,
    action: str,
    *,
    subject_type: str,
    subject_id: int | None = None,
    subject_label: str | None = None,
    details: dict[str, Any] | None = None,
    ip: str | None = None,
) -> Activity:
    entry = Activity(
        organization_id=organization_id, actor_id=actor_id, action=action, subject_type=subject_type,
        subject_id=subject_id, subject_label=(subject_label or "")[:200] or None, details=details, ip=ip,
    )
    db.session.add(entry)
    return entry


def record_if_changed(change: Update, organization_id: int, actor_id: int | None, action: str, *, subject_type: str,
                      subject_id: int | None = None, subject_label: str | None = None,
                      details: dict[str, Any] | None = None, ip: str | None = None) -> int:
    """Run `change` (a conditional UPDATE of one row, built on the table) and write the trail row only if it
    changed something; returns the rows changed. PostgreSQL does both in one statement (the UPDATE in a CTE, the
    INSERT from what it returned): one round trip instead of two, and no ORM flush either way."""
    table = Activity.__table__
    values = {"organization_id": organization_id, "actor_id": actor_id, "action": action,
              "subject_type": subject_type, "subject_id": subject_id,
              "subject_label": (subject_label or "")[:200] or None, "details": details, "ip": ip,
              "created_at": utcnow()}
    if db.session.get_bind().dialect.name == "postgresql":
        changed = change.returning(literal(1).label("one")).cte("changed")
        row = select(*(literal(value, type_=table.c[name].type) for name, value in values.items()))
        return len(db.session.execute(insert(table).from_select(list(values), row.select_from(changed))
                                      .returning(table.c.id)).all())
    changed = db.session.execute(change).rowcount
    if changed:
        db.session.execute(insert(table).values(values))
    return changed
