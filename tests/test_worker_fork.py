"""A job runs in a work horse forked from a PortalWorker that built the app once: the horse works with the worker's
app on both databases, with database connections of its own; the worker's own connections are neither used nor
closed by it, and the worker goes on using them (its maintenance tick) and running jobs."""
from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from redis import Redis
from rq import Queue
from rq.job import JobStatus
from sqlalchemy import func, select, text

from jobs import job
from portal.extensions import db
from portal.models import Organization
from tests.conftest import REDIS_URL
from tests.test_scheduler_takeover import wait_for

ROOT = Path(__file__).resolve().parents[1]


@job("test.horse", tracked=False)
def horse_sees_the_database() -> dict:
    """What a work horse sees: its process, its database session (PostgreSQL: the server process serving it)."""
    backend = (db.session.scalar(text("SELECT pg_backend_pid()")) if db.engine.dialect.name == "postgresql"
               else None)
    return {"pid": os.getpid(), "organizations": db.session.scalar(select(func.count(Organization.id))),
            "backend": backend}


class PortalWorker:
    """`rq worker -w jobs.worker.PortalWorker` on a queue of its own, on the test database and Redis, ticking every
    2 seconds."""

    def __init__(self, database_url: str, tmp_path: Path):
        self.name, self.queue_name = f"fork-{uuid.uuid4().hex[:8]}", f"fork-{uuid.uuid4().hex[:8]}"
        self.log = tmp_path / "worker.log"
        env = {**os.environ, "PORTAL_DOTENV": "/dev/null", "PYTHONUNBUFFERED": "1", "REDIS_URL": REDIS_URL,
               "RATELIMIT_STORAGE_URI": REDIS_URL, "DATABASE_URL": database_url,
               "PORTAL_WORKER_MAINTENANCE_SECONDS": "2"}
        with open(self.log, "ab") as out:
            self.process = subprocess.Popen(
                [str(Path(sys.executable).parent / "rq"), "worker", "-w", "jobs.worker.PortalWorker", "--url",
                 REDIS_URL, "--path", str(ROOT), "--name", self.name, self.queue_name], cwd=ROOT, env=env,
                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)

    def run(self, redis: Redis) -> dict:
        rq_job = Queue(self.queue_name, connection=redis).enqueue(f"{__name__}.horse_sees_the_database")
        wait_for(lambda: rq_job.get_status(refresh=True) in (JobStatus.FINISHED, JobStatus.FAILED), 60,
                 "the job to end")
        assert rq_job.get_status() == JobStatus.FINISHED, rq_job.latest_result().exc_string
        return rq_job.return_value()

    def wait_idle(self, redis: Redis) -> None:
        wait_for(lambda: redis.hget(f"rq:worker:{self.name}", "state") == b"idle", 90, "the worker to start")

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, 9)
        self.process.wait(timeout=10)

    def failure(self, error: AssertionError) -> AssertionError:
        return AssertionError(f"{error}\n{self.log.read_text(errors='replace')[-3000:]}")


@pytest.fixture
def redis():
    connection = Redis.from_url(REDIS_URL)
    yield connection
    connection.close()


def backends(app) -> set[int]:
    """The server processes of every session open on the test database (PostgreSQL)."""
    with app.app_context():
        return set(db.session.scalars(text(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database()")))


def test_jobs_run_in_horses_forked_from_the_worker_with_its_app(app, make, database_url, redis, tmp_path):
    make.org(domain="acme")
    worker = PortalWorker(database_url, tmp_path)
    try:
        worker.wait_idle(redis)
        first, second = worker.run(redis), worker.run(redis)
        assert first["organizations"] == second["organizations"] == 1  # the test's data, through the horse's session
        assert len({first["pid"], second["pid"], worker.process.pid}) == 3  # one horse per job, not the worker
        assert worker.process.poll() is None
    except AssertionError as error:
        raise worker.failure(error) from None
    finally:
        worker.stop()


def test_a_horse_connects_on_its_own_and_leaves_the_workers_connections_alone(app, database_url, redis, tmp_path):
    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            pytest.skip("server sessions are PostgreSQL's")
    before = backends(app)
    worker = PortalWorker(database_url, tmp_path)
    try:
        worker.wait_idle(redis)  # it has reconciled: its session is open, in its pool
        workers_own = wait_for(lambda: backends(app) - before, 30, "the worker's own database session")
        seen = [worker.run(redis)["backend"] for _ in range(2)]
        assert not set(seen) & workers_own  # each horse has a session of its own...
        assert seen[0] != seen[1]  # ...one per horse
        wait_for(lambda: not set(seen) & backends(app), 30, "the horses' sessions to end with them")
        assert workers_own <= backends(app)  # the worker's sessions outlived the horses that inherited them
        # the worker still uses them: its maintenance tick (every 2 s) reconciles through them, and jobs go on
        ticks = redis.hget(f"rq:worker:{worker.name}", "last_heartbeat")
        wait_for(lambda: redis.hget(f"rq:worker:{worker.name}", "last_heartbeat") != ticks, 30, "a tick")
        assert worker.run(redis)["backend"] not in workers_own
        assert workers_own <= backends(app)
        assert "reconciling the jobs with the database failed" not in worker.log.read_text()
    except AssertionError as error:
        raise worker.failure(error) from None
    finally:
        worker.stop()
