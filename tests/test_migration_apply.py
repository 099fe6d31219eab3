"""Applying a migration batch (issue 15, items 4 and 6): in short transactions that hold up nothing else in the
service, with its progress and heartbeat committed as it goes, and exact however often it is stopped and run again.

The apply is held in the middle (in the insert of a chunk, before that chunk commits) by wrapping
`migration._insert_numbered`; what must not wait for it runs in other threads, each through its own connection.
"""
from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

import pytest
from flask_babel import force_locale
from sqlalchemy import func, select, update

from jobs.migration import apply_now, check_now
from portal.extensions import db
from portal.models import BatchStatus, CtiAgent, MigrationBatch, Organization, Service, Ticket
from portal.services import Actor, cti, cti_events, migration
from portal.services.contracts import current_contract, sign_contract
from portal.services.migration_files import template_workbook
from portal.services.organizations import rotate_api_key
from portal.services.ticket_fields import fields_of
from tests.conftest import csrf_token
from tests.migration_files import fill
from tests.threads import run_together

EN = {"Accept-Language": "en"}
ROWS, CHUNK = 100, 40  # three chunks: 40, 40, 20
T0 = datetime.now(timezone.utc) - timedelta(hours=1)


def ticket_rows(n: int, tag: str = "") -> list[list]:
    """`n` valid rows for the 14 system columns, every other one assigned to the agent."""
    return [[f"Ticket {tag}{i}", None, None, None, None, f"Customer {i}", None, None, "agt" if i % 2 else None,
             None, None, f"EXT-{tag}{i}", None, None] for i in range(n)]


@pytest.fixture
def desk(make, app, monkeypatch):
    """A service with an agent who takes calls (CTI on, an API key) and a contract signed yesterday (so it can be
    changed today), applied in chunks of CHUNK rows."""
    monkeypatch.setattr(migration, "APPLY_CHUNK", CHUNK, raising=False)
    org = make.org(domain="acme")
    service = make.service(org, "desk", name="Desk")
    agent = make.member(org, "agt", name="Agent A")
    make.place(service, agent, ticket=True, chat=True, phone=True)
    with app.app_context():
        svc = db.session.get(Service, service.id)
        sign_contract(Actor(org.id, None), svc, {"base.seat": 2, "ticket.phone_cti": 2}, base_version=None,
                      now=datetime.now(timezone.utc) - timedelta(days=1))
        cti.set_toggle(Actor(org.id, None), svc, "log_monitoring", True)
        db.session.add(CtiAgent(organization_id=org.id, member_id=agent.id, cti_id="agt01", cti_number="7001"))
        key = rotate_api_key(Actor(org.id, None), db.session.get(Organization, org.id))
        db.session.commit()
    return {"org": org, "service": service, "agent": agent, "key": key, "admin": make.admin_of(org)}


def reserved_batch(app, desk, rows: list[list], name: str = "tickets.xlsx") -> int:
    """Upload, check and confirm a file of `rows`, as the page and the check job do."""
    with app.app_context():
        service = db.session.get(Service, desk["service"].id)
        data = fill(template_workbook(service, fields_of(service), "en"), rows)
        batch = migration.upload(Actor(desk["org"].id, None), service, name, data)
        db.session.commit()
        assert check_now(batch.id).status == BatchStatus.ready
        db.session.commit()
        migration.confirm(Actor(desk["org"].id, None), db.session.get(MigrationBatch, batch.id))
        db.session.commit()
        return batch.id


def batch_of(app, batch_id: int) -> MigrationBatch:
    with app.app_context():  # a session, and so a connection, of its own
        batch = db.session.get(MigrationBatch, batch_id)
        db.session.expunge(batch)
        return batch


def hold_in_the_middle(monkeypatch, while_held):
    """Run `while_held()` once, inside the insert of the chunk that holds the file's middle rows (or of the only
    chunk, when the apply makes one), before that chunk commits."""
    real, calls = migration._insert_numbered, []

    def insert_numbered(*args, **kwargs):
        rows = next(a for a in args if isinstance(a, list))
        inserted = real(*args, **kwargs)
        calls.append(len(rows))
        if rows[0]["source_row"] <= ROWS // 2 + 1 <= rows[-1]["source_row"]:
            while_held()
        return inserted

    monkeypatch.setattr(migration, "_insert_numbered", insert_numbered)
    return calls


def answer_calls(service_id: int, calls) -> None:
    """Inbound calls answered, one transaction each: each opens a ticket with the next number of the service."""
    service = db.session.get(Service, service_id)
    for n in calls:
        for kind, second in (("inbound_ringing", 0), ("answered", 1)):
            cti_events.ingest(service, {"kind": kind, "event_id": f"{n}-{kind}", "call_id": f"c{n}", "direction": "IB",
                                        "occurred_at": (T0 + timedelta(seconds=10 * n + second)).isoformat()})
        db.session.commit()


def numbers(app, service_id: int) -> list[int]:
    with app.app_context():
        return sorted(db.session.scalars(select(Ticket.number).where(Ticket.service_id == service_id)))


def batch_tickets(app, batch_id: int) -> tuple[int, int, int, int]:
    """(tickets, distinct source rows, lowest and highest source row) of the batch."""
    with app.app_context():
        return tuple(db.session.execute(select(
            func.count(), func.count(func.distinct(Ticket.source_row)), func.min(Ticket.source_row),
            func.max(Ticket.source_row)).where(Ticket.source_batch_id == batch_id)).one())


def test_while_an_apply_runs_calls_contract_edits_and_deletions_in_its_service_do_not_wait(
        desk, app, login_as, monkeypatch):
    """Held in the middle of a chunk (its tickets inserted, not committed), the apply keeps nobody waiting: a CTI
    call that opens a ticket, a contract change, deleting another reserved batch of the service and trying to
    delete the batch being applied all finish while it is held, each through its own connection."""
    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            pytest.skip("SQLite has one writer at a time: every write waits for the chunk being written")
    applying = reserved_batch(app, desk, ticket_rows(ROWS))
    other = reserved_batch(app, desk, ticket_rows(3, "b"), name="other.xlsx")
    admin = login_as(desk["admin"])
    token = csrf_token(admin, "/admin/migrations")
    outcome: dict[str, object] = {}

    def call():
        events = [{"kind": "inbound_ringing", "event_id": "ring", "occurred_at": T0.isoformat(), "cti_id": "agt01",
                   "call_id": "c1", "direction": "IB", "counterpart": "01012345678"},
                  {"kind": "answered", "event_id": "answer", "occurred_at": (T0 + timedelta(seconds=5)).isoformat(),
                   "cti_id": "agt01", "call_id": "c1"}]
        response = app.test_client().post("/api/v1/cti/events", json={"service": "desk", "events": events},
                                          headers={"Authorization": f"Bearer {desk['key']}"})
        outcome["call"] = (response.status_code, [r["status"] for r in response.json["results"]])

    def contract_change():
        with app.app_context():
            service = db.session.get(Service, desk["service"].id)
            signed = sign_contract(Actor(desk["org"].id, None), service, {"base.seat": 3, "ticket.phone_cti": 2},
                                   base_version=current_contract(service).version)
            db.session.commit()
            outcome["contract"] = signed.version

    def delete(batch_id: int):
        response = admin.post(f"/admin/migrations/{batch_id}/delete", data={"csrf_token": token}, headers=EN)
        outcome[f"delete {batch_id}"] = response.status_code

    def while_held():
        outcome["seen while held"] = batch_of(app, applying).status
        try:
            run_together(lambda work: work(), (call,), (contract_change,), timeout=15)
            run_together(delete, (other,), (applying,), timeout=15)  # one client: one request at a time
        except AssertionError as exc:  # still waiting: reported below, after the apply let them go
            outcome["waiting"] = str(exc)

    hold_in_the_middle(monkeypatch, while_held)
    with app.app_context():
        done = apply_now(applying, force=True)
        assert done is not None and done.status == BatchStatus.completed
    assert "waiting" not in outcome, outcome["waiting"]
    assert outcome["seen while held"] == BatchStatus.applying
    assert outcome["call"] == (200, ["stored", "stored"]) and outcome["contract"] == 2
    assert outcome[f"delete {other}"] == 303 and batch_of(app, other).status == BatchStatus.deleted
    assert batch_of(app, applying).status == BatchStatus.completed  # the refused deletion changed nothing
    assert numbers(app, desk["service"].id) == list(range(1, ROWS + 2))  # the call's ticket among the batch's
    assert batch_tickets(app, applying) == (ROWS, ROWS, 2, ROWS + 1)


def test_the_apply_shows_its_progress_while_it_runs_also_from_the_command_line(desk, app, login_as, runner,
                                                                                 monkeypatch):
    """`flask migration apply-due --now` applies as the worker does: another connection sees the batch applying,
    its tickets so far, progress and a fresh heartbeat, and the batch page shows a progress bar that polls."""
    batch_id = reserved_batch(app, desk, ticket_rows(ROWS))
    admin = login_as(desk["admin"])
    started = datetime.now(timezone.utc)
    seen: dict[str, object] = {}

    def while_held():
        batch = batch_of(app, batch_id)
        seen["status"] = batch.status
        seen["batch"] = (batch.status, batch.applied_rows, batch.progress)
        seen["heartbeat"] = batch.heartbeat_at
        seen["tickets"] = batch_tickets(app, batch_id)[0]

        def pages():  # in a thread of its own: a request in this one would share the CLI's app context and session
            seen["page"] = admin.get(f"/admin/migrations/{batch_id}", headers=EN).get_data(as_text=True)
            seen["list"] = admin.get("/admin/migrations", headers=EN).get_data(as_text=True)

        run_together(pages, ())

    hold_in_the_middle(monkeypatch, while_held)
    result = runner.invoke(args=["migration", "apply-due", "--now"])
    assert seen["status"] == BatchStatus.applying
    assert seen["batch"] == (BatchStatus.applying, CHUNK, CHUNK * 100 // ROWS)
    assert "Applied 1 batch(es): completed" in result.output, result.output
    assert seen["heartbeat"] is not None and seen["heartbeat"] >= started
    assert seen["tickets"] == CHUNK  # the first chunk is committed; the one being written is not seen
    page = seen["page"]
    assert "Applying" in page and 'id="apply-progress"' in page and f'value="{CHUNK * 100 // ROWS}"' in page
    assert "40 of 100 tickets created." in page and 'hx-trigger="load delay:700ms"' in page
    row = seen["list"].split(f'id="batch-{batch_id}"')[1].split("</tr>")[0]
    assert "Applying" in row and "40 of 100 tickets created." in row and "disabled" in row  # no Delete
    done = batch_of(app, batch_id)
    assert (done.status, done.created_tickets, done.applied_rows, done.progress) == (BatchStatus.completed, ROWS,
                                                                                    ROWS, 100)


class Killed(BaseException):
    """The worker dies here: nothing after it runs, its open transaction is lost (not an Exception, so no handler
    of the apply sees it)."""


@pytest.mark.parametrize("killed_at", range(1, 8))
def test_an_apply_killed_anywhere_and_run_again_creates_every_row_once_with_unique_numbers(desk, app, runner,
                                                                                           killed_at):
    """The apply's commits are: the fixed fields and assignees, then per chunk its reserved numbers and its
    tickets (3 chunks: commits 1–7). Killed before any of them, and calls taking numbers meanwhile, the sweep
    continues it once its heartbeat is stale: every row is one ticket, the numbers are 1…N without a gap."""
    batch_id = reserved_batch(app, desk, ticket_rows(ROWS))
    service_id = desk["service"].id
    with app.app_context():
        run = migration.claim_apply(batch_id, force=True)
        db.session.commit()
        commits = []

        def checkpoint():
            if len(commits) + 1 == killed_at:
                raise Killed()
            db.session.commit()
            commits.append(len(commits) + 1)

        with pytest.raises(Killed):
            migration.apply(batch_id, run, checkpoint)
        db.session.rollback()  # what the database does with a dead connection's transaction
        answer_calls(service_id, range(2))  # calls open tickets meanwhile
    stopped = batch_of(app, batch_id)
    assert stopped.status == BatchStatus.applying
    assert "Applied 0 batch(es)" in runner.invoke(args=["migration", "apply-due"]).output  # its heartbeat is fresh
    with app.app_context():
        db.session.execute(update(MigrationBatch).where(MigrationBatch.id == batch_id).values(
            heartbeat_at=datetime.now(timezone.utc) - timedelta(hours=1)))
        db.session.commit()
    assert "Applied 1 batch(es): completed" in runner.invoke(args=["migration", "apply-due"]).output
    done = batch_of(app, batch_id)
    assert (done.status, done.created_tickets, done.applied_rows, done.numbers_count) == (
        BatchStatus.completed, ROWS, ROWS, 0)
    assert batch_tickets(app, batch_id) == (ROWS, ROWS, 2, ROWS + 1)
    assert numbers(app, service_id) == list(range(1, ROWS + 3))
    assert "Applied 0 batch(es)" in runner.invoke(args=["migration", "apply-due", "--now"]).output
    assert batch_tickets(app, batch_id)[0] == ROWS


def test_a_run_taken_for_dead_stops_without_writing_beside_the_one_that_took_over(desk, app):
    """A run so slow that its heartbeat went stale is taken over by another; when it wakes up it writes nothing
    more (its chunk is rolled back), and the batch ends with every row once."""
    batch_id = reserved_batch(app, desk, ticket_rows(ROWS))
    with app.app_context():
        first_run = migration.claim_apply(batch_id, force=True)
        db.session.commit()
        commits = []

        def checkpoint():
            db.session.commit()
            commits.append(1)
            if len(commits) == 3:  # the first chunk is committed: the run stalls, and another takes over
                later = datetime.now(timezone.utc) + timedelta(hours=1)
                with app.app_context():  # another session and connection, as another worker
                    second_run = migration.claim_apply(batch_id, later)
                    db.session.commit()
                    assert second_run == first_run + 1
                    migration.apply(batch_id, second_run, db.session.commit)
                    db.session.commit()

        with pytest.raises(migration.ApplyTakenOver):
            migration.apply(batch_id, first_run, checkpoint)
        db.session.rollback()
    done = batch_of(app, batch_id)
    assert (done.status, done.created_tickets, done.apply_runs) == (BatchStatus.completed, ROWS, 2)
    assert batch_tickets(app, batch_id) == (ROWS, ROWS, 2, ROWS + 1)
    assert numbers(app, desk["service"].id) == list(range(1, ROWS + 1))


def test_two_batches_of_one_service_applied_at_once_number_every_ticket_once(desk, app):
    """Two workers apply two batches of the same service at the same moment while calls open tickets: every row
    is one ticket and the service's numbers are 1…N, each given once."""
    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            pytest.skip("SQLite runs one writer at a time: nothing happens at once")
    batches = [reserved_batch(app, desk, ticket_rows(ROWS, tag), name=f"{tag}.xlsx") for tag in "ab"]
    barrier = threading.Barrier(3)

    def work(what):
        with app.app_context():
            barrier.wait(timeout=30)
            if what == "calls":
                answer_calls(desk["service"].id, range(10))
            else:
                assert apply_now(what, force=True).status == BatchStatus.completed

    run_together(work, (batches[0],), (batches[1],), ("calls",), barrier=barrier, timeout=60)
    for batch_id in batches:
        assert batch_tickets(app, batch_id) == (ROWS, ROWS, 2, ROWS + 1)
    assert numbers(app, desk["service"].id) == list(range(1, 2 * ROWS + 11))


def test_an_assignee_removed_after_the_check_fails_the_apply_before_any_ticket(desk, app, runner):
    """The check found the assignees; one who left the service since makes the apply fail whole, naming them,
    instead of stopping half-way at the first row that names them."""
    from portal.models import ServiceMember

    batch_id = reserved_batch(app, desk, ticket_rows(ROWS))
    assert batch_of(app, batch_id).assignees == {"agt": desk["agent"].id}
    with app.app_context():
        db.session.execute(ServiceMember.__table__.delete().where(ServiceMember.member_id == desk["agent"].id))
        db.session.commit()
    assert "Applied 1 batch(es): failed" in runner.invoke(args=["migration", "apply-due", "--now"]).output
    failed = batch_of(app, batch_id)
    assert failed.status == BatchStatus.failed and failed.applied_rows == 0
    with app.app_context(), force_locale("ko"):
        assert "agt" in migration.batch_message(failed) and "더 이상" in migration.batch_message(failed)
    assert batch_tickets(app, batch_id)[0] == 0
