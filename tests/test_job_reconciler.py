"""Redis losing its data loses no job: the database is the record, and the reconciler (every minute, at worker start
and at each worker tick) puts back the pending runs Redis lost and every periodic job's next slot; one run per
periodic job and slot is enforced in the database."""
import threading
from datetime import timedelta

from redis import Redis
from rq import SimpleWorker
from sqlalchemy import select

from jobs.billing import close_months
from jobs.worker import PortalWorker
from portal.extensions import db
from portal.models import BatchStatus, JobRun, JobState, MigrationBatch
from portal.models.base import utcnow
from portal.queue import get_queue, get_redis
from portal.services.jobs import periodic_jobs, reconcile, schedule_next, start_job, waiting_in_redis
from tests.conftest import REDIS_URL, csrf_token
from tests.test_migration import GOOD, setup, uploaded  # noqa: F401 (setup is a fixture)


class SimplePortalWorker(PortalWorker, SimpleWorker):
    """The portal's worker, running jobs in its own process (as the tests run every worker)."""


def _scheduled(queue: str = "scheduled") -> list[str]:
    return get_queue(queue).scheduled_job_registry.get_job_ids()


def _age(run: JobRun) -> None:
    run.created_at = utcnow() - timedelta(minutes=5)  # older than the grace given to a commit's own enqueue


def test_after_a_flush_the_reconciler_puts_back_the_pending_runs_and_every_periodic_slot(app, runner):
    assert runner.invoke(args=["jobs", "schedule"]).exit_code == 0
    with app.app_context():
        now_run = start_job("demo.count_to", 3, organization_id=None)
        later_run = start_job("demo.count_to", 2, organization_id=None, at=utcnow() + timedelta(hours=3))
        _age(now_run), _age(later_run)
        db.session.commit()
        [closing] = db.session.scalars(select(JobRun).filter_by(kind="billing.close_months")).all()
        assert waiting_in_redis(now_run.id) and waiting_in_redis(later_run.id)

        get_redis().flushdb()
        result = reconcile()
        db.session.commit()

        assert sorted(result["re-enqueued"]) == [now_run.id, later_run.id]
        assert get_queue().get_job_ids() == [f"jobrun-{now_run.id}"]  # due: queued at once
        assert _scheduled("default") == [f"jobrun-{later_run.id}"]  # for the time it was made for
        assert waiting_in_redis(closing.id, "scheduled")
        for spec in periodic_jobs():
            if not spec.tracked:
                prefix = spec.name.replace(".", "-").replace("_", "-") + "-"
                assert any(j.startswith(prefix) for j in _scheduled()), prefix
        assert "jobs-reconcile-" in " ".join(_scheduled())  # the reconciler's own next minute

        again = reconcile()  # nothing lost any more: nothing enqueued twice
        db.session.commit()
        assert again["re-enqueued"] == [] and get_queue().get_job_ids() == [f"jobrun-{now_run.id}"]


def test_a_pending_run_whose_job_redis_lost_is_run_by_a_worker_that_starts(app):
    with app.app_context():
        run = start_job("demo.count_to", 4, organization_id=None)
        _age(run)
        db.session.commit()
        get_redis().flushdb()
        assert not waiting_in_redis(run.id)

        # The worker reconciles as it starts, then runs what it put back.
        SimplePortalWorker([get_queue()], connection=get_redis()).work(burst=True)
        db.session.expire_all()
        done = db.session.get(JobRun, run.id)
        assert done.state == JobState.succeeded and done.result == {"sum": 10}


def test_jobs_schedule_puts_back_any_pending_run_redis_lost(app, runner):
    with app.app_context():
        run = start_job("demo.count_to", 2, organization_id=None)
        _age(run)
        db.session.commit()
        run_id = run.id
    Redis.from_url(REDIS_URL).flushdb()
    result = runner.invoke(args=["jobs", "schedule"])
    assert result.exit_code == 0, result.output
    assert f"Job run {run_id} (demo.count_to) was pending but missing from Redis; enqueued it again." in result.output
    with app.app_context():
        assert waiting_in_redis(run_id)


def test_two_schedulers_at_once_leave_one_pending_month_closing(app):
    start = threading.Barrier(2)
    outcomes, errors = [], []

    def schedule():
        try:
            with app.app_context():
                start.wait(timeout=10)
                run, action = schedule_next(close_months.spec)
                db.session.commit()
                outcomes.append((run.id, action))
        except Exception as exc:  # pragma: no cover - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=schedule) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    with app.app_context():
        [closing] = db.session.scalars(select(JobRun).filter_by(kind="billing.close_months",
                                                                state=JobState.pending)).all()
        assert closing.slot and waiting_in_redis(closing.id, "scheduled")
    assert {run_id for run_id, _ in outcomes} == {closing.id}
    assert sorted(action for _, action in outcomes) == ["created", "kept"]


def test_the_same_slot_is_never_created_twice_even_without_a_pending_run(app):
    with app.app_context():
        first, action = schedule_next(close_months.spec)
        db.session.commit()
        assert action == "created"
        first.state = JobState.running  # taken by a worker: no pending run, and yet its slot has its run
        db.session.commit()
        again, action = schedule_next(close_months.spec)
        db.session.commit()
        assert (again.id, action) == (first.id, "kept")
        assert db.session.scalars(select(JobRun).filter_by(kind="billing.close_months")).all() == [first]


def test_a_reserved_batchs_apply_lost_from_redis_still_runs(setup, app):
    batch = uploaded(app, setup, GOOD)
    c = setup["client"]
    c.post(f"/admin/migrations/{batch.id}/confirm",
           data={"csrf_token": csrf_token(c, "/admin/migrations"), "understood": "on"})
    with app.app_context():
        [apply_run] = db.session.scalars(select(JobRun).filter_by(kind="migration.apply")).all()
        reserved = db.session.get(MigrationBatch, batch.id)
        assert reserved.status == BatchStatus.reserved and apply_run.run_at == reserved.scheduled_for
        _age(apply_run)
        db.session.commit()

        get_redis().flushdb()
        reconcile()
        db.session.commit()
        registry = get_queue("scheduled").scheduled_job_registry
        assert registry.get_scheduled_time(f"jobrun-{apply_run.id}") == reserved.scheduled_for  # still at 01:00

        # 01:00 has come and Redis lost it again: the reconciler queues it at once and a worker applies the batch.
        reserved.scheduled_for = apply_run.run_at = utcnow() - timedelta(minutes=1)
        db.session.commit()
        get_redis().flushdb()
        reconcile()
        db.session.commit()
        SimpleWorker([get_queue("scheduled")], connection=get_redis()).work(burst=True)
        db.session.expire_all()
        assert db.session.get(MigrationBatch, batch.id).status == BatchStatus.completed
        assert db.session.get(JobRun, apply_run.id).state == JobState.succeeded
