"""The migration reads and validates its file once (issue 18, item 3): the check stages the valid rows, the apply
inserts from there. Shown by breaking the stored file after the check: the apply still creates every ticket, also
when it is killed and continued by the sweep; and the staged rows are gone once the batch ends, however it ends."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select, update

from jobs.migration import apply_now, check_now
from portal.extensions import db
from portal.models import BatchStatus, MigrationBatch, MigrationStagedChunk, Service, StoredFile, Ticket
from portal.services import Actor, migration, migration_staging, ticket_fields
from portal.services.migration_files import template_workbook
from portal.services.ticket_fields import fields_of
from tests.migration_files import fill
from tests.test_migration_apply import ROWS, batch_of, batch_tickets, desk, numbers, reserved_batch, ticket_rows

__all__ = ["desk"]  # the fixture, shared with test_migration_apply


def staged(app, batch_id: int) -> int:
    """Chunks staged for the batch."""
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(MigrationStagedChunk)
                                 .where(MigrationStagedChunk.batch_id == batch_id))


def break_the_file(app, batch_id: int) -> None:
    """The stored upload is no workbook any more: whatever reads it again fails."""
    with app.app_context():
        file_id = db.session.get(MigrationBatch, batch_id).file_id
        db.session.execute(update(StoredFile).where(StoredFile.id == file_id).values(data=b"not a workbook"))
        db.session.commit()


def test_the_apply_creates_the_tickets_from_the_check_without_reading_the_file_again(desk, app):
    """Every field as the check normalized it: texts, choices, tags, the assignee, a time in the service's zone."""
    rows = ticket_rows(ROWS)
    rows[0] = ["Printer on fire", "It smokes", "resolved", "high", "email", "Kim", "kim@example.com",
               "010-1111-2222", "AGT", "hardware", "fire, urgent", "OLD-1", "2025-12-01 09:30", "2025-12-02 10:00"]
    batch_id = reserved_batch(app, desk, rows)
    assert staged(app, batch_id) == 1
    break_the_file(app, batch_id)
    with app.app_context():
        done = apply_now(batch_id, force=True)
        assert (done.status, done.created_tickets) == (BatchStatus.completed, ROWS)
        first = db.session.scalars(select(Ticket).where(Ticket.source_batch_id == batch_id, Ticket.source_row == 2)
                                   ).one()
        assert (first.number, first.title, first.status.value, first.priority.value, first.channel.value) == (
            1, "Printer on fire", "resolved", "high", "email")
        assert (first.requester_email, first.tags, first.assignee_id, first.category) == (
            "kim@example.com", ["fire", "urgent"], desk["agent"].id, "hardware")
        assert first.created_at == datetime(2025, 12, 1, 0, 30, tzinfo=timezone.utc)  # 09:30 in Seoul
        assert first.closed_at == datetime(2025, 12, 2, 1, 0, tzinfo=timezone.utc)
        third = db.session.scalars(select(Ticket).where(Ticket.source_batch_id == batch_id, Ticket.source_row == 4)
                                    ).one()
        assert (third.status.value, third.channel.value, third.assignee_id, third.tags, third.custom) == (
            "unassigned", "migration", None, None, None)
        assert third.created_at == done.apply_started_at  # no time in the file: when the apply started
    assert batch_tickets(app, batch_id) == (ROWS, ROWS, 2, ROWS + 1)
    assert numbers(app, desk["service"].id) == list(range(1, ROWS + 1))
    assert staged(app, batch_id) == 0


def test_custom_fields_are_applied_from_the_check(desk, app):
    with app.app_context():
        service = db.session.get(Service, desk["service"].id)
        actor = Actor(desk["org"].id, None)
        ticket_fields.add_custom_field(actor, service, key="mood", type="multi_choice", label_ko="기분",
                                       label_en="Mood", choices="angry\ncalm")
        ticket_fields.add_custom_field(actor, service, key="due", type="date", label_ko="기한", label_en="Due")
        db.session.commit()
    batch_id = reserved_batch(app, desk, [["One", *[None] * 13, "angry, calm", "2026/01/31"],
                                          ["Two", *[None] * 13, None, None]])
    break_the_file(app, batch_id)
    with app.app_context():
        assert apply_now(batch_id, force=True).status == BatchStatus.completed
        custom = db.session.scalars(select(Ticket.custom).where(Ticket.source_batch_id == batch_id)
                                    .order_by(Ticket.source_row)).all()
    assert custom == [{"mood": ["angry", "calm"], "due": "2026-01-31"}, None]


class Killed(BaseException):
    """The worker dies here (see test_migration_apply)."""


@pytest.mark.parametrize("killed_at", [4, 7])
def test_a_killed_apply_is_continued_from_the_staged_rows(desk, app, runner, killed_at):
    """Killed after its first chunk (or with the last one's numbers reserved), with the file unreadable: the
    sweep continues the apply from what the check staged, every row once, numbers without a gap, and the staged
    rows dropped at the end."""
    batch_id = reserved_batch(app, desk, ticket_rows(ROWS))
    break_the_file(app, batch_id)
    with app.app_context():
        run = migration.claim_apply(batch_id, force=True)
        db.session.commit()
        commits = []

        def checkpoint():
            if len(commits) + 1 == killed_at:
                raise Killed()
            db.session.commit()
            commits.append(1)

        with pytest.raises(Killed):
            migration.apply(batch_id, run, checkpoint)
        db.session.rollback()
        db.session.execute(update(MigrationBatch).where(MigrationBatch.id == batch_id).values(
            heartbeat_at=datetime.now(timezone.utc) - timedelta(hours=1)))
        db.session.commit()
    assert 0 < batch_of(app, batch_id).applied_rows < ROWS and staged(app, batch_id) == 1
    assert "Applied 1 batch(es): completed" in runner.invoke(args=["migration", "apply-due"]).output
    assert batch_tickets(app, batch_id) == (ROWS, ROWS, 2, ROWS + 1)
    assert numbers(app, desk["service"].id) == list(range(1, ROWS + 1))
    assert staged(app, batch_id) == 0


def test_a_check_killed_after_staging_rows_starts_over_and_stages_each_row_once(desk, app, monkeypatch):
    monkeypatch.setattr(migration, "PROGRESS_EVERY", 10)
    monkeypatch.setattr(migration_staging, "STAGE_CHUNK", 7)
    with app.app_context():
        service = db.session.get(Service, desk["service"].id)
        data = fill(template_workbook(service, fields_of(service), "en"), ticket_rows(ROWS))
        batch_id = migration.upload(Actor(desk["org"].id, None), service, "tickets.xlsx", data).id
        db.session.commit()
        commits = []

        def checkpoint():
            db.session.commit()
            commits.append(1)
            if len(commits) == 3:
                raise Killed()

        batch = migration.begin_check(batch_id)
        db.session.commit()
        with pytest.raises(Killed):
            migration.check(batch, checkpoint)
        db.session.rollback()
    assert staged(app, batch_id) > 0 and batch_of(app, batch_id).status == BatchStatus.checking
    with app.app_context():
        assert check_now(batch_id).status == BatchStatus.ready
        db.session.commit()
        assert db.session.scalar(select(func.sum(MigrationStagedChunk.rows))
                                 .where(MigrationStagedChunk.batch_id == batch_id)) == ROWS
        migration.confirm(Actor(desk["org"].id, None), db.session.get(MigrationBatch, batch_id))
        db.session.commit()
        assert apply_now(batch_id, force=True).status == BatchStatus.completed
    assert batch_tickets(app, batch_id) == (ROWS, ROWS, 2, ROWS + 1)


def test_staged_rows_are_gone_when_the_batch_is_deleted_or_fails_or_its_check_fails(desk, app, runner):
    deleted = reserved_batch(app, desk, ticket_rows(3, "d"), name="deleted.xlsx")
    failing = reserved_batch(app, desk, ticket_rows(3, "f"), name="failing.xlsx")
    assert staged(app, deleted) == staged(app, failing) == 1
    with app.app_context():
        migration.delete(Actor(desk["org"].id, None), db.session.get(MigrationBatch, deleted))
        db.session.commit()
    assert staged(app, deleted) == 0
    with app.app_context():  # a field added after the check: the apply refuses the batch whole
        service = db.session.get(Service, desk["service"].id)
        ticket_fields.add_custom_field(Actor(desk["org"].id, None), service, key="late", type="text",
                                       label_ko="늦음", label_en="Late")
        db.session.commit()
    assert "Applied 1 batch(es): failed" in runner.invoke(args=["migration", "apply-due", "--now"]).output
    failed = batch_of(app, failing)
    assert (failed.status, failed.message_code, failed.applied_rows) == (BatchStatus.failed, "fields_changed", 0)
    assert batch_tickets(app, failing)[0] == 0 and staged(app, failing) == 0
    with app.app_context():  # a file with one bad row among good ones stages nothing
        service = db.session.get(Service, desk["service"].id)
        rows = ticket_rows(3) + [[None] * 14 + ["late"]]
        data = fill(template_workbook(service, fields_of(service), "en"), rows)
        batch_id = migration.upload(Actor(desk["org"].id, None), service, "bad.xlsx", data).id
        db.session.commit()
        assert check_now(batch_id).status == BatchStatus.check_failed
        db.session.commit()
    assert staged(app, batch_id) == 0


def test_staged_rows_belong_to_the_batchs_organization(desk, app, make):
    """Another organization's batch of the same number of rows sees none of them: the apply reads staged rows by
    batch and organization."""
    batch_id = reserved_batch(app, desk, ticket_rows(3))
    other = make.org(domain="other")
    with app.app_context():
        chunk = db.session.scalars(select(MigrationStagedChunk).where(MigrationStagedChunk.batch_id == batch_id)).one()
        assert chunk.organization_id == desk["org"].id and chunk.rows == 3
        assert list(migration_staging.staged_rows(batch_id, other.id)) == []
        assert migration_staging.staged_count(batch_id, other.id, chunk.fingerprint) == 0
        assert [row[1] for row in migration_staging.staged_rows(batch_id, desk["org"].id)] == [
            "Ticket 0", "Ticket 1", "Ticket 2"]
