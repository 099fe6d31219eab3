"""The activity trail. Every change to services, contracts, status and keys calls `record` in the same
transaction as the change, so a change is never without its trace (and a failed one leaves none)."""
from __future__ import annotations

from typing import Any

from portal.extensions import db
from portal.models import Activity


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
