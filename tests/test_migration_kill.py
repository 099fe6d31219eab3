"""Robustness of ticket migration against a worker killed mid-job: a real `rq worker` process, SIGKILL, restart.

A killed check is left "checking"; once its heartbeat is stale the sweep (`flask migration apply-due`) starts it
again and a fresh worker finishes it. A killed apply keeps the chunks it committed (the batch stays "applying", its
row cursor counting exactly the tickets there are) and loses the one it was writing; once its heartbeat is stale
the sweep run by a fresh worker continues it — every row exactly one ticket, numbered without a gap.

The workers build their own app from the environment (jobs._app_context), pointed at this test's database and
Redis. `KILL_TEST_ROWS` sets the file size (the check and the apply must outlast the kill).
"""
from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import func, select, text, update

from portal.extensions import db
from portal.models import BatchStatus, JobRun, MigrationBatch, Ticket
from portal.queue import get_queue
from portal.services.jobs import start_job
from tests.conftest import REDIS_URL, csrf_token

ROOT = Path(__file__).resolve().parent.parent
ROWS = int(os.environ.get("KILL_TEST_ROWS", "20000"))
EN = {"Accept-Language": "en"}


# -- the file ------------------------------------------------------------------------------------------------

def rows(n: int) -> list[list]:
    """`n` valid rows for the 14 system columns (no custom fields), every one distinct."""
    statuses, priorities, channels = ("unassigned", "resolved", "completed"), ("low", "normal", "high"), (
        "email", "web", "phone_ib")
    return [[f"Ticket {i}", f"Body of ticket {i}", statuses[i % 3], priorities[i % 3], channels[i % 3],
             f"Customer {i}", f"c{i}@example.com", "010-1234-5678", "agt" if i % 2 else None, "billing",
             "a, b", f"EXT-{i}", datetime(2025, 1, 1, 9, 0) + timedelta(minutes=i), None] for i in range(n)]


def filled(template: bytes, data: list[list]) -> bytes:
    """The template with `data` under its header, written with openpyxl's write-only mode (fast): every sheet
    of the template kept in order, hidden ones hidden; the ticket sheet's header row and then the rows."""
    source = load_workbook(io.BytesIO(template))
    out = Workbook(write_only=True)
    for ws in source.worksheets:
        copy = out.create_sheet(ws.title)
        copy.sheet_state = ws.sheet_state
        if ws.title == "tickets":
            copy.append([c.value for c in ws[1]])
            for row in data:
                copy.append(row)
        else:
            for row in ws.iter_rows(values_only=True):
                copy.append(row)
    buffer = io.BytesIO()
    out.save(buffer)
    return buffer.getvalue()


# -- real worker processes -----------------------------------------------------------------------------------

def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


class WorkerProcess:
    """`rq worker … default scheduled` in its own session. rq forks a work horse per job and the horse
    calls setpgrp(), so killing means: the worker's process group, and every descendant by pid."""

    def __init__(self, database_url: str, log_path: Path, burst: bool = False, worker_class: str | None = None,
                 env: dict[str, str] | None = None):
        rq_script = Path(sys.executable).parent / "rq"
        command = [str(rq_script)] if rq_script.exists() else [sys.executable, "-c", "from rq.cli import main; main()"]
        command += ["worker", "--url", REDIS_URL, "--path", str(ROOT)] + (["--burst"] if burst else [])
        command += (["-w", worker_class] if worker_class else []) + ["default", "scheduled"]
        env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": REDIS_URL, "RATELIMIT_STORAGE_URI": REDIS_URL,
               "PASSWORD_HASH_PROFILE": "fast", "PORTAL_DOTENV": "/dev/null", "MAIL_SERVER": "",
               "PYTHONUNBUFFERED": "1", **(env or {})}
        self.log_path = log_path
        self.log = open(log_path, "ab")
        self.proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        self.killed: list[int] = []

    def log_tail(self, lines: int = 40) -> str:
        self.log.flush()
        text_ = self.log_path.read_text(errors="replace").splitlines()
        return f"--- {self.log_path.name} ---\n" + "\n".join(text_[-lines:])

    def exited(self) -> int | None:
        return self.proc.poll()

    def kill(self) -> list[int]:
        """SIGKILL the worker and its work horse(s) at once; returns the pids that were killed."""
        pids = [self.proc.pid] + _descendants(self.proc.pid)
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.wait(timeout=10)
        deadline = time.monotonic() + 10
        while any(_alive(pid) for pid in pids) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not any(_alive(pid) for pid in pids), f"processes {pids} survived SIGKILL"
        self.killed = pids
        return pids

    def wait(self, timeout: float) -> int:
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"worker still running after {timeout}s\n{self.log_tail()}")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.kill()
        self.log.close()


def wait_for(predicate, what: str, worker: WorkerProcess | None = None, timeout: float = 20.0, every: float = 0.02):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if worker is not None and worker.exited() is not None:
            pytest.fail(f"worker exited ({worker.exited()}) before {what}\n{worker.log_tail()}")
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}\n" + (worker.log_tail() if worker else ""))
        time.sleep(every)


# -- the test ------------------------------------------------------------------------------------------------

@pytest.fixture
def workers(tmp_path, database_url):
    started: list[WorkerProcess] = []

    def start(name: str, burst: bool = False, **options) -> WorkerProcess:
        worker = WorkerProcess(database_url, tmp_path / f"{name}.log", burst=burst, **options)
        started.append(worker)
        return worker

    yield start
    for worker in started:  # before the conftest empties the database (TRUNCATE waits for their locks)
        worker.close()


def batch_row(app, batch_id: int) -> MigrationBatch:
    with app.app_context():
        batch = db.session.get(MigrationBatch, batch_id)
        db.session.expunge(batch)
        return batch


def tickets_of(app, batch_id: int) -> tuple[int, int, int, int | None, int | None]:
    """(tickets, distinct source rows, distinct numbers, lowest and highest source row) of the batch."""
    with app.app_context():
        return db.session.execute(select(
            func.count(), func.count(func.distinct(Ticket.source_row)), func.count(func.distinct(Ticket.number)),
            func.min(Ticket.source_row), func.max(Ticket.source_row),
        ).where(Ticket.source_batch_id == batch_id)).one()


def _ticket_writer_pid(app) -> int | None:
    """PostgreSQL: the backend (not ours) that has inserted into ticket in a transaction still open."""
    with app.app_context():
        return db.session.scalar(text(
            "SELECT pid FROM pg_locks WHERE relation = 'ticket'::regclass AND mode = 'RowExclusiveLock' "
            "AND granted AND pid <> pg_backend_pid() LIMIT 1"))


def _backend_gone(app, pid: int) -> bool:
    with app.app_context():
        return not db.session.scalar(text("SELECT count(*) FROM pg_stat_activity WHERE pid = :pid"), {"pid": pid})


def test_a_killed_worker_leaves_a_clear_batch_and_no_ticket_twice_or_lost(make, login_as, app, runner, workers,
                                                                          database_url):
    org = make.org(domain="acme")
    service = make.service(org, "desk", name="Desk")
    make.place(service, make.member(org, "agt", name="Agent A"))
    client = login_as(make.admin_of(org))
    template = client.get("/admin/migrations/template/desk.xlsx", headers=EN).data
    response = client.post("/admin/migrations/new", headers=EN, content_type="multipart/form-data", data={
        "csrf_token": csrf_token(client, "/admin/migrations/new"), "service": "desk",
        "file": (io.BytesIO(filled(template, rows(ROWS))), "tickets.xlsx")})
    assert response.status_code == 303, response.get_data(as_text=True)[:300]
    batch_id = int(response.headers["Location"].rsplit("/", 1)[1])  # the check job is on the default queue
    with app.app_context():
        postgres = db.engine.dialect.name == "postgresql"

    # 1. Kill during the check, as soon as it has reported progress.
    first = workers("worker-1")
    wait_for(lambda: batch_row(app, batch_id).progress > 0, "the check to report progress", first)
    killed = first.kill()
    assert len(killed) >= 2, f"no work horse was running: {killed}\n{first.log_tail()}"
    left = batch_row(app, batch_id)
    assert left.status == BatchStatus.checking, f"the check ended before the kill ({left.status}); raise KILL_TEST_ROWS"
    assert 0 < left.progress < 100 and left.rows == 0

    # A fresh check is not started while the heartbeat is recent; once it is stale (the batch's and its run's:
    # the killed worker wrote both), the sweep restarts it.
    assert "restarted 0 check(s)" in runner.invoke(args=["migration", "apply-due"]).output
    with app.app_context():
        an_hour_ago = datetime.now(timezone.utc) - timedelta(hours=1)
        db.session.execute(update(MigrationBatch).where(MigrationBatch.id == batch_id).values(heartbeat_at=an_hour_ago))
        db.session.execute(update(JobRun).where(JobRun.kind == "migration.check").values(heartbeat_at=an_hour_ago))
        db.session.commit()
    assert "restarted 1 check(s)" in runner.invoke(args=["migration", "apply-due"]).output
    second = workers("worker-2", burst=True)
    assert second.wait(timeout=60) == 0, second.log_tail()
    checked = batch_row(app, batch_id)
    assert checked.status == BatchStatus.ready, f"{checked.status}: {checked.message}\n{second.log_tail()}"
    assert (checked.rows, checked.error_count, checked.progress) == (ROWS, 0, 100)

    # 2. Confirm, make it due, enqueue the apply now, and kill the worker in the middle of it.
    confirmed = client.post(f"/admin/migrations/{batch_id}/confirm",
                            data={"csrf_token": csrf_token(client, "/admin/migrations"), "understood": "on"})
    assert confirmed.status_code == 303 and batch_row(app, batch_id).status == BatchStatus.reserved
    with app.app_context():
        db.session.execute(update(MigrationBatch).where(MigrationBatch.id == batch_id).values(
            scheduled_for=datetime.now(timezone.utc) - timedelta(minutes=1)))
        start_job("migration.apply", batch_id, organization_id=org.id)
        db.session.commit()
    third = workers("worker-3")
    # Kill once a chunk is committed (another connection sees the cursor move) and, on PostgreSQL, the next
    # chunk's tickets are inserted in a transaction still open.
    wait_for(lambda: batch_row(app, batch_id).applied_rows > 0, "the apply to commit a chunk", third)
    writer = wait_for(lambda: _ticket_writer_pid(app), "the apply to insert tickets", third) if postgres else None
    third.kill()
    if writer:
        wait_for(lambda: _backend_gone(app, writer), "the killed worker's database session to end")
    stopped = batch_row(app, batch_id)
    assert stopped.status == BatchStatus.applying, (
        f"{stopped.status}: the apply was not killed in the middle; raise KILL_TEST_ROWS")
    assert 0 < stopped.applied_rows < ROWS and stopped.created_tickets is None
    assert tickets_of(app, batch_id)[0] == stopped.applied_rows  # the cursor counts exactly what is committed

    # A fresh apply does not take the batch while its heartbeat is recent; once it is stale, the sweep does.
    assert "Applied 0 batch(es)" in runner.invoke(args=["migration", "apply-due", "--now"]).output
    with app.app_context():
        db.session.execute(update(MigrationBatch).where(MigrationBatch.id == batch_id).values(
            heartbeat_at=datetime.now(timezone.utc) - timedelta(hours=1)))
        db.session.commit()

    # 3. A restarted worker runs the sweep (as the scheduler hands it over): the apply continues where it stopped.
    with app.app_context():
        get_queue("scheduled").enqueue("jobs.migration.sweep", job_timeout=3600)
    fourth = workers("worker-4", burst=True)
    assert fourth.wait(timeout=60) == 0, fourth.log_tail()
    done = batch_row(app, batch_id)
    assert done.status == BatchStatus.completed, f"{done.status}: {done.message}\n{fourth.log_tail()}"
    assert done.created_tickets == ROWS
    assert tickets_of(app, batch_id) == (ROWS, ROWS, ROWS, 2, ROWS + 1)
    with app.app_context():
        service_tickets = db.session.execute(select(func.count(), func.min(Ticket.number), func.max(Ticket.number))
                                             .where(Ticket.service_id == service.id)).one()
        assert tuple(service_tickets) == (ROWS, 1, ROWS)

    # Applying again (the killed apply job's retry, a second sweep) creates nothing.
    assert "Applied 0 batch(es)" in runner.invoke(args=["migration", "apply-due", "--now"]).output
    assert tickets_of(app, batch_id)[0] == ROWS
