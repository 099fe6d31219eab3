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

And it rides out a Redis restart: RQ waits for Redis only inside its dequeue; a connection error anywhere else
(recording a job that ended, a heartbeat, the maintenance tick, the suspension check, taking the scheduler lock as it
starts) made the worker quit, so one Redis restart could stop every worker caught outside its dequeue (a supervisor
gives up after a few fast restarts; honcho stops every process when one exits). Those steps now log the error and go
on, and the dequeue waits for Redis; what RQ could not record is the database's to set right (the reconciler).

RQ forks a work horse per job. The worker builds the portal's app (and so imports every job module) once, as it
starts, and freezes what it built out of the garbage collector's sight; every horse inherits all of it and starts
its job in tens of milliseconds instead of importing the portal and building an app of its own (1–5 s). A horse
never uses its parent's database connections: it gets pools of its own as it is forked
(portal._fresh_pools_in_child). The worker does not warm the app as the web master does (portal.warm_up): the
help-center language names alone are 120 MB of Babel's data, which no job needs and every fork would copy the
page tables of.
"""
from __future__ import annotations

import functools
import gc
import os

from flask import has_app_context
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rq import Worker
from rq.defaults import DEFAULT_MAINTENANCE_TASK_INTERVAL

from jobs import worker_app
from jobs.scheduling import reconcile_now

# Lock TTL (61 s) + this must stay under 2 minutes; tests shorten it through the environment.
MAINTENANCE_SECONDS = int(os.environ.get("PORTAL_WORKER_MAINTENANCE_SECONDS", "30"))


def _rides_out_redis(step):
    """The worker's `step`, logging a lost Redis connection instead of letting it stop the worker."""

    @functools.wraps(step)
    def ridden_out(self, *args, **kwargs):
        try:
            return step(self, *args, **kwargs)
        except (RedisConnectionError, RedisTimeoutError) as exc:
            self.log.warning("Worker %s: Redis unreachable during %s (%s); going on", self.name, step.__name__, exc)
            return None

    return ridden_out


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
        own_app = not has_app_context()  # tests run a worker inside their own app's context
        if own_app:
            worker_app()  # built here, once, for every work horse to inherit
        super().bootstrap(*args, **kwargs)
        reconcile_now()  # before the first job: what Redis lost while no worker ran is back
        if own_app:
            # What is loaded now lives as long as the worker: a collection in a horse would walk all of it (and
            # copy every page it touches) for nothing.
            gc.freeze()

    @_rides_out_redis
    def run_maintenance_tasks(self):
        super().run_maintenance_tasks()
        reconcile_now()

    # The steps of RQ's loop outside its dequeue: a job's end and its records (in the horse's monitor), heartbeats,
    # state, the suspension check. A job whose end RQ could not record is found by the reconciler. And taking the
    # scheduler lock as the worker starts: without it, the maintenance tick starts the scheduler.
    _start_scheduler = _rides_out_redis(Worker._start_scheduler)
    execute_job = _rides_out_redis(Worker.execute_job)
    maintain_heartbeats = _rides_out_redis(Worker.maintain_heartbeats)
    heartbeat = _rides_out_redis(Worker.heartbeat)
    set_state = _rides_out_redis(Worker.set_state)
    check_for_suspension = _rides_out_redis(Worker.check_for_suspension)
