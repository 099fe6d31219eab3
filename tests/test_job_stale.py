"""A job whose worker stops goes on: a running job keeps a heartbeat in its row; a run or a check whose heartbeat
went stale (the worker was killed) is run again by the reconciler within the stale limit and one worker tick, with
no sweep and nobody uploading again."""
from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta, timezone

from rq import SimpleWorker
from sqlalchemy import select, update

from jobs import job
from portal.extensions import db
from portal.models import BatchStatus, JobRun, JobState, JobStop
from portal.queue import get_queue, get_redis
from portal.services import jobs as job_runs
from portal.services.jobs import reconcile, rq_job_id_of, start_job
from tests.test_migration import template, upload
from tests.test_migration_kill import ROWS, batch_row, filled, rows, wait_for, workers  # noqa: F401 (a fixture)


@job("test.hold")
def hold(run, key: str) -> str:
    """A test job that keeps its worker busy until the test sets `key` in Redis (30 s at most)."""
    deadline = time.monotonic() + 30
    while not get_redis().exists(key):
        if time.monotonic() > deadline:
            raise RuntimeError("nobody released the job")
        time.sleep(0.01)
    job_runs.finish(run)
    return key


def _run(app, run_id: int) -> JobRun:
    with app.app_context():
        run = db.session.get(JobRun, run_id)
        db.session.expunge(run)
        return run


def _work(app) -> None:
    with app.app_context():
        SimpleWorker([get_queue()], connection=get_redis()).work(burst=True)


# -- the heartbeat -----------------------------------------------------------------------------------------------

def test_the_heartbeat_of_a_running_job_moves_until_the_job_ends(app, monkeypatch):
    monkeypatch.setitem(app.config, "JOB_HEARTBEAT_SECONDS", 0.05)
    with app.app_context():
        run = start_job(hold, "release-hold", organization_id=None)
        db.session.commit()
        run_id = run.id
    seen: list[datetime] = []
    failures: list[BaseException] = []

    def watch() -> None:
        """While the job runs: note each heartbeat it writes; after three, let it end."""
        try:
            with app.app_context():
                deadline = time.monotonic() + 20
                while len(seen) < 4 and time.monotonic() < deadline:
                    db.session.remove()
                    beat = db.session.scalar(select(JobRun.heartbeat_at).where(JobRun.id == run_id))
                    if beat is not None and (not seen or beat != seen[-1]):
                        seen.append(beat)
                    time.sleep(0.01)
                get_redis().set("release-hold", 1)
        except BaseException as exc:  # noqa: BLE001 - reported in the test's thread
            failures.append(exc)
            get_redis().set("release-hold", 1)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    _work(app)  # the worker runs in this thread (RQ's signal handlers need the main thread)
    watcher.join(30)
    assert not failures, failures
    assert len(seen) == 4, f"the heartbeat moved {len(seen) - 1} times while the job ran"
    assert seen == sorted(seen)
    done = _run(app, run_id)
    assert done.state == JobState.succeeded and done.attempts == 1
    time.sleep(0.2)  # four beats' worth: none comes after the end
    assert _run(app, run_id).heartbeat_at == done.heartbeat_at


def _stopped_run(app, *, attempts: int = 1, silent: timedelta = timedelta(minutes=5)) -> int:
    """A demo run whose worker was killed mid-way: running, its heartbeat `silent` old, its RQ job gone."""
    with app.app_context():
        run = start_job("demo.count_to", 3, organization_id=None)
        db.session.commit()
        get_queue().empty()
        stopped_at = datetime.now(timezone.utc) - silent
        db.session.execute(update(JobRun).where(JobRun.id == run.id).values(
            state=JobState.running, attempts=attempts, started_at=stopped_at, heartbeat_at=stopped_at, progress=33))
        db.session.commit()
        return run.id


def test_a_run_whose_worker_stopped_is_run_again_by_the_reconciler(app):
    run_id = _stopped_run(app)
    with app.app_context():
        assert job_runs.claim(run_id, "a second delivery") is not None  # stale: a delivery may take it
        db.session.rollback()
        result = reconcile()
        db.session.commit()
        assert result["restarted"] == [run_id]
        waiting = db.session.get(JobRun, run_id)
        assert (waiting.state, waiting.stop, waiting.progress) == (JobState.pending, JobStop.worker_stopped, 0)
        assert get_queue().get_job_ids() == [rq_job_id_of(run_id)]
        assert reconcile()["restarted"] == []  # restarted once, not at every tick
        db.session.commit()
    _work(app)
    done = _run(app, run_id)
    assert (done.state, done.result, done.attempts, done.stop) == (JobState.succeeded, {"sum": 6}, 2, None)


def test_a_delivery_of_a_run_another_attempt_runs_does_nothing(app):
    run_id = _stopped_run(app, silent=timedelta(seconds=1))  # its worker is alive: the heartbeat is fresh
    with app.app_context():
        assert job_runs.claim(run_id, "a second delivery") is None
        assert reconcile()["restarted"] == []
        db.session.commit()
        assert db.session.get(JobRun, run_id).state == JobState.running


def test_a_run_whose_worker_stopped_on_every_attempt_is_given_up(app):
    run_id = _stopped_run(app, attempts=job_runs.MAX_ATTEMPTS)
    with app.app_context():
        result = reconcile()
        db.session.commit()
    assert result["given up"] == [run_id] and result["restarted"] == []
    failed = _run(app, run_id)
    assert (failed.state, failed.stop) == (JobState.failed, JobStop.given_up) and failed.finished_at is not None


# -- a killed check, with real workers ---------------------------------------------------------------------------

FAST = {"JOB_HEARTBEAT_SECONDS": "0.5", "JOB_STALE_SECONDS": "3", "PORTAL_WORKER_MAINTENANCE_SECONDS": "1"}


def test_a_check_killed_with_sigkill_is_restarted_by_the_other_worker_and_ends_checked(make, login_as, app,
                                                                                      workers):
    org = make.org(domain="acme")
    make.place(make.service(org, "desk", name="Desk"), make.member(org, "agt", name="Agent A"))
    client = login_as(make.admin_of(org))
    response = upload(client, filled(template(client), rows(ROWS)))
    assert response.status_code == 303, response.get_data(as_text=True)[:300]
    batch_id = int(response.headers["Location"].rsplit("/", 1)[1])

    first = workers("worker-1", worker_class="jobs.worker.PortalWorker", env=FAST)
    wait_for(lambda: batch_row(app, batch_id).progress > 0, "the check to report progress", first, timeout=60)
    second = workers("worker-2", worker_class="jobs.worker.PortalWorker", env=FAST)
    killed_at = datetime.now(timezone.utc)
    assert len(first.kill()) >= 2, f"no work horse was running\n{first.log_tail()}"
    left = batch_row(app, batch_id)
    assert left.status == BatchStatus.checking, f"the check ended before the kill ({left.status}); raise KILL_TEST_ROWS"

    # Nobody runs a sweep: the surviving worker's reconciler sees the stale heartbeat and runs the check again.
    checked = wait_for(lambda: (b := batch_row(app, batch_id)).status != BatchStatus.checking and b,
                       "the check to be restarted and to end", second, timeout=60)
    assert checked.status == BatchStatus.ready, f"{checked.status}: {checked.message}\n{second.log_tail()}"
    assert (checked.rows, checked.error_count, checked.check_attempts) == (ROWS, 0, 2)
    with app.app_context():
        [run] = db.session.scalars(select(JobRun).where(JobRun.kind == "migration.check")).all()
    assert (run.state, run.attempts) == (JobState.succeeded, 2)
    with app.app_context():  # the killed attempt is out of RQ's started registry: RQ will not deliver it again
        assert get_queue().started_job_registry.get_job_ids(cleanup=False) == []
    print(f"killed → second attempt started after {(run.started_at - killed_at).total_seconds():.1f} s "
          f"(stale limit {FAST['JOB_STALE_SECONDS']} s, tick {FAST['PORTAL_WORKER_MAINTENANCE_SECONDS']} s)")
