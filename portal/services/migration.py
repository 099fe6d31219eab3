"""Data migration (데이터 이관): upload → check (job) → confirm (reserve) → apply at 01:00 (job) → tickets.

State lives in the MigrationBatch row; jobs take ids and can run twice without doing the work twice. The file is
read and validated once, by the check, which stages the valid rows (services.migration_staging); the apply inserts
from there, and the staged rows are dropped when the batch ends.
"""
from __future__ import annotations

from datetime import datetime, time, timedelta, timezone
from itertools import islice
from time import monotonic
from typing import IO, Callable, Iterator
from zoneinfo import ZoneInfo

from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import and_, func, insert, or_, select, update

from portal import messages
from portal.extensions import db
from portal.models import (
    BatchStatus,
    FieldType,
    JobRun,
    JobStop,
    Member,
    MigrationBatch,
    Service,
    ServiceStatus,
    Ticket,
    TicketField,
)
from portal.models.base import utcnow
from portal.services import Actor, ServiceError, activity, assignment
from portal.services import jobs as job_runs
from portal.services import migration_staging as staging
from portal.services.migration_files import (
    ErrorReport,
    FileRefused,
    open_workbook,
    precheck,
    report_text,
    template_differences,
)
from portal.services.migration_rows import RowValidator, blank, members_of
from portal.services.storage import load, store
from portal.services.ticket_fields import fields_of, fingerprint
from portal.services.tickets import reserve_numbers
from portal.services.xlsx_writer import relabel

MAX_STORED_ERRORS = 200
MAX_CHECK_ATTEMPTS = 3  # a file that kills its worker every time is refused, not checked forever
PROGRESS_EVERY = 2000
APPLY_CHUNK = 1000  # rows per apply transaction: each holds nothing another request waits for, and commits progress
CHECK_JOB, APPLY_JOB = "migration.check", "migration.apply"


def read_rows(batch: MigrationBatch, service: Service, fields: list[TicketField],
              on_progress: Callable[[int], bool] | None = None, *, members: dict[str, int] | None = None,
              assigned: dict[str, int] | None = None):
    """Yield (row number, raw row, values, errors) for every non-blank data row of the batch's file.
    `on_progress(percent)` may return False to stop (the batch was deleted meanwhile). `members` and `assigned`:
    see RowValidator."""
    stored = load(batch.organization_id, batch.file_id)
    config = current_app.config
    precheck(stored.data, max_uncompressed=config["MIGRATION_MAX_UNPACKED_MB"] * 1024 * 1024)
    opened = open_workbook(stored.data, max_rows=config["MIGRATION_MAX_ROWS"])
    problems = template_differences(opened, service, fields)
    if problems:
        raise FileRefused.of("outdated_template", name=service.name, problems=problems)
    validator = RowValidator(service, fields, members, assigned)
    for done, (number, row) in enumerate(opened.rows, start=1):
        if on_progress and done % PROGRESS_EVERY == 0 and on_progress(int(opened.progress[0] * 100)) is False:
            return
        if blank(row):
            continue
        values, errors = validator.validate(row, number)
        yield number, row, values, errors


# -- the batch lifecycle ---------------------------------------------------------------------------------------

def upload(actor: Actor, service: Service, filename: str, data: bytes) -> MigrationBatch:
    """Store the file and open a batch in state checking (the caller enqueues the check job)."""
    if service.status in (ServiceStatus.terminated, ServiceStatus.draft):
        raise ServiceError(_("Tickets can be migrated only into a contracted, not terminated service."),
                           "service_closed")
    if not (filename or "").lower().endswith(".xlsx"):
        raise FileRefused.of("not_xlsx")
    stored = store(service.organization_id, purpose="migration_upload", filename=filename,
                   content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", data=data)
    batch = MigrationBatch(organization_id=service.organization_id, service_id=service.id, file_id=stored.id,
                           filename=filename[:255], uploader_id=actor.member_id, status=BatchStatus.checking,
                           heartbeat_at=utcnow())
    db.session.add(batch)
    db.session.flush()
    activity.record(actor.organization_id, actor.member_id, "migration.uploaded", subject_type="migration_batch",
                    subject_id=batch.id, subject_label=filename, details={"service": service.service_key,
                                                                          "bytes": len(data)}, ip=actor.ip)
    return batch


def begin_check(batch_id: int) -> MigrationBatch | None:
    """The batch if it still waits for its check (not deleted, not checked by an earlier delivery), with this
    attempt counted: the caller commits that at once, so a file that kills its worker counts too and the reconciler
    stops restarting it after MAX_CHECK_ATTEMPTS (a late delivery after the last one ends it instead of starting
    a fourth)."""
    batch = db.session.get(MigrationBatch, batch_id)
    if batch is None or batch.status != BatchStatus.checking:
        return None
    if batch.check_attempts >= MAX_CHECK_ATTEMPTS:
        _end_check(batch_id, "check_stopped", {"n": batch.check_attempts})
        return None
    batch.check_attempts += 1
    batch.heartbeat_at = utcnow()
    staging.clear(batch_id)  # what an earlier attempt staged before its worker stopped: this one stages anew
    db.session.flush()
    return batch


def check_beat(batch_id: int, now: datetime):
    """What a check job's heartbeat also marks alive: its batch, whose page and reconciler read the batch's own
    heartbeat (the rows' progress alone leaves it silent while a large file is opened)."""
    return update(MigrationBatch).where(MigrationBatch.id == batch_id, MigrationBatch.status == BatchStatus.checking
                                        ).values(heartbeat_at=now)


def check(batch: MigrationBatch, checkpoint: Callable[[], None] = lambda: None) -> MigrationBatch:
    """Validate every row of the batch's file. Errors → check_failed with an error report; otherwise ready, with
    the rows staged for the apply. Every PROGRESS_EVERY rows the rows staged so far are written, the progress and
    heartbeat set and `checkpoint()` is called (the job commits there); a batch deleted meanwhile is left deleted.
    Raises when the file is refused or breaks the check: the caller rolls back and ends it with
    `end_broken_check`, so a check always ends in a final state."""
    service = db.session.get(Service, batch.service_id)
    fields = fields_of(service)
    # Set with the result, not now: a write here would hold SQLite's write lock while the file is opened, and the
    # job's heartbeat (a transaction of its own) could not be written meanwhile.
    checked_fingerprint = fingerprint(fields)
    custom_keys = [f.key for f in fields if not f.system]
    stager = staging.Stager(batch.id, batch.organization_id, checked_fingerprint)

    def progress(percent: int) -> bool:
        db.session.refresh(batch, ["status"])
        if batch.status != BatchStatus.checking:
            return False
        stager.write()  # right before the commit: the write lock is held for it alone
        batch.progress, batch.heartbeat_at = max(0, min(99, percent)), utcnow()
        db.session.flush()
        checkpoint()
        return True

    rows = error_count = 0
    errors, assignees = [], {}
    report = ErrorReport(fields)
    for number, raw, values, row_errors in read_rows(batch, service, fields, progress, assigned=assignees):
        rows += 1
        if row_errors:
            error_count += 1
            report.add(number, raw, row_errors)
            errors.extend({"row": number, **error} for error in row_errors[:MAX_STORED_ERRORS - len(errors)])
            stager.stop()  # nothing of a file with errors is applied
        else:
            stager.add(staging.staged_row(number, values, custom_keys))
    db.session.refresh(batch, ["status"])
    if batch.status != BatchStatus.checking:  # deleted while being checked
        staging.drop_if_ended(batch.id)
        return batch
    batch.rows, batch.error_count, batch.errors, batch.progress = rows, error_count, errors, 100
    batch.assignees = assignees  # the apply makes sure they are still members before its first ticket
    batch.fingerprint, batch.finished_at = checked_fingerprint, utcnow()
    if rows == 0:
        batch.status, batch.message_code, batch.message_args = BatchStatus.check_failed, "no_rows", {}
    elif error_count:
        batch.status, batch.message_code = BatchStatus.check_failed, "row_errors"
        batch.message_args = {"bad": error_count, "rows": rows}
        batch.error_report_file_id = store(batch.organization_id, purpose="migration_errors",
                                           filename=f"errors-{batch.id}.xlsx", content_type="application/vnd."
                                           "openxmlformats-officedocument.spreadsheetml.sheet", data=report.save()).id
    else:
        batch.status, batch.message_code, batch.message_args = BatchStatus.ready, "ready", {"rows": rows}
        stager.write(final=True)
    db.session.flush()
    staging.drop_if_ended(batch.id)  # a failed check keeps nothing it staged
    return batch


def end_broken_check(batch_id: int, exc: Exception) -> MigrationBatch | None:
    """End a check that `exc` stopped, with a message: a refused file says why; anything else says that something
    in the file stopped the check (the exception is in the worker's log)."""
    if isinstance(exc, FileRefused) and exc.params is not None:
        return _end_check(batch_id, exc.code, exc.params)
    return _end_check(batch_id, "check_broken", {"id": batch_id})


def _end_check(batch_id: int, code: str, params: dict) -> MigrationBatch | None:
    """check_failed, saying `code` (portal.messages), unless the batch left the check meanwhile (deleted)."""
    db.session.execute(update(MigrationBatch).where(
        MigrationBatch.id == batch_id, MigrationBatch.status == BatchStatus.checking).values(
        status=BatchStatus.check_failed, message_code=code, message_args=params, progress=100,
        finished_at=utcnow()))
    staging.drop_if_ended(batch_id)
    return db.session.get(MigrationBatch, batch_id, populate_existing=True)


def next_one_am(service: Service, now: datetime | None = None) -> datetime:
    """01:00 of the next day in the service's time zone."""
    zone = ZoneInfo(service.time_zone)
    tomorrow = (now or utcnow()).astimezone(zone).date() + timedelta(days=1)
    return datetime.combine(tomorrow, time(1, 0), tzinfo=zone).astimezone(timezone.utc)


def confirm(actor: Actor, batch: MigrationBatch, now: datetime | None = None, *,
            assign_after_apply: bool = False) -> MigrationBatch:
    """Reserve a checked batch for 01:00 of the next day (service time zone). Guarded in the database. With
    `assign_after_apply` (only where the service assigns automatically) its unassigned tickets join the automatic
    assignment's queue once applied; otherwise they wait for a person (assignment.automatic)."""
    service = db.session.get(Service, batch.service_id)
    when = next_one_am(service, now)
    assign = bool(assign_after_apply and service.auto_assign)
    done = db.session.execute(
        update(MigrationBatch).where(MigrationBatch.id == batch.id, MigrationBatch.status == BatchStatus.ready)
        .values(status=BatchStatus.reserved, scheduled_for=when, assign_after_apply=assign)
    ).rowcount
    if done != 1:
        raise ServiceError(_("Only a checked batch without errors can be reserved."), "not_ready")
    db.session.refresh(batch)
    activity.record(actor.organization_id, actor.member_id, "migration.reserved", subject_type="migration_batch",
                    subject_id=batch.id, subject_label=batch.filename,
                    details={"scheduled_for": when.isoformat(), "assign_after_apply": assign}, ip=actor.ip)
    return batch


def delete(actor: Actor, batch: MigrationBatch) -> MigrationBatch:
    """Delete a reserved batch, dismiss a failed check, or stop a check in progress. Applied ones stay."""
    allowed = (BatchStatus.reserved, BatchStatus.check_failed, BatchStatus.ready, BatchStatus.checking)
    done = db.session.execute(
        update(MigrationBatch).where(MigrationBatch.id == batch.id, MigrationBatch.status.in_(allowed))
        .values(status=BatchStatus.deleted, finished_at=utcnow())
    ).rowcount
    if done != 1:
        raise ServiceError(_("Applied batches cannot be deleted."), "not_deletable")
    staging.drop_if_ended(batch.id)
    db.session.refresh(batch)
    activity.record(actor.organization_id, actor.member_id, "migration.deleted", subject_type="migration_batch",
                    subject_id=batch.id, subject_label=batch.filename, ip=actor.ip)
    return batch


class ApplyTakenOver(Exception):
    """Another run owns the apply now (this one was taken for dead): it stops without writing anything more."""


def claim_apply(batch_id: int, now: datetime | None = None, *, force: bool = False) -> int | None:
    """Take the batch's apply and return this run's number (what every later write of the run is guarded with), or
    None when there is nothing to take. A reserved batch whose time has come (any reserved one with `force`)
    becomes applying; an applying batch whose heartbeat stopped (its worker was killed, or its run gave it up
    with `release_apply`) is taken over where it stopped. One guarded UPDATE: two schedulers, a retry and a sweep
    cannot all own it. The caller commits at once, so the list says "applying" from the first moment."""
    now = now or utcnow()
    batch = db.session.get(MigrationBatch, batch_id)
    if batch is None:
        return None
    owned = update(MigrationBatch).where(MigrationBatch.id == batch_id).returning(MigrationBatch.apply_runs)
    if batch.status == BatchStatus.reserved:
        if not force and batch.scheduled_for and batch.scheduled_for > now:
            return None
        owned = owned.where(MigrationBatch.status == BatchStatus.reserved).values(
            status=BatchStatus.applying, apply_started_at=now, progress=0)
    elif batch.status == BatchStatus.applying:
        stale = job_runs.stale_before(now)
        owned = owned.where(MigrationBatch.status == BatchStatus.applying,
                            or_(MigrationBatch.heartbeat_at.is_(None), MigrationBatch.heartbeat_at < stale))
    else:
        return None
    run = db.session.execute(owned.values(apply_runs=MigrationBatch.apply_runs + 1, heartbeat_at=now)
                             .execution_options(synchronize_session=False)).scalar()
    db.session.expire(batch)
    return run


def apply(batch_id: int, run: int, checkpoint: Callable[[], None] = lambda: None) -> MigrationBatch:
    """Create the batch's tickets, APPLY_CHUNK rows at a time, and mark it completed; `run` is `claim_apply`'s.

    Nothing in the service waits for an apply. Each chunk is two short transactions, each ended by `checkpoint()`
    (the job commits there): the first reserves the chunk's ticket numbers from the service's counter
    (tickets.reserve_numbers: one UPDATE of the service row, held only until that commit) and records them on the
    batch; the second inserts the chunk with those numbers and moves the batch's row cursor (`applied_rows`),
    progress and heartbeat, without touching the service row. So the ticket list, the progress bar and a
    heartbeat reader see the apply advance, and calls, contract edits and deletions go on beside it.

    Exact whatever stops it: the tickets of a chunk and the cursor that counts them commit together, so a run
    killed at any point is continued by the next (`claim_apply` takes it over once its heartbeat is stale) from
    the first row that is not a ticket yet, and (batch, row) is unique on tickets besides. Numbers stay unique in
    the service (every range comes from the one counter) and leave no gap: a range reserved by a run that died
    before using it stays recorded on the batch and the next run uses it. The one gap possible is that range when
    the apply then fails for good before its first chunk (an unexpected error on the very first insert); a
    ticket number identifies a ticket, it does not count them, so that is acceptable, and numbers are never
    given twice. Every write is guarded by the run number, so a run taken over for dead (a very slow one) stops
    with ApplyTakenOver instead of writing beside its successor; two batches of one service apply side by side.

    Whole or not at all, as the check promised: the first run checks, before any ticket, that the fields did not
    change and that every assignee the check found is still a member of the service, and raises ServiceError
    (the caller records `apply_failed`) if not. It then fixes the fields and assignees on the batch, so a later
    run never fails half-way on a change made meanwhile. Tickets appear chunk by chunk while the batch shows
    "applying"."""
    started = monotonic()
    batch = db.session.get(MigrationBatch, batch_id)
    service = db.session.get(Service, batch.service_id)
    service_id = service.id
    if batch.applied_fields is None:
        _start(batch, service, run)
        checkpoint()
    done, total, first, reserved = batch.applied_rows, max(batch.rows, 1), batch.numbers_from, batch.numbers_count
    if staging.staged_count(batch_id, batch.organization_id, batch.fingerprint) == batch.rows:
        rows = _staged_tickets(batch, batch.apply_started_at, done)
    else:  # a batch checked before the check staged its rows: read and validate its file again
        fields = _fields_from(batch.applied_fields, service)
        rows = islice(_ticket_rows(batch, service, fields, batch.apply_started_at, batch.assignees), done, None)
    while chunk := list(islice(rows, reserved or APPLY_CHUNK)):
        if not reserved:
            first, reserved = _reserve(batch_id, service_id, run, len(chunk)), len(chunk)
            checkpoint()
        elapsed, started = monotonic() - started, monotonic()
        _owned(batch_id, run, MigrationBatch.applied_rows == done, MigrationBatch.numbers_count == reserved,
               applied_rows=done + len(chunk), numbers_from=None, numbers_count=0, heartbeat_at=utcnow(),
               progress=min(99, (done + len(chunk)) * 100 // total), duration_ms=_plus_ms(elapsed))
        _insert_numbered(chunk, first)
        checkpoint()
        done, reserved = done + len(chunk), 0
    _owned(batch_id, run, MigrationBatch.applied_rows == done, MigrationBatch.numbers_count == 0,
           status=BatchStatus.completed, created_tickets=done, finished_at=utcnow(), progress=100,
           heartbeat_at=utcnow(), duration_ms=_plus_ms(monotonic() - started), message_code="applied",
           message_args={"n": done})
    staging.drop_if_ended(batch_id)
    batch = db.session.get(MigrationBatch, batch_id, populate_existing=True)
    if batch.assign_after_apply:
        assignment.drain_later(batch.service_id)
    return batch


def _owned(batch_id: int, run: int, *conditions, **values) -> None:
    """UPDATE the batch, which must be applying and this run's (and meet `conditions`), or raise ApplyTakenOver."""
    done = db.session.execute(update(MigrationBatch).where(
        MigrationBatch.id == batch_id, MigrationBatch.status == BatchStatus.applying,
        MigrationBatch.apply_runs == run, *conditions).values(**values).execution_options(synchronize_session=False))
    if done.rowcount != 1:
        raise ApplyTakenOver()


def _plus_ms(seconds: float):
    """duration_ms counts the time runs spent applying, added up over a restart (not the time between them)."""
    return func.coalesce(MigrationBatch.duration_ms, 0) + int(seconds * 1000)


def _start(batch: MigrationBatch, service: Service, run: int) -> None:
    """Before the first ticket: the check's rules still hold, or the batch fails whole (ServiceError). Then what
    the rows are applied with is fixed on the batch for every run of this apply."""
    fields = fields_of(service)
    if fingerprint(fields) != batch.fingerprint:
        raise ServiceError.of("fields_changed", name=service.name)
    assignees = batch.assignees
    if assignees is None:  # checked before checks recorded the assignees: one pass over the file finds them
        assignees = {}
        for _row in _ticket_rows(batch, service, fields, utcnow(), None, assignees):
            pass
    members = members_of(service.id)
    gone = sorted(login for login, member_id in assignees.items() if members.get(login) != member_id)
    if gone:
        raise ServiceError.of("assignee_gone", logins=gone[:10], name=service.name)
    _owned(batch.id, run, MigrationBatch.applied_rows == 0, assignees=assignees,
           applied_fields=[[f.key, f.system, f.type.value, f.label_ko, f.label_en, f.required, f.choices]
                           for f in fields])
    db.session.expire(batch)


def _fields_from(snapshot: list, service: Service) -> list[TicketField]:
    """The ticket fields fixed on the batch, as (unsaved) TicketField objects for the reader and validator."""
    return [TicketField(organization_id=service.organization_id, service_id=service.id, key=key, system=system,
                        type=FieldType(type_), label_ko=label_ko, label_en=label_en, required=required,
                        choices=choices, position=position)
            for position, (key, system, type_, label_ko, label_en, required, choices) in enumerate(snapshot)]


def _reserve(batch_id: int, service_id: int, run: int, count: int) -> int:
    """Reserve `count` ticket numbers and record them on the batch: the batch row first (a run that lost the
    apply stops before it touches the counter), then the counter, so the service row is locked only for one
    UPDATE and this transaction's commit."""
    _owned(batch_id, run, MigrationBatch.numbers_count == 0, numbers_count=count, heartbeat_at=utcnow())
    first = reserve_numbers(service_id, count)
    _owned(batch_id, run, MigrationBatch.numbers_count == count, numbers_from=first)
    return first


def apply_failed(batch_id: int, run: int, exc: Exception) -> MigrationBatch | None:
    """Record why an apply failed before its first ticket (its transaction rolled back): a refusal's own
    message, else the exception. An apply with tickets already is never failed: it is continued."""
    if isinstance(exc, ServiceError) and exc.params is not None:
        code, params = exc.code, exc.params
    else:  # an unexpected error: its text is the program's (in English), not a message of ours
        code, params = "apply_error", {"error": f"{type(exc).__name__}: {exc}"[:500]}
    db.session.execute(update(MigrationBatch).where(
        MigrationBatch.id == batch_id, MigrationBatch.status == BatchStatus.applying,
        MigrationBatch.apply_runs == run, MigrationBatch.applied_rows == 0).values(
        status=BatchStatus.failed, finished_at=utcnow(), heartbeat_at=None, message_code=code,
        message_args=params))
    staging.drop_if_ended(batch_id)
    return db.session.get(MigrationBatch, batch_id, populate_existing=True)


def has_tickets(batch_id: int) -> bool:
    """The apply has committed tickets already: it can only be continued, not failed."""
    return bool(db.session.scalar(select(MigrationBatch.applied_rows).where(MigrationBatch.id == batch_id)))


def release_apply(batch_id: int, run: int) -> None:
    """This run stops (an error it cannot get past): the batch stays applying with a stopped heartbeat, so the
    next run (the job's retry, the sweep) continues it at once instead of waiting for the heartbeat to age."""
    db.session.execute(update(MigrationBatch).where(
        MigrationBatch.id == batch_id, MigrationBatch.status == BatchStatus.applying,
        MigrationBatch.apply_runs == run).values(heartbeat_at=None))


def _staged_tickets(batch: MigrationBatch, now: datetime, start: int) -> Iterator[dict]:
    """The rows the check staged, from the `start`-th on, as ticket values in file order."""
    # Read now: the caller commits between rows, which expires the ORM objects.
    constants = {"organization_id": batch.organization_id, "service_id": batch.service_id,
                 "source_batch_id": batch.id, "updated_at": now}

    def tickets():
        for row in staging.staged_rows(constants["source_batch_id"], constants["organization_id"], start):
            values = staging.ticket_values(row)
            values.update(constants)
            if values["created_at"] is None:
                values["created_at"] = now
            yield values

    return tickets()


def _ticket_rows(batch: MigrationBatch, service: Service, fields: list[TicketField], now: datetime,
                 members: dict[str, int] | None, assigned: dict[str, int] | None = None):
    """The file's rows as ticket values, in file order; a row that no longer passes the check raises. (Only for
    a batch checked before checks staged their rows.)"""
    custom_keys = [f.key for f in fields if not f.system]
    # Read once: the caller commits between rows, which expires the ORM objects.
    constants = {"organization_id": service.organization_id, "service_id": service.id, "source_batch_id": batch.id,
                 "updated_at": now}
    for row_number, _raw, values, errors in read_rows(batch, service, fields, members=members, assigned=assigned):
        if errors:
            raise ServiceError.of("row_invalid", row=row_number, error=errors[0])
        ticket = staging.ticket_values(staging.staged_row(row_number, values, custom_keys))
        ticket.update(constants)
        if ticket["created_at"] is None:
            ticket["created_at"] = now
        yield ticket


def _insert_numbered(rows: list[dict], first: int) -> int:
    """Insert the rows numbered from `first` on (numbers reserved for them): one Core executemany."""
    for offset, row in enumerate(rows):
        row["number"] = first + offset
    db.session.execute(insert(Ticket.__table__), rows)
    return len(rows)


def due_batches(now: datetime | None = None, *, force: bool = False) -> list[int]:
    """Reserved batches whose time has come (every reserved batch with `force`), and applies whose run stopped
    (heartbeat older than JOB_STALE_SECONDS, or given up): `claim_apply` takes each. (The reconciler restarts
    those sooner, see restart_stopped; this is the sweep's safety net.)"""
    now = now or utcnow()
    due = MigrationBatch.status == BatchStatus.reserved
    if not force:
        due = and_(due, MigrationBatch.scheduled_for <= now)
    stale = job_runs.stale_before(now)
    stopped = and_(MigrationBatch.status == BatchStatus.applying,
                   or_(MigrationBatch.heartbeat_at.is_(None), MigrationBatch.heartbeat_at < stale))
    return list(db.session.scalars(select(MigrationBatch.id).where(or_(due, stopped))
                                   .order_by(MigrationBatch.scheduled_for, MigrationBatch.id)))


def restart_stopped(now: datetime | None = None) -> dict[str, list[int]]:
    """Checks and applies whose worker stopped (the batch's heartbeat is stale: killed, lost) go on: the batch's
    run is restarted, or enqueued again when Redis lost it, or a new one started when it has none (a batch applied
    from the command line). A check that stopped MAX_CHECK_ATTEMPTS times is failed instead, with a message, so
    its page stops waiting; an apply whose run was given up is left for the operator. The caller commits."""
    now = now or utcnow()
    stopped = db.session.execute(select(
        MigrationBatch.id, MigrationBatch.status, MigrationBatch.check_attempts, MigrationBatch.organization_id,
        MigrationBatch.uploader_id).where(MigrationBatch.status.in_([BatchStatus.checking, BatchStatus.applying]),
                                          MigrationBatch.heartbeat_at < job_runs.stale_before(now))
        .order_by(MigrationBatch.id)).all()
    checks = job_runs.unfinished_runs(CHECK_JOB, [b.id for b in stopped if b.status == BatchStatus.checking])
    applies = job_runs.unfinished_runs(APPLY_JOB, [b.id for b in stopped if b.status == BatchStatus.applying])
    outcome: dict[str, list[int]] = {"restarted_checks": [], "failed_checks": [], "restarted_applies": []}
    for batch in stopped:
        checking = batch.status == BatchStatus.checking
        runs = (checks if checking else applies).get(batch.id, [])
        if checking and batch.check_attempts >= MAX_CHECK_ATTEMPTS:
            if not job_runs.any_alive(runs, now):
                _end_check(batch.id, "check_stopped", {"n": batch.check_attempts})
                outcome["failed_checks"].append(batch.id)
            continue
        if not checking and not runs and _apply_given_up(batch.id):
            continue
        done = job_runs.keep_going(runs, now)
        if done is None:
            job_runs.start_job(CHECK_JOB if checking else APPLY_JOB, batch.id, organization_id=batch.organization_id,
                               member_id=batch.uploader_id)
            done = "restarted"
        if done == "restarted":
            outcome["restarted_checks" if checking else "restarted_applies"].append(batch.id)
    return outcome


def _apply_given_up(batch_id: int) -> bool:
    """An apply run of this batch stopped on each of its attempts and was given up."""
    return any(run.args and run.args[0] == batch_id for run in db.session.scalars(
        select(JobRun).where(JobRun.kind == APPLY_JOB, JobRun.stop == JobStop.given_up)))


def stall(batch: MigrationBatch, now: datetime | None = None) -> job_runs.Stall | None:
    """Why a batch being checked or applied does not go on, for its pages: its worker stopped (the batch's
    heartbeat is stale) and the reconciler runs it again soon, or it was given up. A check that has not started
    yet is waiting for a worker, not stopped."""
    if not job_runs.is_stale(batch.heartbeat_at, now):
        return None
    if batch.status == BatchStatus.checking and batch.check_attempts:
        return job_runs.stall(batch.heartbeat_at, attempt=batch.check_attempts, attempts=MAX_CHECK_ATTEMPTS,
                              given_up=batch.check_attempts >= MAX_CHECK_ATTEMPTS)
    if batch.status == BatchStatus.applying:
        return job_runs.stall(batch.heartbeat_at, given_up=_apply_given_up(batch.id))
    return None


def _language_of(member_id: int | None) -> str:
    """The UI language of a member (the uploader, for what the portal writes to them unasked), else the home one."""
    member = db.session.get(Member, member_id) if member_id else None
    return (member and member.ui_language) or current_app.config["BABEL_DEFAULT_LOCALE"]


def result_mail(batch: MigrationBatch) -> tuple[str, str, str] | None:
    uploader = db.session.get(Member, batch.uploader_id) if batch.uploader_id else None
    if uploader is None:
        return None
    with force_locale(_language_of(uploader.id)):
        return _result_mail(batch, uploader)


def _result_mail(batch: MigrationBatch, uploader: Member) -> tuple[str, str, str]:
    ok = batch.status == BatchStatus.completed
    subject = (_("Migration completed: %(file)s", file=batch.filename) if ok
               else _("Migration failed: %(file)s", file=batch.filename))
    body = _("Hello %(name)s,\n\nThe ticket migration of %(file)s has %(outcome)s.\n%(message)s\n",
             name=uploader.name, file=batch.filename,
             outcome=_("completed") if ok else _("failed; nothing was applied"), message=batch_message(batch) or "")
    return uploader.email, subject, body


def batch_message(batch: MigrationBatch) -> str | None:
    """The batch's outcome in the reader's language (a batch from before codes: its text as stored)."""
    return messages.text(batch.message_code, batch.message_args, batch.message)


def error_report(batch: MigrationBatch) -> IO[bytes] | None:
    """The batch's error report in the reader's language: the rows as uploaded, the header and errors said for
    whoever downloads it (a report from before codes comes as it was made). None when it has none."""
    stored = load(batch.organization_id, batch.error_report_file_id) if batch.error_report_file_id else None
    if stored is None:
        return None
    say = messages.RowErrors()
    return relabel(stored.data, lambda text: report_text(text, say), title=_("Errors"))
