"""A job whose worker stops says so and goes on: a running job keeps a heartbeat in its row; a run, a check or an
apply whose heartbeat went stale (the worker was killed) is run again by the reconciler within the stale limit and
one worker tick, with no sweep and nobody uploading again; until then its page says when the worker stopped and
when it will be retried (or that it was given up), and its poll slows down and ends."""
from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from rq import SimpleWorker
from rq.job import JobStatus
from sqlalchemy import select, update

from jobs import job
from jobs.scheduling import reconcile as reconcile_job
from portal.extensions import db
from portal.models import BatchStatus, JobRun, JobState, JobStop, MigrationBatch, Service
from portal.queue import get_queue, get_redis
from portal.services import jobs as job_runs
from portal.services.jobs import reconcile, rq_job_id_of, start_job
from tests.test_migration import GOOD, setup, template, upload  # noqa: F401 (setup is a fixture)
from tests.test_migration_kill import ROWS, batch_row, filled, rows, wait_for, workers  # noqa: F401 (a fixture)
from tests.migration_files import fill

EN, KO = {"Accept-Language": "en"}, {"Accept-Language": "ko"}


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
    with app.app_context():  # once RQ is done with the job, no killed attempt is left for RQ to deliver again
        job_ = get_queue().fetch_job(rq_job_id_of(run.id))
        wait_for(lambda: job_.get_status(refresh=True) == JobStatus.FINISHED, "RQ to finish the job", second)
        assert get_queue().started_job_registry.get_job_ids(cleanup=False) == []
    print(f"killed → second attempt started after {(run.started_at - killed_at).total_seconds():.1f} s "
          f"(stale limit {FAST['JOB_STALE_SECONDS']} s, tick {FAST['PORTAL_WORKER_MAINTENANCE_SECONDS']} s)")


# -- what the pages say ------------------------------------------------------------------------------------------

def _batch(app, setup, *, status=BatchStatus.checking, attempts=1, silent=timedelta(seconds=70)) -> int:
    """A batch whose worker stopped `silent` ago, in `status`, after `attempts` checks."""
    response = upload(setup["client"], fill(template(setup["client"]), GOOD))
    batch_id = int(response.headers["Location"].rsplit("/", 1)[1])
    with app.app_context():
        get_queue().empty()
        db.session.execute(update(MigrationBatch).where(MigrationBatch.id == batch_id).values(
            status=status, check_attempts=attempts, progress=32,
            heartbeat_at=datetime.now(timezone.utc) - silent))
        db.session.commit()
    return batch_id


def _clock(app, setup, batch_id: int, later: timedelta = timedelta(0)) -> tuple[str, str]:
    """The batch's last heartbeat, `later` on, as HH:MM in its service's time zone, and the zone."""
    with app.app_context():
        zone = db.session.get(Service, setup["service"].id).time_zone
        beat = db.session.get(MigrationBatch, batch_id).heartbeat_at
    return (beat + later).astimezone(ZoneInfo(zone)).strftime("%H:%M"), zone


def _status(client, batch_id: int, headers: dict) -> str:
    page = client.get(f"/admin/migrations/{batch_id}", headers=headers).get_data(as_text=True)
    return page.split('id="batch-status"')[1].split("</section>")[0]


def test_a_stopped_check_says_when_its_worker_stopped_and_when_it_is_retried_in_both_languages(setup, app):
    batch_id = _batch(app, setup)
    stopped, zone = _clock(app, setup, batch_id)
    retry, _ = _clock(app, setup, batch_id, timedelta(seconds=app.config["JOB_STALE_SECONDS"]
                                                      + app.config["WORKER_TICK_SECONDS"]))
    c = setup["client"]

    english = _status(c, batch_id, EN)
    assert f"The worker stopped at {stopped} ({zone}); it will be retried at about {retry}." in english
    assert "Attempt 1 of 3 stopped. You do not need to upload the file again." in english
    assert "Checking every row" not in english and "32%" not in english
    assert 'hx-trigger="load delay:10s"' in english  # still polling, slowly, until it is retried
    korean = _status(c, batch_id, KO)
    assert f"작업자가 {stopped}({zone})에 멈췄습니다. {retry}쯤 다시 시도합니다." in korean
    assert "3번 중 1번째 시도가 멈췄습니다. 파일을 다시 업로드하지 않아도 됩니다." in korean

    listed = c.get("/admin/migrations", headers=EN).get_data(as_text=True)
    row = listed.split(f'id="batch-{batch_id}"')[1].split("</tr>")[0]
    assert f"The worker stopped at {stopped} ({zone}); it will be retried at about {retry}." in row


def test_a_check_stopped_long_ago_is_being_retried_and_its_poll_ends(setup, app):
    batch_id = _batch(app, setup, attempts=2, silent=timedelta(hours=2))
    stopped, zone = _clock(app, setup, batch_id)
    status = _status(setup["client"], batch_id, EN)
    assert (f"The worker stopped at {stopped} ({zone}). It is being retried and goes on as soon as a worker is free."
            in status and "Attempt 2 of 3 stopped." in status)
    assert "hx-trigger" not in status and 'id="poll-ended"' in status


def test_a_check_stopped_three_times_says_it_was_given_up_in_both_languages(setup, app):
    batch_id = _batch(app, setup, attempts=3)
    stopped, zone = _clock(app, setup, batch_id)
    assert (f"The worker stopped at {stopped} ({zone}). It stopped 3 times, so it was given up."
            in _status(setup["client"], batch_id, EN))
    assert (f"작업자가 {stopped}({zone})에 멈췄습니다. 3번 멈춰서 더 이상 다시 시도하지 않습니다."
            in _status(setup["client"], batch_id, KO))
    with app.app_context():  # the reconciler ends it with its reason; the page stops polling
        assert reconcile_job()["migration"]["failed_checks"] == [batch_id]
    status = _status(setup["client"], batch_id, KO)  # written in the uploader's language: theirs is the home one
    assert "검사가 끝나지 않고 3번 중단되었습니다" in status and "hx-trigger" not in status


def test_a_check_that_has_not_started_is_waiting_not_stopped(setup, app):
    batch_id = _batch(app, setup, attempts=0)
    status = _status(setup["client"], batch_id, EN)
    assert 'id="check-waiting"' in status and "The worker stopped" not in status


def test_a_stopped_apply_says_its_worker_stopped_and_nothing_is_applied_twice(setup, app):
    batch_id = _batch(app, setup, status=BatchStatus.applying, attempts=1)
    stopped, zone = _clock(app, setup, batch_id)
    status = _status(setup["client"], batch_id, KO)
    assert f"작업자가 {stopped}({zone})에 멈췄습니다." in status and "같은 내용이 두 번 반영되지는 않습니다." in status
    assert 'hx-trigger="load delay:10s"' in status


def test_a_running_apply_shows_its_progress_and_polls(setup, app):
    batch_id = _batch(app, setup, status=BatchStatus.applying, silent=timedelta(seconds=1))
    status = _status(setup["client"], batch_id, EN)
    assert 'id="apply-progress"' in status and 'value="32"' in status and 'hx-trigger="load delay:700ms"' in status


def _check_run(batch_id: int) -> JobRun:
    return next(run for run in db.session.scalars(select(JobRun).where(JobRun.kind == "migration.check"))
                if run.args == [batch_id])


def test_the_reconciler_runs_again_every_check_and_apply_whose_worker_stopped(setup, app):
    five_minutes_ago = datetime.now(timezone.utc) - timedelta(minutes=5)
    killed = _batch(app, setup, silent=timedelta(minutes=5))  # its run: running, silent
    orphan = _batch(app, setup, silent=timedelta(minutes=5))  # its run failed, the batch is still checking
    from_cli = _batch(app, setup, status=BatchStatus.applying, silent=timedelta(minutes=5))  # no apply run
    with app.app_context():
        _check_run(killed).state, _check_run(killed).attempts = JobState.running, 1
        _check_run(killed).heartbeat_at = five_minutes_ago
        _check_run(orphan).state = JobState.failed
        _check_run(from_cli).state = JobState.succeeded
        db.session.commit()
        killed_run = _check_run(killed).id

        result = reconcile_job()
        assert result["restarted"] == [killed_run]  # its own run, again
        assert result["migration"] == {"restarted_checks": [orphan], "failed_checks": [],
                                       "restarted_applies": [from_cli]}  # new runs
        [apply_run] = db.session.scalars(select(JobRun).where(JobRun.kind == "migration.apply")).all()
        assert apply_run.args == [from_cli] and apply_run.state == JobState.pending
        assert rq_job_id_of(apply_run.id) in get_queue("scheduled").get_job_ids()
        [new_check] = job_runs.unfinished_runs("migration.check", [orphan])[orphan]
        assert get_queue().get_job_ids() == [rq_job_id_of(killed_run), rq_job_id_of(new_check.id)]

        again = reconcile_job()  # all of them wait for a worker now: nothing is started twice
        assert again["restarted"] == [] and again["migration"] == {
            "restarted_checks": [], "failed_checks": [], "restarted_applies": []}


def test_a_cti_export_whose_worker_stopped_says_so_and_one_given_up_stops_polling(make, login_as, app):
    org = make.org()
    service = make.service(org)
    admin = make.admin_of(org)
    client = login_as(admin)
    stopped_at = datetime.now(timezone.utc) - timedelta(seconds=70)
    with app.app_context():
        run = JobRun(kind="cti.log_export", organization_id=org.id, member_id=admin.id, state=JobState.running,
                     args=[service.id, "2026-01-01", "2026-01-01"], attempts=1, started_at=stopped_at,
                     heartbeat_at=stopped_at, progress=40)
        db.session.add(run)
        db.session.commit()
        run_id = run.id
        zone = db.session.get(Service, service.id).time_zone
    clock = stopped_at.astimezone(ZoneInfo(zone)).strftime("%H:%M")
    row = client.get(f"/me/cti-logs/exports/{run_id}", headers=EN).get_data(as_text=True)
    assert f"The worker stopped at {clock} ({zone}); it will be retried at about" in row
    assert 'hx-trigger="load delay:10s"' in row

    with app.app_context():
        db.session.execute(update(JobRun).where(JobRun.id == run_id).values(
            state=JobState.failed, stop=JobStop.given_up, attempts=3, finished_at=datetime.now(timezone.utc)))
        db.session.commit()
    row = client.get(f"/me/cti-logs/exports/{run_id}", headers=KO).get_data(as_text=True)
    assert f"작업자가 {clock}({zone})에 멈췄습니다. 3번 멈춰서 더 이상 다시 시도하지 않습니다." in row
    assert "hx-get" not in row


@pytest.mark.parametrize("silent, delay", [(timedelta(seconds=1), "800ms"), (timedelta(seconds=70), "10s"),
                                           (timedelta(hours=1), None)])
def test_a_waiting_export_polls_quickly_then_slowly_then_not_at_all(make, login_as, app, silent, delay):
    org = make.org()
    admin = make.admin_of(org)
    client = login_as(admin)
    with app.app_context():
        run = JobRun(kind="cti.log_export", organization_id=org.id, member_id=admin.id, state=JobState.pending,
                     args=[0, "2026-01-01", "2026-01-01"], created_at=datetime.now(timezone.utc) - silent)
        db.session.add(run)
        db.session.commit()
        run_id = run.id
    row = client.get(f"/me/cti-logs/exports/{run_id}", headers=EN).get_data(as_text=True)
    if delay:
        assert f'hx-trigger="load delay:{delay}"' in row
    else:
        assert "hx-get" not in row and "This page stopped refreshing by itself" in row
