"""The portal's RQ worker: `rq worker -w jobs.worker.PortalWorker --with-scheduler default scheduled`.

RQ already knows how to replace a lost scheduler: at each maintenance tick a worker whose scheduler process is not
running tries for the scheduler lock (`run_maintenance_tasks` → `acquire_locks(auto_start=True)`), which takes over
the lock of a killed worker once it expires (RQ's lock TTL: 61 s) and restarts its own scheduler when that process
died while the worker lived (a Redis restart crashes it; the lock is still ours and is refreshed). Plain RQ ticks
every 10 minutes and an idle worker blocks in BLPOP for up to `worker_ttl - 15` s between ticks; this worker ticks
every `PORTAL_WORKER_MAINTENANCE_SECONDS` (30 s by default) and never blocks longer than that, so a lost scheduler
is replaced within lock TTL + one tick (about 1½ minutes), not 12.

The worker also reconciles Redis with the database (jobs.scheduling) when it starts and at each tick: a Redis that
lost its data has lost the periodic reconcile job too, so the workers put it back.
"""
from __future__ import annotations

import os

from rq import Worker
from rq.defaults import DEFAULT_MAINTENANCE_TASK_INTERVAL

from jobs.scheduling import reconcile_now

# Lock TTL (61 s) + this must stay under 2 minutes; tests shorten it through the environment.
MAINTENANCE_SECONDS = int(os.environ.get("PORTAL_WORKER_MAINTENANCE_SECONDS", "30"))


class PortalWorker(Worker):
    """An rq Worker whose maintenance (scheduler takeover and restart, registry cleaning) runs every
    MAINTENANCE_SECONDS unless `--maintenance-interval` asks for another value."""

    def __init__(self, *args, maintenance_interval: int = DEFAULT_MAINTENANCE_TASK_INTERVAL, **kwargs):
        # The rq CLI always passes RQ's default; only an explicit other value is the operator's choice.
        if maintenance_interval == DEFAULT_MAINTENANCE_TASK_INTERVAL:
            maintenance_interval = MAINTENANCE_SECONDS
        super().__init__(*args, maintenance_interval=maintenance_interval, **kwargs)

    @property
    def dequeue_timeout(self) -> int:
        # Maintenance runs between two BLPOPs: an idle worker must come back from one in time for its tick.
        return max(1, min(super().dequeue_timeout, int(self.maintenance_interval)))

    def bootstrap(self, *args, **kwargs):
        super().bootstrap(*args, **kwargs)
        reconcile_now()  # before the first job: what Redis lost while no worker ran is back

    def run_maintenance_tasks(self):
        super().run_maintenance_tasks()
        reconcile_now()
