"""Job runs: the database row the UI reads, and enqueueing that happens only once the row is committed."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

from portal.extensions import db
from portal.models import JobRun, JobState
from portal.models.base import utcnow
from portal.queue import get_queue

_PENDING = "portal_pending_enqueues"


def start_job(
    kind: str,
    func: str,
    *args: Any,
    organization_id: int | None,
    member_id: int | None = None,
    queue: str = "default",
    at: datetime | None = None,
    timeout: int = 600,
    retries: int = 0,
) -> JobRun:
    """Record a pending job run and enqueue `func(run_id, *args)` when the transaction commits, so a
    worker never picks up a job whose row it cannot see and a rolled-back request enqueues nothing.
    `at` schedules it with RQ's scheduler."""
    run = JobRun(kind=kind, organization_id=organization_id, member_id=member_id, state=JobState.pending,
                 locale=_request_locale())
    db.session.add(run)
    db.session.flush()
    enqueue_run(run, func, *args, queue=queue, at=at, timeout=timeout, retries=retries)
    return run


def enqueue_run(run: JobRun, func: str, *args: Any, queue: str = "default", at: datetime | None = None,
                timeout: int = 600, retries: int = 0) -> None:
    """Enqueue the RQ job of a run (again, when Redis lost it) once this transaction commits. Its job ID
    names the run; a second delivery is harmless anyway, `claim` skips a finished run."""
    db.session.info.setdefault(_PENDING, []).append((queue, func, (run.id, *args), at, timeout, retries,
                                                     rq_job_id_of(run.id)))


def rq_job_id_of(run_id: int) -> str:
    return f"jobrun-{run_id}"


def waiting_in_redis(run_id: int, queue: str = "default") -> bool:
    """Whether the run's RQ job is really there to be run: queued, scheduled (or due for a retry), or being
    run. False when Redis lost it (a flush, a restore from an old dump, an expired job)."""
    from rq.job import JobStatus

    q = get_queue(queue)
    job_id = rq_job_id_of(run_id)
    job = q.fetch_job(job_id)
    if job is None:
        return False
    status = job.get_status(refresh=False)
    if status == JobStatus.QUEUED:
        return q.get_job_position(job_id) is not None
    if status == JobStatus.SCHEDULED:
        return job_id in q.scheduled_job_registry
    return status in (JobStatus.STARTED, JobStatus.DEFERRED)


def enqueue_after_commit(func: str, *args: Any, job_id: str, at: datetime | None = None, queue: str = "default",
                         timeout: int = 300) -> None:
    """Enqueue (or schedule) a small untracked job once this transaction commits; the job ID makes a second
    enqueue of the same work replace the first instead of running it twice."""
    db.session.info.setdefault(_PENDING, []).append((queue, func, args, at, timeout, 0, job_id))


def _request_locale() -> str | None:
    from flask import has_request_context
    from flask_babel import get_locale

    return str(get_locale()) if has_request_context() else None


@event.listens_for(Session, "after_commit")
def _enqueue_after_commit(session: Session) -> None:
    pending = session.info.pop(_PENDING, None)
    if not pending:
        return
    from rq import Retry

    for queue_name, func, args, at, timeout, retries, job_id in pending:
        q = get_queue(queue_name)
        options = {"job_timeout": timeout, "job_id": job_id}
        if retries:
            options["retry"] = Retry(max=retries, interval=[10, 60, 300][:retries])
            options["meta"] = {"tries": retries + 1}  # to tell the user "attempt 1 of 3 failed"
        if at is None:
            q.enqueue(func, *args, **options)
        else:
            q.enqueue_at(at, func, *args, **options)


@event.listens_for(Session, "after_rollback")
def _drop_after_rollback(session: Session) -> None:
    session.info.pop(_PENDING, None)


def claim(run_id: int, rq_job_id: str | None) -> JobRun | None:
    """Mark a run as running. Returns None when it already finished, so a repeated delivery does nothing."""
    run = db.session.get(JobRun, run_id)
    if run is None or run.is_finished:
        return None
    run.state, run.started_at, run.rq_job_id, run.progress = JobState.running, utcnow(), rq_job_id, 0
    db.session.commit()
    return run


def report_progress(run: JobRun, progress: int, message: str | None = None) -> None:
    run.progress = max(0, min(100, int(progress)))
    if message is not None:
        run.message = message[:500]
    db.session.commit()


def report_progress_apart(run_id: int, progress: int, message: str | None = None) -> None:
    """Progress from inside a long read (a streamed query must not see its transaction end): written through a
    connection of its own."""
    from sqlalchemy import update

    values = {"progress": max(0, min(100, int(progress)))}
    if message is not None:
        values["message"] = message[:500]
    with db.engine.begin() as connection:
        connection.execute(update(JobRun).where(JobRun.id == run_id).values(**values))


def finish(run: JobRun, *, result: dict | None = None, message: str | None = None) -> None:
    run.state, run.progress, run.finished_at, run.result = JobState.succeeded, 100, utcnow(), result
    if message is not None:
        run.message = message[:500]
    db.session.commit()


def retry_later(run_id: int, message: str) -> None:
    """An attempt failed and RQ will run the job again: the run waits again (so `claim` takes it), saying so."""
    db.session.rollback()
    run = db.session.get(JobRun, run_id)
    if run is not None:
        run.state, run.progress, run.message = JobState.pending, 0, message[:500]
        db.session.commit()


def fail(run_id: int, message: str) -> None:
    db.session.rollback()
    run = db.session.get(JobRun, run_id)
    if run is not None:
        run.state, run.finished_at, run.message = JobState.failed, utcnow(), message[:500]
        db.session.commit()
