"""RQ job functions: thin wrappers that open an app context, claim their JobRun row and call a service."""
from __future__ import annotations

import logging
from contextlib import nullcontext
from functools import wraps
from typing import Callable

from flask import current_app, has_app_context
from rq import get_current_job

_app = None


def _app_context():
    """Reuse the caller's context (tests run a SimpleWorker in-process), else one app per worker process."""
    global _app
    if has_app_context():
        return nullcontext()
    if _app is None:
        from portal import create_app

        _app = create_app()
    return _app.app_context()


def tracked_job(func: Callable) -> Callable:
    """`func(run, *args)` becomes an RQ job taking `(run_id, *args)` that records running/succeeded/failed
    in the JobRun row and skips a run that already finished (idempotent on redelivery). A failed attempt
    that RQ will retry puts the run back to pending; the last one fails it, with a message for the user."""

    @wraps(func)
    def job(run_id: int, *args, **kwargs):
        from portal.services import jobs as job_runs

        rq_job = get_current_job()
        log = logging.getLogger(f"jobs.{func.__name__}")
        with _app_context():
            run = job_runs.claim(run_id, rq_job.id if rq_job else None)
            if run is None:
                log.info("[job %s] run %s already finished; nothing to do", rq_job and rq_job.id, run_id)
                return None
            from flask_babel import force_locale

            locale = run.locale or current_app.config["BABEL_DEFAULT_LOCALE"]
            try:
                with force_locale(locale):
                    return func(run, *args, **kwargs)
            except Exception as exc:
                # RQ runs the job again while it has retries left: only the last failure fails the run.
                retrying = rq_job is not None and (rq_job.retries_left or 0) > 0
                log.exception("[job %s] run %s failed%s", rq_job and rq_job.id, run_id,
                              f"; {rq_job.retries_left} retries left" if retrying else "")
                with force_locale(locale):
                    if retrying:
                        job_runs.retry_later(run_id, _retry_message(rq_job))
                    else:
                        job_runs.fail(run_id, _failure_message(exc, run_id))
                raise

    return job


def _retry_message(rq_job) -> str:
    from flask_babel import gettext as _

    tries = rq_job.meta.get("tries")
    if not tries:
        return _("An attempt failed; trying again.")
    return _("Attempt %(attempt)d of %(tries)d failed; trying again.", attempt=tries - rq_job.retries_left,
             tries=tries)


def _failure_message(exc: Exception, run_id: int) -> str:
    """What the user reads: a refusal's own message, else no traceback (that is in the worker's log)."""
    from flask_babel import gettext as _

    from portal.services import ServiceError

    if isinstance(exc, ServiceError):
        return exc.message
    return _("An unexpected error stopped the job; it is logged under job run %(id)d.", id=run_id)
