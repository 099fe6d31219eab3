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
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, Callable, Iterable, Iterator, Protocol
from zoneinfo import ZoneInfo

from flask import current_app, has_request_context
from flask_babel import get_locale
from redis.exceptions import LockError, RedisError
from rq import Retry
from rq.job import JobStatus
from sqlalchemy import and_, event, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from portal import messages
from portal.extensions import db
from portal.models import JobRun, JobState, JobStop
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
    # What else a running attempt's heartbeat marks alive: `also_beat(*args, now)` gives the statement (a check's
    # batch, whose page and sweep read its own heartbeat).
    also_beat: Callable[..., Any] | None = None


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
# A reconcile takes milliseconds; a worker killed while holding the lock must not stop the others for long.
RECONCILE_LOCK_SECONDS = 30


@contextmanager
def one_reconciler() -> Iterator[bool]:
    """The reconciler's Redis lock, not waited for: True when this process has it (one process at a time, so two
    workers ticking together do not deliver a job twice)."""
    lock = get_redis().lock("portal:jobs:reconcile", timeout=RECONCILE_LOCK_SECONDS, blocking_timeout=0)
    acquired = lock.acquire()
    try:
        yield acquired
    finally:
        if acquired:
            try:
                lock.release()
            except LockError:  # it expired meanwhile; another reconciler may hold it now
                pass


def reenqueue_lost_runs(now: datetime | None = None, grace: timedelta = RECONCILE_GRACE) -> list[JobRun]:
    """The database is the record of what must run, Redis only the queue: every pending run of a job that is not
    periodic (`schedule_next` keeps those) whose RQ job is neither queued, scheduled nor started is enqueued again
    now, for the time it was made for (at once if that has passed). One process at a time (a Redis lock), so two
    workers starting together do not deliver a job twice. A run recorded before runs kept their arguments cannot be
    rebuilt and is left to the sweeps (the migration sweep applies every due batch). Returns the runs enqueued."""
    now = now or utcnow()
    with one_reconciler() as mine:
        if not mine:
            return []
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


def reconcile(now: datetime | None = None) -> dict:
    """Put back in Redis what the database says must run (at worker start and at every worker tick and minute):
    the runs whose worker stopped, the pending runs Redis lost and the next slot of every periodic job. The caller
    commits (a run restarted or given up, a periodic run created)."""
    stopped = restart_stopped_runs(now)
    enqueued = reenqueue_lost_runs(now)
    scheduled = {spec.name: schedule_next(spec, now)[1] for spec in periodic_jobs()}
    if enqueued or "re-enqueued" in scheduled.values():
        log.warning("Redis had lost jobs: runs %s enqueued again; periodic jobs: %s",
                    [run.id for run in enqueued], scheduled)
    return {"re-enqueued": [run.id for run in enqueued], "periodic": scheduled, **stopped}


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

def claim(run_id: int, rq_job_id: str | None, now: datetime | None = None) -> JobRun | None:
    """Start a new attempt of a run: running, its heartbeat fresh, one attempt more. Returns None when it finished
    or another attempt runs it (its heartbeat is fresh), so a repeated delivery does nothing: RQ delivering again a
    job the reconciler already restarted, or one already done. A guarded UPDATE, so two deliveries at once start
    one attempt."""
    now = now or utcnow()
    taken = db.session.execute(
        update(JobRun).where(JobRun.id == run_id, or_(
            JobRun.state == JobState.pending,
            and_(JobRun.state == JobState.running, _last_sign() < stale_before(now))))
        .values(state=JobState.running, started_at=now, heartbeat_at=now, rq_job_id=rq_job_id, progress=0,
                attempts=JobRun.attempts + 1, stop=None)
        .execution_options(synchronize_session=False)).rowcount
    return db.session.get(JobRun, run_id, populate_existing=True) if taken == 1 else None


def message_values(code: str | None, params: dict | None = None) -> dict:
    """A run's message as column values: a code of portal.messages and its parameters (never text: the page says it
    in its reader's language)."""
    return {"message_code": code, "message_args": params or {}} if code else {}


def job_message(run: JobRun) -> str | None:
    """The run's progress or outcome in the reader's language (a run from before codes: its text as stored)."""
    return messages.text(run.message_code, run.message_args, run.message)


def progress_values(progress: int, code: str | None = None, params: dict | None = None) -> dict:
    """A run's progress as column values: 0..100, and what it says (see message_values)."""
    return {"progress": max(0, min(100, int(progress))), **message_values(code, params)}


def set_progress(run: JobRun, progress: int, code: str | None = None, params: dict | None = None) -> None:
    for column, value in progress_values(progress, code, params).items():
        setattr(run, column, value)
    db.session.flush()


def finish(run: JobRun, *, result: dict | None = None, code: str | None = None, params: dict | None = None) -> None:
    run.state, run.progress, run.finished_at, run.result = JobState.succeeded, 100, utcnow(), result
    for column, value in message_values(code, params).items():
        setattr(run, column, value)
    db.session.flush()


def retry_later(run_id: int, attempt: int, code: str, params: dict | None = None) -> None:
    """An attempt failed and RQ will run the job again: the run waits again (so `claim` takes it), saying so. Only
    while it is still this attempt's: one the reconciler restarted meanwhile belongs to the next."""
    _end_attempt(run_id, attempt, state=JobState.pending, progress=0, **message_values(code, params))


def fail(run_id: int, attempt: int, code: str, params: dict | None = None) -> None:
    _end_attempt(run_id, attempt, state=JobState.failed, finished_at=utcnow(), **message_values(code, params))


def _end_attempt(run_id: int, attempt: int, **values) -> None:
    db.session.execute(update(JobRun).where(JobRun.id == run_id, JobRun.attempts == attempt,
                                            JobRun.state == JobState.running)
                       .values(**values).execution_options(synchronize_session=False))


# -- heartbeats, and runs whose worker stopped -------------------------------------------------------------------

MAX_ATTEMPTS = 3  # a run whose worker stops on every attempt (a job that kills it) is failed, not run forever


def stale_before(now: datetime | None = None) -> datetime:
    """A heartbeat older than this is stale: the worker that wrote it stopped (killed, lost)."""
    return (now or utcnow()) - timedelta(seconds=current_app.config["JOB_STALE_SECONDS"])


def _last_sign():
    return func.coalesce(JobRun.heartbeat_at, JobRun.started_at)  # a run started before heartbeats: its start


def beat(run_id: int, attempt: int, now: datetime | None = None):
    """The statement that says a running attempt is alive (the job's heartbeat thread runs it in a transaction of its
    own every JOB_HEARTBEAT_SECONDS). It changes nothing once the run ended or another attempt took it over."""
    return update(JobRun).where(JobRun.id == run_id, JobRun.attempts == attempt,
                                JobRun.state == JobState.running).values(heartbeat_at=now or utcnow())


def is_stale(heartbeat_at: datetime | None, now: datetime | None = None) -> bool:
    return heartbeat_at is not None and heartbeat_at < stale_before(now)


def restart(run: JobRun, now: datetime | None = None) -> str | None:
    """A running run whose worker stopped (its heartbeat is stale) waits again, saying so, and is enqueued at once;
    after MAX_ATTEMPTS it fails instead. Guarded: only while it is still that stopped attempt (another reconciler,
    or RQ delivering it again, may have taken it meanwhile). Returns "restarted", "given up" or None (nothing
    done). The caller commits; the RQ job is enqueued at once (a delivery before the commit finds the run still
    stopped, and takes it the same way)."""
    now = now or utcnow()
    spec = JOBS.get(run.kind)
    if spec is None or run.args is None:
        log.warning("job run %s (%s) stopped and cannot be run again (no such job, or no recorded arguments)",
                    run.id, run.kind)
        return None
    given_up = run.attempts >= MAX_ATTEMPTS
    values = (dict(state=JobState.failed, stop=JobStop.given_up, finished_at=now) if given_up
              else dict(state=JobState.pending, stop=JobStop.worker_stopped, progress=0, message=None,
                        message_code=None, message_args=None))
    changed = db.session.execute(
        update(JobRun).where(JobRun.id == run.id, JobRun.state == JobState.running, JobRun.attempts == run.attempts,
                             _last_sign() < stale_before(now))
        .values(**values).execution_options(synchronize_session=False)).rowcount
    if changed != 1:
        return None
    db.session.refresh(run)
    if given_up:
        log.warning("job run %s (%s): its worker stopped on each of %d attempts; given up", run.id, run.kind,
                    run.attempts)
        return "given up"
    log.warning("job run %s (%s): its worker stopped (last heartbeat %s); enqueued again", run.id, run.kind,
                run.heartbeat_at)
    _forget_dead_execution(spec, run.id)
    _enqueue(spec, (run.id, *run.args), None, rq_job_id_of(run.id))
    return "restarted"


def _forget_dead_execution(spec: JobSpec, run_id: int) -> None:
    """Take the stopped attempt out of RQ's started registry: RQ would find it abandoned once its own TTL ran out
    (90 s after its last beat) and deliver the job yet again while the restarted attempt runs."""
    q = get_queue(spec.queue)
    job = q.fetch_job(rq_job_id_of(run_id))
    if job is not None and job.get_status(refresh=False) == JobStatus.STARTED:
        q.started_job_registry.remove_executions(job)


def restart_stopped_runs(now: datetime | None = None) -> dict[str, list[int]]:
    """Every running run whose heartbeat went stale lost its worker: it is run again, or given up after
    MAX_ATTEMPTS (`restart`). One process at a time (the reconciler's lock)."""
    now = now or utcnow()
    outcomes: dict[str, list[int]] = {"restarted": [], "given up": []}
    with one_reconciler() as mine:
        if not mine:
            return outcomes
        stopped = db.session.scalars(select(JobRun).where(
            JobRun.state == JobState.running, _last_sign() < stale_before(now)).order_by(JobRun.id)).all()
        for run in stopped:
            outcome = restart(run, now)
            if outcome:
                outcomes[outcome].append(run.id)
    return outcomes


def unfinished_runs(kind: str, first_args: Iterable[int]) -> dict[int, list[JobRun]]:
    """The pending and running runs of `kind` by their first argument (the id a job takes: a batch's check), for
    the ids given. Few rows: runs that have not finished."""
    wanted = set(first_args)
    if not wanted:
        return {}
    found: dict[int, list[JobRun]] = {}
    for run in db.session.scalars(select(JobRun).where(
            JobRun.kind == kind, JobRun.state.in_([JobState.pending, JobState.running])).order_by(JobRun.id)):
        if run.args and run.args[0] in wanted:
            found.setdefault(run.args[0], []).append(run)
    return found


def any_alive(runs: Iterable[JobRun], now: datetime | None = None) -> bool:
    """One of the runs is running with a fresh heartbeat: its worker is alive."""
    return any(run.state == JobState.running and not is_stale(run.heartbeat_at or run.started_at, now)
               for run in runs)


def keep_going(runs: list[JobRun], now: datetime | None = None) -> str | None:
    """Make sure one of these unfinished runs of a job (the runs of one batch's check) goes on: a running one whose
    heartbeat is fresh is alive; a stopped one is restarted; a pending one waits in Redis to run now (enqueued
    again at once when Redis lost it, or when it waits for a later time: its subject stopped and is due again).
    Returns "alive", "waiting", "restarted", "given up", or None when there is no run (the caller starts one)."""
    now = now or utcnow()
    if any_alive(runs, now):
        return "alive"
    for run in runs:
        if run.state == JobState.running:
            return restart(run, now) or "alive"  # None: another reconciler or a delivery took it meanwhile
    for run in runs:
        spec = JOBS.get(run.kind)
        if spec is None or run.args is None:
            continue
        if (run.run_at is None or run.run_at <= now) and waiting_in_redis(run.id, spec.queue):
            return "waiting"
        enqueue_run(run, spec, *run.args)
        return "restarted"
    return None


@dataclass(frozen=True)
class Stall:
    """A job whose worker stopped, as a page words it: when it was last seen, when the reconciler runs it again
    (about stale + one worker tick after that), which attempt stopped, and whether it was given up."""

    stopped_at: datetime
    retry_at: datetime
    attempt: int | None = None
    attempts: int = MAX_ATTEMPTS
    given_up: bool = False
    restarted: bool = False  # known to wait for a worker again (a run the reconciler put back)

    @property
    def retrying(self) -> bool:
        """It was put back, or its retry time has passed: it goes on as soon as a worker is free."""
        return self.restarted or utcnow() >= self.retry_at


def stall(stopped_at: datetime, *, attempt: int | None = None, attempts: int = MAX_ATTEMPTS,
          given_up: bool = False, restarted: bool = False) -> Stall:
    config = current_app.config
    retry_at = stopped_at + timedelta(seconds=config["JOB_STALE_SECONDS"] + config["WORKER_TICK_SECONDS"])
    return Stall(stopped_at, retry_at, attempt, attempts, given_up, restarted)


def stall_of(run: JobRun, now: datetime | None = None) -> Stall | None:
    """Why a run is not going on, for its page: running with a stale heartbeat (its worker stopped; the reconciler
    restarts it soon), waiting again after such a stop, or given up after its last stop. None otherwise."""
    stopped_at = run.heartbeat_at or run.started_at
    if stopped_at is None:
        return None
    if run.state == JobState.running and is_stale(stopped_at, now):
        return stall(stopped_at, attempt=run.attempts, given_up=run.attempts >= MAX_ATTEMPTS)
    if run.stop is not None:
        return stall(stopped_at, attempt=run.attempts, given_up=run.stop == JobStop.given_up,
                     restarted=run.state == JobState.pending)
    return None
