"""Periodic jobs keep their schedule whatever happens: a run that raises still schedules the next one, and
`flask jobs schedule` puts back a month closing that Redis lost."""
from datetime import datetime, timezone

import pytest
from redis import Redis
from rq import SimpleWorker
from sqlalchemy import select

from portal.extensions import db
from portal.models import JobRun, JobState
from portal.queue import get_queue, get_redis
from portal.services import billing
from tests.conftest import REDIS_URL


def _broken(*args, **kwargs):
    raise RuntimeError("the database went away")


def _work(queue="scheduled"):
    SimpleWorker([get_queue(queue)], connection=get_redis()).work(burst=True)


def _scheduled(prefix: str) -> list[str]:
    return [j for j in get_queue("scheduled").scheduled_job_registry.get_job_ids() if j.startswith(prefix)]


@pytest.mark.parametrize("func, broken, prefix", [
    ("jobs.agents.sweep", "portal.services.agent_states.idle_sweep", "agents-sweep-"),
    ("jobs.migration.sweep", "portal.services.migration.due_batches", "migration-sweep-"),
    ("jobs.cti.purge_log", "portal.services.cti_log.purge_expired", "cti-log-purge-"),
])
def test_a_sweep_that_raises_still_schedules_the_next_one(app, monkeypatch, func, broken, prefix):
    monkeypatch.setattr(broken, _broken)
    with app.app_context():
        job = get_queue("scheduled").enqueue(func)
        _work()
        assert job.get_status(refresh=True) == "failed"  # the error is not hidden
        assert len(_scheduled(prefix)) == 1


def test_a_month_closing_that_raises_still_schedules_the_next_closing(app, monkeypatch):
    from portal.services.jobs import start_job

    monkeypatch.setattr(billing, "close_finished_months", _broken)
    with app.app_context():
        run = start_job(billing.CLOSE_JOB_KIND, billing.CLOSE_FUNC, organization_id=None)
        db.session.commit()
        _work("default")
        db.session.expire_all()
        assert db.session.get(JobRun, run.id).state == JobState.failed
        pending = db.session.scalars(select(JobRun).filter_by(kind=billing.CLOSE_JOB_KIND, state=JobState.pending)).all()
        assert len(pending) == 1
        assert _scheduled(f"jobrun-{pending[0].id}")


def _pending_closings() -> list[JobRun]:
    return list(db.session.scalars(select(JobRun).filter_by(kind=billing.CLOSE_JOB_KIND, state=JobState.pending)))


def test_jobs_schedule_puts_back_a_month_closing_that_redis_lost(app, runner):
    first = runner.invoke(args=["jobs", "schedule"])
    assert first.exit_code == 0 and "Month closing scheduled" in first.output
    with app.app_context():
        [run] = _pending_closings()
        assert _scheduled(f"jobrun-{run.id}")

    Redis.from_url(REDIS_URL).flushdb()
    again = runner.invoke(args=["jobs", "schedule"])
    assert again.exit_code == 0, again.output
    assert f"Month closing job run {run.id} was pending but missing from Redis; enqueued it again." in again.output
    with app.app_context():
        assert [r.id for r in _pending_closings()] == [run.id]  # the same run, not a second one
        assert _scheduled(f"jobrun-{run.id}")

    idle = runner.invoke(args=["jobs", "schedule"])
    assert f"Month closing job run {run.id} already waits in Redis; left as it is." in idle.output
    assert "Month closing scheduled" not in idle.output


def test_a_lost_month_closing_whose_first_has_passed_runs_at_once(app):
    from portal.services.jobs import start_job

    with app.app_context():
        run = start_job(billing.CLOSE_JOB_KIND, billing.CLOSE_FUNC, organization_id=None, queue=billing.CLOSE_QUEUE,
                        at=datetime(2026, 2, 1, 0, 5, tzinfo=timezone.utc))
        run.created_at = datetime(2026, 1, 20, tzinfo=timezone.utc)
        db.session.commit()
        get_redis().flushdb()
        assert billing.schedule_month_closing(now=datetime(2026, 2, 3, tzinfo=timezone.utc)) == (run, "re-enqueued")
        db.session.commit()
        assert get_queue(billing.CLOSE_QUEUE).get_job_ids() == [f"jobrun-{run.id}"]  # queued now, not in March
        _work()
        db.session.expire_all()
        assert db.session.get(JobRun, run.id).state == JobState.succeeded
