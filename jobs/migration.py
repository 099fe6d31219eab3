"""Migration jobs: check an uploaded file, apply a reserved batch, and the sweep that catches up.

A check and an apply are long, so they commit more than once, each commit where the page or another worker must
see something before the job ends (said beside it); everything else is one unit of work.
"""
from __future__ import annotations

import logging
from datetime import datetime

from jobs import job
from portal.extensions import db
from portal.models import BatchStatus, MigrationBatch
from portal.services import ServiceError
from portal.services import jobs as job_runs
from portal.services import migration
from portal.services.jobs import Every
from portal.services.mail import send_mail
from portal.services.migration_files import FileRefused

log = logging.getLogger("jobs.migration")


@job(migration.CHECK_JOB, retries=1, also_beat=migration.check_beat)
def check_batch(run, batch_id: int) -> str | None:
    batch = check_now(batch_id)
    state = batch.status.value if batch else None
    job_runs.finish(run, result={"batch": batch_id, "status": state}, code="batch_status", params={"status": state})
    return state


@job(migration.APPLY_JOB, queue="scheduled", timeout=3600, retries=2)
def apply_batch(run, batch_id: int) -> str | None:
    state = apply_and_notify(batch_id)
    job_runs.finish(run, result={"batch": batch_id, "status": state}, code="batch_status", params={"status": state})
    return state


def check_now(batch_id: int) -> MigrationBatch | None:
    """Check one batch; whatever breaks the check ends it in a final state with a message, never left checking."""
    batch = migration.begin_check(batch_id)
    if batch is None:
        return db.session.get(MigrationBatch, batch_id)
    db.session.commit()  # the attempt counts even if the file kills this worker: the sweep gives up after three
    try:
        # Progress and heartbeat committed as the rows go: the page polls them; the sweep restarts a silent check.
        return migration.check(batch, checkpoint=db.session.commit)
    except Exception as exc:
        if not isinstance(exc, FileRefused):
            log.exception("checking migration batch %s failed", batch_id)
        db.session.rollback()
        return migration.end_broken_check(batch_id, exc)


def apply_now(batch_id: int, now: datetime | None = None, force: bool = False) -> MigrationBatch | None:
    """Apply one batch if it is due, or continue an apply whose run stopped. Returns the batch, or None when there
    was nothing to do (not due, not reserved, or another run has it). Raises on an unexpected error once the batch
    has tickets, after handing it on (the job's retry or the sweep continues it)."""
    run = migration.claim_apply(batch_id, now, force=force)
    if run is None:
        db.session.rollback()
        return None
    db.session.commit()  # on its own: "applying" is seen at once, and no other run takes the batch
    try:
        # Every chunk commits twice (its reserved numbers, then its tickets with the cursor, progress and
        # heartbeat): short transactions that nothing else waits for, and a restart continues from the last one.
        batch = migration.apply(batch_id, run, checkpoint=db.session.commit)
        db.session.commit()
        return batch
    except migration.ApplyTakenOver:
        db.session.rollback()  # a later run took the batch for dead: it goes on, this one stops
        return None
    except Exception as exc:
        db.session.rollback()
        if not migration.has_tickets(batch_id):
            # All or none: a rule of the check that no longer holds (or an error) before the first ticket.
            batch = migration.apply_failed(batch_id, run, exc)
            db.session.commit()  # the failure is recorded on its own: the work it reports was rolled back
            if not isinstance(exc, ServiceError):
                log.exception("applying migration batch %s failed", batch_id)
            return batch
        migration.release_apply(batch_id, run)
        db.session.commit()
        raise


def apply_and_notify(batch_id: int, now=None, force: bool = False) -> str | None:
    """Apply one batch if it is due, then mail the uploader the outcome."""
    batch = apply_now(batch_id, now, force)
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


@job("migration.sweep", queue="scheduled", timeout=3600, tracked=False, schedule=Every(minutes=10),
     title="migration sweep")
def sweep() -> dict:
    """Apply every due reserved batch (so a lost scheduled job cannot strand one), continue applies whose run
    stopped, and restart checks and applies whose worker stopped (the reconciler does that every tick too)."""
    return sweep_now()


def sweep_now(now=None, force: bool = False) -> dict:
    """Each due batch is applied (or its stopped apply continued) in transactions of its own (one batch's failure
    leaves the others applied); the restarted checks and applies are the caller's to commit."""
    applied = []
    for batch_id in migration.due_batches(now, force=force):
        try:
            applied.append(apply_and_notify(batch_id, now, force))
        except Exception:  # handed on to the next sweep; the other batches are still applied
            log.exception("applying migration batch %s stopped; it is continued later", batch_id)
    return {"applied": applied, **migration.restart_stopped(now)}
