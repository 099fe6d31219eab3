"""RQ jobs: thin wrappers that take ids, open an app context and call services.

Every job is declared with `@job`, which carries its defaults (Redash's way): its name, queue, timeout, retries
and, for a periodic job, its schedule. The declaration goes to the registry in `portal.services.jobs`, which
`start_job`, `enqueue_after_commit` and `flask jobs schedule` read; a call site passes only ids.

One unit of work per job: the wrapper commits once at the end and rolls back on any exception. The few commits
made on the way live here in jobs/ and say why (the progress a page polls, a sweep's independent pieces).
"""
from __future__ import annotations

import importlib
import logging
import pkgutil
import threading
from contextlib import contextmanager, nullcontext
from functools import wraps
from typing import Any, Callable, Iterator

from flask import current_app, has_app_context
from flask_babel import force_locale
from rq import get_current_job
from sqlalchemy import update

from portal.extensions import db
from portal.models import JobRun
from portal.models.base import utcnow
from portal.services import ServiceError
from portal.services import jobs as job_runs
from portal.services.jobs import JobSpec, Schedule

_app = None


def job(name: str, *, queue: str = "default", timeout: int = 600, retries: int = 0,
        retry_intervals: tuple[int, ...] = (10, 60, 300), tracked: bool = True, schedule: Schedule | None = None,
        title: str | None = None, also_beat: Callable[..., Any] | None = None) -> Callable:
    """Declare a job. A tracked one (the default) is `func(run, *ids)` with a JobRun row the UI reads; started with
    `start_job(job, *ids, organization_id=…)`, it records running/succeeded/failed, keeps its heartbeat fresh while
    it runs (and `also_beat(*ids, now)`'s row) and skips a run that already finished or that another attempt runs
    (idempotent on redelivery). An untracked one is `func(*ids)` (sweeps, timers). A job with a `schedule` enqueues
    its next run whatever happens to this one; `title` is what `flask jobs schedule` calls it."""

    def declare(func: Callable) -> Callable:
        spec = JobSpec(name=name, func=f"{func.__module__}.{func.__qualname__}", queue=queue, timeout=timeout,
                       retries=retries, retry_intervals=tuple(retry_intervals), tracked=tracked, schedule=schedule,
                       title=title, also_beat=also_beat)
        wrapper = _tracked(spec, func) if tracked else _untracked(spec, func)
        wrapper.spec = spec
        job_runs.register(spec)
        return wrapper

    return declare


def load_all() -> None:
    """Import every job module, so that the registry holds every declared job (the app factory calls this)."""
    for module in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{module.name}")


def progress(run, percent: int, code: str | None = None, params: dict | None = None) -> None:
    """Record a job's progress (and a message: a code of portal.messages) and commit it at once: the page polls the
    run row while the job works."""
    job_runs.set_progress(run, percent, code, params)
    db.session.commit()


def progress_apart(run_id: int, percent: int, code: str | None = None, params: dict | None = None) -> None:
    """Progress from inside a long read (a streamed query must not see its transaction end): written and committed
    through a connection of its own, so the page sees it while the job's own transaction goes on."""
    with db.engine.begin() as connection:
        connection.execute(update(JobRun).where(JobRun.id == run_id).values(
            **job_runs.progress_values(percent, code, params)))


def worker_app():
    """The app of this worker process, built on first use. The PortalWorker builds it (and so imports every job
    module) before it forks its first work horse: each horse inherits it instead of building its own, and gets
    database connections of its own (portal._fresh_pools_in_child)."""
    global _app
    if _app is None:
        from portal import create_app  # lazy: a web process importing a job module builds no second app

        _app = create_app()
    return _app


def _app_context():
    """Reuse the caller's context (tests run a SimpleWorker in-process), else the worker process's app."""
    if has_app_context():
        return nullcontext()
    return worker_app().app_context()


@contextmanager
def _heartbeat(spec: JobSpec, run_id: int, attempt: int, args: tuple) -> Iterator[None]:
    """While the block runs, a thread of this process writes the attempt's heartbeat (and its `also_beat` row) every
    JOB_HEARTBEAT_SECONDS, each beat in a transaction of its own: the job's own transaction may stay open for long,
    and a worker killed with SIGKILL takes the thread with it, so a stale heartbeat means a stopped worker."""
    engine, every = db.engine, current_app.config["JOB_HEARTBEAT_SECONDS"]
    done = threading.Event()

    def beat_until_done() -> None:
        while not done.wait(every):
            try:
                with engine.begin() as connection:
                    now = utcnow()
                    connection.execute(job_runs.beat(run_id, attempt, now))
                    if spec.also_beat is not None:
                        connection.execute(spec.also_beat(*args, now))
            except Exception:  # a missed beat is not fatal (the stale limit allows several); the next one retries
                logging.getLogger("jobs").warning("heartbeat of job run %s failed", run_id, exc_info=True)

    thread = threading.Thread(target=beat_until_done, name=f"heartbeat-{run_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join(timeout=every + 10)


def _tracked(spec: JobSpec, func: Callable) -> Callable:
    @wraps(func)
    def run_job(run_id: int, *args, **kwargs):
        rq_job = get_current_job()
        log = logging.getLogger(f"jobs.{func.__name__}")
        with _app_context():
            run = job_runs.claim(run_id, rq_job.id if rq_job else None)
            if run is None:
                db.session.rollback()
                log.info("[job %s] run %s already finished, or another attempt runs it; nothing to do",
                         rq_job and rq_job.id, run_id)
                return None
            attempt = run.attempts  # read before any rollback: this attempt's, not a later one's
            db.session.commit()  # "running" is seen at once, by the page and by a second delivery
            locale = run.locale or current_app.config["BABEL_DEFAULT_LOCALE"]
            with _heartbeat(spec, run_id, attempt, args):
                try:
                    try:
                        with force_locale(locale):
                            result = func(run, *args, **kwargs)
                        db.session.commit()  # the job's one unit of work, its finish() with it
                        return result
                    finally:
                        if spec.schedule is not None:
                            _schedule_next(spec)  # while this run is still "running": not taken for the next
                except Exception as exc:
                    db.session.rollback()  # nothing of a failed attempt is kept
                    # RQ runs the job again while it has retries left: only the last failure fails the run.
                    retrying = rq_job is not None and (rq_job.retries_left or 0) > 0
                    log.exception("[job %s] run %s failed%s", rq_job and rq_job.id, run_id,
                                  f"; {rq_job.retries_left} retries left" if retrying else "")
                    if retrying:
                        job_runs.retry_later(run_id, attempt, *_retry_message(rq_job))
                    else:
                        job_runs.fail(run_id, attempt, *_failure_message(exc, run_id))
                    db.session.commit()
                    raise

    return run_job


def _untracked(spec: JobSpec, func: Callable) -> Callable:
    @wraps(func)
    def run_job(*args, **kwargs):
        with _app_context():
            try:
                result = func(*args, **kwargs)
                db.session.commit()  # the job's one unit of work
                return result
            except Exception:
                db.session.rollback()
                raise
            finally:
                if spec.schedule is not None:
                    _schedule_next(spec)  # even when this run failed: one exception must not stop them for good

    return run_job


def _schedule_next(spec: JobSpec) -> None:
    db.session.rollback()  # a failed run's half-work is not committed with the next run's row
    job_runs.schedule_next(spec)
    db.session.commit()


def _retry_message(rq_job) -> tuple[str, dict]:
    tries = rq_job.meta.get("tries")
    return "retrying", ({"attempt": tries - rq_job.retries_left, "tries": tries} if tries else {})


def _failure_message(exc: Exception, run_id: int) -> tuple[str, dict]:
    """What the user reads (a code of portal.messages): a refusal's own message when it can be said again, else its
    code; never a traceback (that is in the worker's log)."""
    if isinstance(exc, ServiceError):
        return (exc.code, exc.params) if exc.params is not None else ("refused", {"code": exc.code})
    return "job_error", {"id": run_id}
