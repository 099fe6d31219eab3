"""Automatic assignment's jobs: a switch turned off "until" comes back on, a service's waiting queue drains in
chunks, and a minute sweep does both for whatever Redis lost (the database says what is due)."""
from jobs import job
from portal.extensions import db
from portal.services import assignment
from portal.services.jobs import Every


@job("assignment.back_on", queue="scheduled", timeout=300, tracked=False)
def back_on(member_id: int) -> list[int]:
    return assignment.back_on_due(member_id=member_id)


@job("assignment.drain", queue="default", timeout=1800, tracked=False)
def drain(service_id: int) -> int:
    return _drain(service_id)


def _drain(service_id: int) -> int:
    """Chunk by chunk, each committed: agents see their tickets while the rest of a large queue drains."""
    total = 0
    while given := assignment.drain(service_id):
        db.session.commit()
        total += given
    return total


@job("assignment.sweep", queue="scheduled", timeout=300, tracked=False, schedule=Every(minutes=1),
     title="assignment sweep")
def sweep() -> dict:
    switched_on = assignment.back_on_due()
    db.session.commit()
    drained = {}
    for service_id in assignment.services_with_waiting():
        drained[service_id] = _drain(service_id)
    return {"switched_on": switched_on, "drained": drained}
