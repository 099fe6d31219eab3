"""The job wiring, end to end: a JobRun row, a real Redis, a real RQ worker."""
from datetime import datetime, timedelta, timezone

import logging
import secrets

import rq.scheduler
from flask_babel import force_locale
from rq import SimpleWorker
from rq.registry import ScheduledJobRegistry

from jobs import job
from portal.extensions import db
from portal.models import JobRun, JobState
from portal.queue import get_queue, get_redis
from portal.services import jobs as job_runs
from portal.services.jobs import start_job


@job("test.flaky", retries=2)
def flaky(run, failures: int, counter: str) -> int:
    """A test job: its first `failures` attempts raise, the next one succeeds (attempts counted in Redis)."""
    attempt = get_redis().incr(counter)
    if attempt <= failures:
        raise RuntimeError(f"flaky attempt {attempt} broke")
    job_runs.finish(run, result={"attempts": attempt})
    return attempt


def _work(app, queue="default", scheduler=False):
    with app.app_context():
        worker = SimpleWorker([get_queue(queue)], connection=get_redis())
        worker.work(burst=True, with_scheduler=scheduler)


def _an_hour_later(app, monkeypatch):
    """The worker's scheduler step as if an hour had passed: RQ's retries wait 10 s and more in the
    ScheduledJobRegistry, and a test must not wait for the clock."""
    later = rq.scheduler.current_timestamp() + 3600
    with monkeypatch.context() as m:
        m.setattr(rq.scheduler, "current_timestamp", lambda: later)
        _work(app, scheduler=True)


def _start_flaky(app, failures: int) -> tuple[int, str]:
    counter = f"flaky-{secrets.token_hex(4)}"
    with app.app_context():
        run = start_job(flaky, failures, counter, organization_id=None)
        run.locale = "en"
        db.session.commit()
        return run.id, counter


def _run(app, run_id) -> JobRun:
    with app.app_context():
        run = db.session.get(JobRun, run_id)
        db.session.expunge(run)
        return run


def _said(app, run: JobRun, lang: str = "en") -> str | None:
    """The run's message as a reader of `lang` reads it."""
    with app.app_context(), force_locale(lang):
        return job_runs.job_message(run)


def test_demo_job_runs_on_a_real_worker_and_reports_progress(app, make):
    org = make.org()
    with app.app_context():
        run = start_job("demo.count_to", 4, organization_id=org.id)
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
        start_job("demo.count_to", 3, organization_id=None)
        db.session.rollback()
        assert get_queue().count == 0
        assert db.session.query(JobRun).count() == 0


def test_a_job_delivered_twice_does_the_work_once(app):
    with app.app_context():
        run = start_job("demo.count_to", 3, organization_id=None)
        db.session.commit()
        run_id = run.id
    _work(app)
    with app.app_context():
        # Redelivery (a retry after a lost acknowledgement) of the same run.
        get_queue().enqueue("jobs.demo.count_to", run_id, 99)
    _work(app)
    assert _run(app, run_id).result == {"sum": 6}


def test_a_failing_job_is_recorded_as_failed_with_a_message_for_the_user_and_the_error_in_the_log(app, caplog):
    with app.app_context():
        run = start_job("demo.count_to", 0, organization_id=None)
        db.session.commit()
        run_id = run.id
    with caplog.at_level(logging.ERROR, logger="jobs"):
        _work(app)
    failed = _run(app, run_id)
    assert failed.state == JobState.failed
    # In the reader's language, no exception text; the technical text is in the log.
    assert _said(app, failed, "ko") == f"예기치 않은 오류로 작업이 중단되었습니다. 작업 실행 {run_id}번으로 기록되었습니다."
    assert _said(app, failed) == f"An unexpected error stopped the job; it is logged under job run {run_id}."
    assert "ValueError: n must be at least 1" in caplog.text


def test_a_job_that_fails_once_runs_again_and_succeeds(app, monkeypatch):
    run_id, counter = _start_flaky(app, failures=1)
    _work(app)
    waiting = _run(app, run_id)
    assert waiting.state == JobState.pending  # not failed: RQ will run it again
    assert _said(app, waiting) == "Attempt 1 of 3 failed; trying again."
    with app.app_context():
        assert f"jobrun-{run_id}" in ScheduledJobRegistry(queue=get_queue()).get_job_ids()
    _an_hour_later(app, monkeypatch)
    _work(app)
    done = _run(app, run_id)
    assert done.state == JobState.succeeded and done.result == {"attempts": 2}


def test_a_job_that_always_fails_is_failed_after_its_last_retry(app, monkeypatch):
    run_id, counter = _start_flaky(app, failures=99)
    _work(app)
    for attempt in (1, 2):
        assert _said(app, _run(app, run_id)) == f"Attempt {attempt} of 3 failed; trying again."
        _an_hour_later(app, monkeypatch)
        _work(app)
    failed = _run(app, run_id)
    assert failed.state == JobState.failed
    assert _said(app, failed) == f"An unexpected error stopped the job; it is logged under job run {run_id}."
    with app.app_context():
        assert int(get_redis().get(counter)) == 3
        assert f"jobrun-{run_id}" in get_queue().failed_job_registry.get_job_ids()
    _an_hour_later(app, monkeypatch)
    _work(app)
    with app.app_context():
        assert int(get_redis().get(counter)) == 3  # nothing left to run


def test_a_job_scheduled_for_later_waits_in_the_scheduler(app):
    with app.app_context():
        later = datetime.now(timezone.utc) + timedelta(hours=1)
        run = start_job("demo.count_to", 2, organization_id=None, at=later)
        db.session.commit()
        run_id = run.id
        assert f"jobrun-{run_id}" in ScheduledJobRegistry(queue=get_queue()).get_job_ids()
    _work(app, scheduler=True)
    assert _run(app, run_id).state == JobState.pending


def test_a_due_scheduled_job_is_run_by_the_workers_scheduler(app):
    with app.app_context():
        due = datetime.now(timezone.utc) - timedelta(seconds=1)
        run = start_job("demo.count_to", 2, organization_id=None, at=due)
        db.session.commit()
        run_id = run.id
    _work(app, scheduler=True)
    _work(app)
    assert _run(app, run_id).state == JobState.succeeded


def test_a_job_is_enqueued_with_the_queue_timeout_and_retries_it_declares(app):
    with app.app_context():
        run = start_job("migration.apply", 12345, organization_id=None)  # its name is all a call site gives
        db.session.commit()
        assert run.kind == "migration.apply"
        rq_job = get_queue("scheduled").fetch_job(f"jobrun-{run.id}")
        assert rq_job.func_name == "jobs.migration.apply_batch" and rq_job.args == (run.id, 12345)
        assert (rq_job.origin, rq_job.timeout, rq_job.retries_left, rq_job.retry_intervals) == (
            "scheduled", 3600, 2, [10, 60])
        assert rq_job.meta["tries"] == 3
