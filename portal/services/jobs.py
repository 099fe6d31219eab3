"""Jobs as the rest of the portal sees them: the registry of declared jobs, the JobRun row the UI reads, and
enqueueing that happens only once the row is committed.

Jobs are declared in `jobs/` with `@job(name, queue=…, timeout=…, retries=…, schedule=…)`, which registers a
`JobSpec` here. The registry lives in this module, not in `jobs/`, because services start jobs too (a CTI log
export, the after-call timer) and services never import `jobs/` (models ← services ← blueprints/jobs/cli): a
service names the job (`start_job("cti.log_export", …)`) and the name is looked up here. The app factory imports
every job module (`jobs.load_all`), so the registry is complete in every process that has an app: the web, the
CLI, the tests and the worker.

Nothing here commits: the request, the CLI command or the job wrapper does.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, Callable, Iterable, Protocol
from zoneinfo import ZoneInfo

from flask import has_request_context
from flask_babel import get_locale
from redis.exceptions import RedisError
from rq import Retry
from rq.job import JobStatus
from sqlalchemy import event, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from portal.extensions import db
from portal.models import JobRun, JobState
from portal.models.base import utcnow
from portal.queue import get_queue, get_redis

_PENDING = "portal_pending_enqueues"

log = logging.getLogger(__name__)


# -- schedules of periodic jobs ----------------------------------------------------------------------------------

class Schedule(Protocol):
    slot_format: str  # names an untracked run's time slot in its RQ job ID, so scheduling twice is harmless

    def next_after(self, now: datetime) -> datetime: ...


@dataclass(frozen=True)
class Every:
    """Every `minutes` (a divisor of 60), on the clock: the next slot at least `minutes` from now."""

    minutes: int
    slot_format: str = "%Y%m%d%H%M"

    def __post_init__(self):
        if 60 % self.minutes:
            raise ValueError("minutes must divide an hour")

    def next_after(self, now: datetime) -> datetime:
        slot = (now + timedelta(minutes=self.minutes)).replace(second=0, microsecond=0)
        return slot.replace(minute=slot.minute - slot.minute % self.minutes)


@dataclass(frozen=True)
class Daily:
    """Once a day at `hour` o'clock UTC."""

    hour: int
    slot_format: str = "%Y%m%d"

    def next_after(self, now: datetime) -> datetime:
        at = now.replace(hour=self.hour, minute=0, second=0, microsecond=0)
        return at if at > now else at + timedelta(days=1)


@dataclass(frozen=True)
class Monthly:
    """On the 1st of next month at `at`, local time, in the earliest of the time zones `zones()` gives (UTC when it
    gives none): a month has ended for a service once its 1st has begun in its own zone."""

    at: time
    zones: Callable[[], Iterable[str]]
    slot_format: str = "%Y%m"

    def next_after(self, now: datetime) -> datetime:
        candidates = []
        for tz in set(self.zones()) or {"UTC"}:
            local = now.astimezone(ZoneInfo(tz)).date()
            first = date(local.year + local.month // 12, local.month % 12 + 1, 1)
            candidates.append(datetime.combine(first, self.at, tzinfo=ZoneInfo(tz)))
        return min(candidates)


# -- the registry ------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class JobSpec:
    """What `@job` declares. A tracked job has a JobRun row (its function takes the run first) and is started with
    `start_job`; an untracked one (a sweep, a timer) is enqueued with `enqueue_after_commit` or by its schedule."""

    name: str  # JobRun.kind of a tracked job; a periodic untracked one's job ID prefix, "-" for "." and "_"
    func: str  # the dotted path RQ imports in the worker
    queue: str = "default"
    timeout: int = 600
    retries: int = 0
    retry_intervals: tuple[int, ...] = (10, 60, 300)  # seconds before each retry; RQ repeats the last one
    tracked: bool = True
    schedule: Schedule | None = None
    title: str | None = None  # what `flask jobs schedule` calls a periodic job


JOBS: dict[str, JobSpec] = {}


def register(spec: JobSpec) -> None:
    known = JOBS.get(spec.name)
    if known is not None and known.func != spec.func:
        raise ValueError(f"two jobs are named {spec.name!r}: {known.func} and {spec.func}")
    if spec.schedule is not None and not spec.title:
        raise ValueError(f"periodic job {spec.name!r} needs a title")
    JOBS[spec.name] = spec


def spec_of(job: str | JobSpec | Callable) -> JobSpec:
    """A job given by its name (services) or as the decorated function (jobs/, tests)."""
    if isinstance(job, JobSpec):
        return job
    if isinstance(job, str):
        try:
            return JOBS[job]
        except KeyError:
            raise KeyError(f"no job named {job!r}: declare it with @job in a module of jobs/ (the app factory "
                           "loads them all)") from None
    return job.spec


def periodic_jobs() -> list[JobSpec]:
    return sorted((spec for spec in JOBS.values() if spec.schedule is not None), key=lambda spec: spec.name)


# -- starting jobs -----------------------------------------------------------------------------------------------

def start_job(job: str | Callable, *args: Any, organization_id: int | None, member_id: int | None = None,
              at: datetime | None = None, slot: str | None = None) -> JobRun:
    """Record a pending run of a tracked job and enqueue `job(run_id, *args)` with its declared queue, timeout and
    retries when the transaction commits, so a worker never picks up a job whose row it cannot see and a
    rolled-back request enqueues nothing. `at` schedules it with RQ's scheduler. The row keeps the arguments and
    the time (the reconciler enqueues the run again from them when Redis loses it); `slot` names a periodic run's
    time slot, unique per job (an IntegrityError at the flush when that slot has its run already)."""
    spec = spec_of(job)
    if not spec.tracked:
        raise ValueError(f"{spec.name} has no job run: enqueue it with enqueue_after_commit")
    run = JobRun(kind=spec.name, organization_id=organization_id, member_id=member_id, state=JobState.pending,
                 locale=_request_locale(), args=list(args), run_at=at, slot=slot)
    db.session.add(run)
    db.session.flush()
    enqueue_run(run, spec, *args, at=at)
    return run


def enqueue_run(run: JobRun, spec: JobSpec, *args: Any, at: datetime | None = None) -> None:
    """Enqueue the RQ job of a run (again, when Redis lost it) once this transaction commits. Its job ID
    names the run; a second delivery is harmless anyway, `claim` skips a finished run."""
    db.session.info.setdefault(_PENDING, []).append((spec, (run.id, *args), at, rq_job_id_of(run.id)))


def enqueue_after_commit(job: str | Callable, *args: Any, job_id: str, at: datetime | None = None) -> None:
    """Enqueue (or schedule) an untracked job once this transaction commits; the job ID makes a second
    enqueue of the same work replace the first instead of running it twice."""
    spec = spec_of(job)
    if spec.tracked:
        raise ValueError(f"{spec.name} has a job run: start it with start_job")
    db.session.info.setdefault(_PENDING, []).append((spec, args, at, job_id))


def rq_job_id_of(run_id: int) -> str:
    return f"jobrun-{run_id}"


def waiting_in_redis(run_id: int, queue: str = "default") -> bool:
    """Whether the run's RQ job is really there to be run: queued, scheduled (or due for a retry), or being
    run. False when Redis lost it (a flush, a restore from an old dump, an expired job)."""
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


def schedule_next(spec: JobSpec, now: datetime | None = None) -> tuple[JobRun | None, str]:
    """Make sure a periodic job waits in Redis for its next time. An untracked one is enqueued for its next slot
    (the job ID names the slot: scheduling twice is harmless). A tracked one keeps one pending run: it is reused,
    but the database is the record, not Redis: a pending run whose job Redis lost (a flush, a restore) is enqueued
    again, for the time it was made for (at once if that has passed). Without one, the run of the next slot is
    inserted, or taken when another scheduler inserted it first (one run per job and slot, a unique index).
    Returns the run and what was done: "scheduled" (untracked), "created", "re-enqueued" or "kept". The caller
    commits."""
    now = now or utcnow()
    at = spec.schedule.next_after(now)
    slot = f"{at:{spec.schedule.slot_format}}"
    if not spec.tracked:
        job_id = f"{spec.name.replace('.', '-').replace('_', '-')}-{slot}"  # cti-log-purge-20261129
        get_queue(spec.queue).enqueue_at(at, spec.func, job_id=job_id, job_timeout=spec.timeout)
        return None, "scheduled"
    # Two pending runs are normal for a while: a failed run waiting for its retry, and the next one.
    pending = db.session.scalars(
        select(JobRun).where(JobRun.kind == spec.name, JobRun.state == JobState.pending).order_by(JobRun.id)).all()
    lost = [run for run in pending if not waiting_in_redis(run.id, spec.queue)]
    for run in lost:
        at_run = _time_of(run, spec)
        enqueue_run(run, spec, at=at_run if at_run and at_run > now else None)
    if lost:
        return lost[-1], "re-enqueued"
    if pending:
        return pending[-1], "kept"
    try:
        with db.session.begin_nested():  # on the unique index, only this insert is undone
            return start_job(spec, organization_id=None, at=at, slot=slot), "created"
    except IntegrityError:
        # Another scheduler created this slot's run and committed it; its commit enqueues it.
        return db.session.scalars(select(JobRun).where(JobRun.kind == spec.name, JobRun.slot == slot)).one(), "kept"


def _time_of(run: JobRun, spec: JobSpec) -> datetime | None:
    """When a run was to start: its own record, else (a periodic run from before it was recorded) its slot."""
    if run.run_at is not None:
        return run.run_at
    return spec.schedule.next_after(run.created_at) if spec.schedule is not None else None


# Younger pending runs are left alone: their transaction has committed and enqueues them in a moment.
RECONCILE_GRACE = timedelta(seconds=30)


def reenqueue_lost_runs(now: datetime | None = None, grace: timedelta = RECONCILE_GRACE) -> list[JobRun]:
    """The database is the record of what must run, Redis only the queue: every pending run of a job that is not
    periodic (`schedule_next` keeps those) whose RQ job is neither queued, scheduled nor started is enqueued again
    now, for the time it was made for (at once if that has passed). One process at a time (a Redis lock), so two
    workers starting together do not deliver a job twice. A run recorded before runs kept their arguments cannot be
    rebuilt and is left to the sweeps (the migration sweep applies every due batch). Returns the runs enqueued."""
    now = now or utcnow()
    lock = get_redis().lock("portal:jobs:reconcile", timeout=300, blocking_timeout=0)
    if not lock.acquire():
        return []
    try:
        pending = db.session.scalars(select(JobRun).where(
            JobRun.state == JobState.pending, JobRun.created_at <= now - grace).order_by(JobRun.id)).all()
        enqueued = []
        for run in pending:
            spec = JOBS.get(run.kind)
            if spec is None or spec.schedule is not None or waiting_in_redis(run.id, spec.queue):
                continue
            if run.args is None:
                log.warning("job run %s (%s) is missing from Redis and has no recorded arguments; left to the "
                            "sweeps", run.id, run.kind)
                continue
            at = _time_of(run, spec)
            # Direct, not after commit: the row is committed already, and the lock must cover the enqueue.
            _enqueue(spec, (run.id, *run.args), at if at and at > now else None, rq_job_id_of(run.id))
            enqueued.append(run)
        return enqueued
    finally:
        lock.release()


def reconcile(now: datetime | None = None) -> dict:
    """Put back in Redis what the database says must run (at worker start and every minute): the pending runs
    Redis lost and the next slot of every periodic job. The caller commits (a periodic run may be created)."""
    enqueued = reenqueue_lost_runs(now)
    scheduled = {spec.name: schedule_next(spec, now)[1] for spec in periodic_jobs()}
    if enqueued or "re-enqueued" in scheduled.values():
        log.warning("Redis had lost jobs: runs %s enqueued again; periodic jobs: %s",
                    [run.id for run in enqueued], scheduled)
    return {"re-enqueued": [run.id for run in enqueued], "periodic": scheduled}


def _request_locale() -> str | None:
    return str(get_locale()) if has_request_context() else None


@event.listens_for(Session, "after_commit")
def _enqueue_after_commit(session: Session) -> None:
    pending = session.info.pop(_PENDING, None)
    if not pending:
        return

    for spec, args, at, job_id in pending:
        try:
            _enqueue(spec, args, at, job_id)
        except RedisError:
            if not has_request_context():
                raise  # a command or a job says it failed; a request's answer must not (its change is saved)
            # The rows say what is left to do; the sweeps pick it up once Redis answers again.
            log.warning("Redis unreachable: %s (job %s) committed but not enqueued; its rows wait for a sweep",
                        spec.name, job_id, exc_info=True)


def _enqueue(spec: JobSpec, args: tuple, at: datetime | None, job_id: str) -> None:
    q = get_queue(spec.queue)
    options = {"job_timeout": spec.timeout, "job_id": job_id}
    if spec.retries:
        options["retry"] = Retry(max=spec.retries, interval=list(spec.retry_intervals[:spec.retries]))
        options["meta"] = {"tries": spec.retries + 1}  # to tell the user "attempt 1 of 3 failed"
    if at is None:
        q.enqueue(spec.func, *args, **options)
    else:
        q.enqueue_at(at, spec.func, *args, **options)


@event.listens_for(Session, "after_rollback")
def _drop_after_rollback(session: Session) -> None:
    session.info.pop(_PENDING, None)


# -- a run's state -----------------------------------------------------------------------------------------------

def claim(run_id: int, rq_job_id: str | None) -> JobRun | None:
    """Mark a run as running. Returns None when it already finished, so a repeated delivery does nothing."""
    run = db.session.get(JobRun, run_id)
    if run is None or run.is_finished:
        return None
    run.state, run.started_at, run.rq_job_id, run.progress = JobState.running, utcnow(), rq_job_id, 0
    db.session.flush()
    return run


def progress_values(progress: int, message: str | None = None) -> dict:
    """A run's progress as column values: 0..100, the message cut to its column."""
    values = {"progress": max(0, min(100, int(progress)))}
    if message is not None:
        values["message"] = message[:500]
    return values


def set_progress(run: JobRun, progress: int, message: str | None = None) -> None:
    for column, value in progress_values(progress, message).items():
        setattr(run, column, value)
    db.session.flush()


def finish(run: JobRun, *, result: dict | None = None, message: str | None = None) -> None:
    run.state, run.progress, run.finished_at, run.result = JobState.succeeded, 100, utcnow(), result
    if message is not None:
        run.message = message[:500]
    db.session.flush()


def retry_later(run_id: int, message: str) -> None:
    """An attempt failed and RQ will run the job again: the run waits again (so `claim` takes it), saying so."""
    run = db.session.get(JobRun, run_id)
    if run is not None:
        run.state, run.progress, run.message = JobState.pending, 0, message[:500]
        db.session.flush()


def fail(run_id: int, message: str) -> None:
    run = db.session.get(JobRun, run_id)
    if run is not None:
        run.state, run.finished_at, run.message = JobState.failed, utcnow(), message[:500]
        db.session.flush()
