"""Periodic jobs keep their schedule whatever happens: a run that raises still schedules the next one, and
`flask jobs schedule` puts back a month closing that Redis lost."""
from datetime import datetime, timezone

import pytest
from flask_babel import force_locale
from redis import Redis
from rq import SimpleWorker
from sqlalchemy import select

from portal.extensions import db
from portal.models import JobRun, JobState
from jobs.billing import close_months
from portal.queue import get_queue, get_redis
from portal.services.jobs import JOBS, Every, JobSpec, job_message, schedule_next, start_job
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
    ("jobs.cti.purge_log", "portal.services.cti_log.delete_expired", "cti-log-purge-"),
])
def test_a_sweep_that_raises_still_schedules_the_next_one(app, monkeypatch, func, broken, prefix):
    monkeypatch.setattr(broken, _broken)
    with app.app_context():
        job = get_queue("scheduled").enqueue(func)
        _work()
        assert job.get_status(refresh=True) == "failed"  # the error is not hidden
        assert len(_scheduled(prefix)) == 1


def test_a_month_closing_that_raises_still_schedules_the_next_closing(app, monkeypatch):
    monkeypatch.setattr("portal.services.billing.close_finished_months", _broken)
    with app.app_context():
        run = start_job(close_months, organization_id=None)
        db.session.commit()
        _work()
        db.session.expire_all()
        failed = db.session.get(JobRun, run.id)
        with force_locale("ko"):
            assert failed.state == JobState.pending and job_message(failed).startswith("4번 중 1번째")  # retry waits
        [following] = [r for r in _pending_closings() if r.id != run.id]
        assert _scheduled(f"jobrun-{following.id}") and _scheduled(f"jobrun-{run.id}")


def _pending_closings() -> list[JobRun]:
    return list(db.session.scalars(select(JobRun).filter_by(kind="billing.close_months", state=JobState.pending)))


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
    with app.app_context():
        run = start_job(close_months, organization_id=None, at=datetime(2026, 2, 1, 0, 5, tzinfo=timezone.utc))
        run.created_at = datetime(2026, 1, 20, tzinfo=timezone.utc)
        db.session.commit()
        get_redis().flushdb()
        assert schedule_next(close_months.spec, now=datetime(2026, 2, 3, tzinfo=timezone.utc)) == (run, "re-enqueued")
        db.session.commit()
        assert get_queue("scheduled").get_job_ids() == [f"jobrun-{run.id}"]  # queued now, not in March
        _work()
        db.session.expire_all()
        assert db.session.get(JobRun, run.id).state == JobState.succeeded


def test_jobs_schedule_schedules_every_periodic_job_the_registry_holds(app, runner, monkeypatch):
    # A periodic job declared anywhere in jobs/ is in the registry, and so scheduled without touching the command.
    monkeypatch.setitem(JOBS, "test.tick", JobSpec(name="test.tick", func="tests.test_periodic_jobs._broken",
                                                   queue="scheduled", tracked=False, schedule=Every(minutes=5),
                                                   title="test tick"))
    result = runner.invoke(args=["jobs", "schedule"])
    assert result.exit_code == 0, result.output
    assert "Agent sweep, assignment sweep, CTI log cleanup, job reconciler, migration sweep and test tick scheduled." in result.output
    with app.app_context():
        [tick] = _scheduled("test-tick-")
        assert int(tick[-2:]) % 5 == 0  # on the clock, every five minutes
        for prefix in ("agents-sweep-", "migration-sweep-", "cti-log-purge-"):
            assert _scheduled(prefix), prefix
