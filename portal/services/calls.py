"""Calls of a service after the telephony reported them: marking a missed inbound call as called back."""
from __future__ import annotations

from datetime import datetime

from flask_babel import gettext as _
from sqlalchemy import update

from portal.extensions import db
from portal.models import Call, Service
from portal.models.base import utcnow
from portal.services import Actor, ServiceError, activity


def mark_called_back(actor: Actor, service: Service, call_id: int, now: datetime | None = None) -> Call:
    """A missed inbound call of the service (abandoned, not yet called back) is marked called back, by whom and
    when, and the mark is on the activity trail. The first mark stays: of two at once one wins, the other (and
    any call that is not a missed one) is refused."""
    now = now or utcnow()
    marked = db.session.execute(
        update(Call).where(Call.id == call_id, Call.service_id == service.id, Call.direction == "IB",
                           Call.outcome == "abandoned", Call.called_back_at.is_(None))
        .values(called_back_at=now, called_back_by_id=actor.member_id)
        .execution_options(synchronize_session=False)
    ).rowcount
    if not marked:
        raise ServiceError(_("This call was already handled or is not a missed call."), "not_missed")
    call = db.session.get(Call, call_id, populate_existing=True)
    activity.record(actor.organization_id, actor.member_id, "call.called_back", subject_type="call",
                    subject_id=call.id, subject_label=call.counterpart,
                    details={"service": service.service_key, "call_id": call.call_id,
                             "started_at": call.started_at.isoformat()}, ip=actor.ip)
    return call
