"""Migration jobs: check an uploaded file, apply a reserved batch, and the sweep that catches up."""
from __future__ import annotations

import logging
from datetime import timedelta

from jobs import _app_context, tracked_job
from portal.extensions import db
from portal.models import BatchStatus
from portal.models.base import utcnow
from portal.services import jobs as job_runs
from portal.services import migration

log = logging.getLogger("jobs.migration")
SWEEP_EVERY = timedelta(minutes=10)


@tracked_job
def check_batch(run, batch_id: int) -> str | None:
    batch = migration.check(batch_id)
    db.session.commit()
    state = batch.status.value if batch else None
    job_runs.finish(run, result={"batch": batch_id, "status": state}, message=state)
    return state


@tracked_job
def apply_batch(run, batch_id: int) -> str | None:
    state = apply_and_notify(batch_id)
    job_runs.finish(run, result={"batch": batch_id, "status": state}, message=state or "nothing to do")
    return state


def apply_and_notify(batch_id: int, now=None, force: bool = False) -> str | None:
    """Apply one batch if it is due, then mail the uploader the outcome."""
    from portal.services.mail import send_mail

    batch = migration.apply(batch_id, now, force=force)
    if batch is None:
        return None
    if batch.status in (BatchStatus.completed, BatchStatus.failed):
        mail = migration.result_mail(batch)  # in the uploader's UI language
        if mail:
            try:
                send_mail(*mail)
            except Exception:  # the result is in the batch row; a mail failure must not undo it
                log.exception("result mail for batch %s failed", batch_id)
    return batch.status.value


def sweep() -> dict:
    """Apply every due reserved batch (so a lost scheduled job cannot strand one), restart checks whose
    worker died, and schedule the next sweep."""
    with _app_context():
        try:
            return sweep_now()
        finally:
            schedule_sweep()  # even when this sweep failed: one exception must not stop the sweeps for good


def sweep_now(now=None, force: bool = False) -> dict:
    from portal.services.jobs import start_job

    applied = [apply_and_notify(batch_id, now, force) for batch_id in migration.due_batches(now, force=force)]
    restarted = []
    for batch_id in migration.stale_checks(now):
        batch = db.session.get(migration.MigrationBatch, batch_id)
        batch.heartbeat_at = utcnow()
        start_job("migration.check", "jobs.migration.check_batch", batch_id, organization_id=batch.organization_id,
                  member_id=batch.uploader_id, retries=1)
        restarted.append(batch_id)
    db.session.commit()
    return {"applied": applied, "restarted_checks": restarted}


def schedule_sweep() -> None:
    """One pending sweep per ten-minute slot: the job ID names the slot, so scheduling twice is harmless."""
    from portal.queue import get_queue

    now = utcnow()
    slot = (now + SWEEP_EVERY).replace(second=0, microsecond=0)
    slot = slot.replace(minute=slot.minute - slot.minute % 10)
    get_queue("scheduled").enqueue_at(slot, "jobs.migration.sweep", job_id=f"migration-sweep-{slot:%Y%m%d%H%M}",
                                      job_timeout=3600)
