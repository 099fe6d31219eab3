"""The reconciler: Redis is only the queue, the database says what must run. It runs every minute, at worker start
and at each worker maintenance tick (jobs.worker), so a Redis that lost its data (a restart without persistence,
a restore) gets back the pending runs and every periodic job's next slot, this job's own among them, and a job
whose worker was killed (its heartbeat went stale) runs again within the stale limit and one tick: tracked runs,
and the checks and applies of migration batches (also those applied from the command line)."""
from __future__ import annotations

import logging

from flask import has_app_context

from jobs import _app_context, job
from portal.extensions import db
from portal.services import jobs as job_runs
from portal.services import migration
from portal.services.jobs import Every

log = logging.getLogger("jobs.scheduling")


@job("jobs.reconcile", queue="scheduled", timeout=300, tracked=False, schedule=Every(minutes=1),
     title="job reconciler")
def reconcile() -> dict:
    return _reconcile()


def _reconcile() -> dict:
    result = job_runs.reconcile()
    db.session.commit()
    with job_runs.one_reconciler() as mine:
        result["migration"] = migration.restart_stopped() if mine else {}
        db.session.commit()  # before the lock goes: the next reconciler sees the runs this one started
    return result


def reconcile_now() -> dict | None:
    """Reconcile outside a job (a worker starting or between jobs): committed here; a failure is logged, never
    raised, since a worker must keep working when the database or Redis hiccups."""
    own_context = not has_app_context()  # tests run the worker inside theirs
    with _app_context():
        try:
            result = _reconcile()
            db.session.commit()
            return result
        except Exception:
            db.session.rollback()
            log.exception("reconciling the jobs with the database failed; the next tick tries again")
            return None
        finally:
            if own_context:
                db.session.remove()  # its connection back to the pool; a work horse forked later gets pools of its own
