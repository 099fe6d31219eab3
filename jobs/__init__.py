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
    in the JobRun row and skips a run that already finished (idempotent on redelivery)."""

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
            try:
                from flask_babel import force_locale

                with force_locale(run.locale or current_app.config["BABEL_DEFAULT_LOCALE"]):
                    return func(run, *args, **kwargs)
            except Exception as exc:
                log.exception("[job %s] run %s failed", rq_job and rq_job.id, run_id)
                job_runs.fail(run_id, f"{type(exc).__name__}: {exc}")
                raise

    return job
