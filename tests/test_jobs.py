"""The job wiring, end to end: a JobRun row, a real Redis, a real RQ worker."""
from datetime import datetime, timedelta, timezone

from rq import SimpleWorker
from rq.registry import ScheduledJobRegistry

from portal.extensions import db
from portal.models import JobRun, JobState
from portal.queue import get_queue, get_redis
from portal.services.jobs import start_job


def _work(app, queue="default", scheduler=False):
    with app.app_context():
        worker = SimpleWorker([get_queue(queue)], connection=get_redis())
        worker.work(burst=True, with_scheduler=scheduler)


def _run(app, run_id) -> JobRun:
    with app.app_context():
        run = db.session.get(JobRun, run_id)
        db.session.expunge(run)
        return run


def test_demo_job_runs_on_a_real_worker_and_reports_progress(app, make):
    org = make.org()
    with app.app_context():
        run = start_job("demo.count_to", "jobs.demo.count_to", 4, organization_id=org.id)
        db.session.commit()
        run_id = run.id
    assert _run(app, run_id).state == JobState.pending
    _work(app)
    done = _run(app, run_id)
    assert done.state == JobState.succeeded
    assert done.progress == 100
    assert done.result == {"sum": 10}
    assert done.started_at is not None and done.finished_at is not None


def test_a_rolled_back_request_enqueues_nothing(app):
    with app.app_context():
        start_job("demo.count_to", "jobs.demo.count_to", 3, organization_id=None)
        db.session.rollback()
        assert get_queue().count == 0
        assert db.session.query(JobRun).count() == 0


def test_a_job_delivered_twice_does_the_work_once(app):
    with app.app_context():
        run = start_job("demo.count_to", "jobs.demo.count_to", 3, organization_id=None)
        db.session.commit()
        run_id = run.id
    _work(app)
    with app.app_context():
        # Redelivery (a retry after a lost acknowledgement) of the same run.
        get_queue().enqueue("jobs.demo.count_to", run_id, 99)
    _work(app)
    assert _run(app, run_id).result == {"sum": 6}


def test_a_failing_job_is_recorded_as_failed_with_its_message(app):
    with app.app_context():
        run = start_job("demo.count_to", "jobs.demo.count_to", 0, organization_id=None)
        db.session.commit()
        run_id = run.id
    _work(app)
    failed = _run(app, run_id)
    assert failed.state == JobState.failed
    assert failed.message == "ValueError: n must be at least 1"


def test_a_job_scheduled_for_later_waits_in_the_scheduler(app):
    with app.app_context():
        later = datetime.now(timezone.utc) + timedelta(hours=1)
        run = start_job("demo.count_to", "jobs.demo.count_to", 2, organization_id=None, at=later)
        db.session.commit()
        run_id = run.id
        assert f"jobrun-{run_id}" in ScheduledJobRegistry(queue=get_queue()).get_job_ids()
    _work(app, scheduler=True)
    assert _run(app, run_id).state == JobState.pending


def test_a_due_scheduled_job_is_run_by_the_workers_scheduler(app):
    with app.app_context():
        due = datetime.now(timezone.utc) - timedelta(seconds=1)
        run = start_job("demo.count_to", "jobs.demo.count_to", 2, organization_id=None, at=due)
        db.session.commit()
        run_id = run.id
    _work(app, scheduler=True)
    _work(app)
    assert _run(app, run_id).state == JobState.succeeded
