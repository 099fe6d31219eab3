"""Data migration (데이터 이관): upload → check (job) → confirm (reserve) → apply at 01:00 (job) → tickets.

State lives in the MigrationBatch row; jobs take ids and can run twice without doing the work twice.
"""
from __future__ import annotations

from datetime import datetime, time, timedelta, timezone
from time import monotonic
from typing import Callable
from zoneinfo import ZoneInfo

from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import insert, select, update
from sqlalchemy.exc import OperationalError

from portal.extensions import db
from portal.models import (BatchStatus, JobRun, JobStop, Member, MigrationBatch, Service, ServiceStatus, Ticket,
                           TicketField)
from portal.models.base import utcnow
from portal.services import Actor, ServiceError, activity
from portal.services import jobs as job_runs
from portal.services.migration_files import (
    ErrorReport,
    FileRefused,
    header_label,
    open_workbook,
    precheck,
    template_differences,
)
from portal.services.migration_rows import RowValidator, blank
from portal.services.storage import load, store
from portal.services.ticket_fields import fields_of, fingerprint
from portal.services.tickets import reserve_numbers

MAX_STORED_ERRORS = 200
MAX_CHECK_ATTEMPTS = 3  # a file that kills its worker every time is refused, not checked forever
PROGRESS_EVERY = 2000
CHECK_JOB, APPLY_JOB = "migration.check", "migration.apply"


def read_rows(batch: MigrationBatch, service: Service, fields: list[TicketField],
              on_progress: Callable[[int], bool] | None = None):
    """Yield (row number, raw row, values, errors) for every non-blank data row of the batch's file.
    `on_progress(percent)` may return False to stop (the batch was deleted meanwhile)."""
    stored = load(batch.organization_id, batch.file_id)
    config = current_app.config
    precheck(stored.data, max_uncompressed=config["MIGRATION_MAX_UNPACKED_MB"] * 1024 * 1024)
    opened = open_workbook(stored.data, max_rows=config["MIGRATION_MAX_ROWS"])
    problems = template_differences(opened, service, fields)
    if problems:
        raise FileRefused(_("The file does not match the current template of %(name)s: %(problems)s Download the "
                            "template again.", name=service.name, problems=" ".join(problems)), "outdated_template")
    lang = "ko" if any(h == header_label(f, "ko") for h, f in zip(opened.header, fields)) else "en"
    validator = RowValidator(service, fields, lang)
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
        raise FileRefused(_("This is not an .xlsx file. Save it as Excel Workbook (.xlsx) and upload it again."),
                          "not_xlsx")
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
        _end_check(batch_id, _stopped_too_often(batch.check_attempts))
        return None
    batch.check_attempts += 1
    batch.heartbeat_at = utcnow()
    db.session.flush()
    return batch


def check_beat(batch_id: int, now: datetime):
    """What a check job's heartbeat also marks alive: its batch, whose page and reconciler read the batch's own
    heartbeat (the rows' progress alone leaves it silent while a large file is opened)."""
    return update(MigrationBatch).where(MigrationBatch.id == batch_id, MigrationBatch.status == BatchStatus.checking
                                        ).values(heartbeat_at=now)


def check(batch: MigrationBatch, checkpoint: Callable[[], None] = lambda: None) -> MigrationBatch:
    """Validate every row of the batch's file. Errors → check_failed with an error report; otherwise ready.
    Every PROGRESS_EVERY rows the progress and heartbeat are set and `checkpoint()` is called (the job commits
    there); a batch deleted meanwhile is left deleted. Raises when the file is refused or breaks the check: the
    caller rolls back and ends it with `end_broken_check`, so a check always ends in a final state."""
    service = db.session.get(Service, batch.service_id)
    fields = fields_of(service)
    # Set with the result, not now: a write here would hold SQLite's write lock while the file is opened, and the
    # job's heartbeat (a transaction of its own) could not be written meanwhile.
    checked_fingerprint = fingerprint(fields)

    def progress(percent: int) -> bool:
        db.session.refresh(batch, ["status"])
        if batch.status != BatchStatus.checking:
            return False
        batch.progress, batch.heartbeat_at = max(0, min(99, percent)), utcnow()
        db.session.flush()
        checkpoint()
        return True

    rows = error_count = 0
    errors = []
    report = ErrorReport(fields)
    for number, raw, _values, row_errors in read_rows(batch, service, fields, progress):
        rows += 1
        if row_errors:
            error_count += 1
            report.add(number, raw, row_errors)
            for column, message in row_errors:
                if len(errors) < MAX_STORED_ERRORS:
                    errors.append({"row": number, "column": column, "message": message})
    db.session.refresh(batch, ["status"])
    if batch.status != BatchStatus.checking:  # deleted while being checked
        return batch
    batch.rows, batch.error_count, batch.errors, batch.progress = rows, error_count, errors, 100
    batch.fingerprint, batch.finished_at = checked_fingerprint, utcnow()
    if rows == 0:
        batch.status, batch.message = BatchStatus.check_failed, _("The file has no ticket rows.")
    elif error_count:
        batch.status = BatchStatus.check_failed
        batch.message = _("%(bad)s of %(rows)s rows have errors. Download the error report, correct them and upload "
                          "the file again.", bad=f"{error_count:,}", rows=f"{rows:,}")
        batch.error_report_file_id = store(batch.organization_id, purpose="migration_errors",
                                           filename=f"errors-{batch.id}.xlsx", content_type="application/vnd."
                                           "openxmlformats-officedocument.spreadsheetml.sheet", data=report.save()).id
    else:
        batch.status, batch.message = BatchStatus.ready, _("%(rows)s rows are ready. Confirm to reserve them.",
                                                           rows=f"{rows:,}")
    return batch


def end_broken_check(batch_id: int, exc: Exception) -> MigrationBatch | None:
    """End a check that `exc` stopped, with a message: a refused file says why; anything else says that something
    in the file stopped the check (the exception is in the worker's log)."""
    if isinstance(exc, FileRefused):
        return _end_check(batch_id, exc.message)
    return _end_check(batch_id, _("The file could not be checked: something in it stopped the check. Save it "
                                  "again from Excel, or split it, and upload it again (batch %(id)d).", id=batch_id))


def _end_check(batch_id: int, message: str) -> MigrationBatch | None:
    """check_failed with `message`, unless the batch left the check meanwhile (deleted)."""
    db.session.execute(update(MigrationBatch).where(
        MigrationBatch.id == batch_id, MigrationBatch.status == BatchStatus.checking).values(
        status=BatchStatus.check_failed, message=message[:1000], progress=100, finished_at=utcnow()))
    return db.session.get(MigrationBatch, batch_id, populate_existing=True)


def next_one_am(service: Service, now: datetime | None = None) -> datetime:
    """01:00 of the next day in the service's time zone."""
    zone = ZoneInfo(service.time_zone)
    tomorrow = (now or utcnow()).astimezone(zone).date() + timedelta(days=1)
    return datetime.combine(tomorrow, time(1, 0), tzinfo=zone).astimezone(timezone.utc)


def confirm(actor: Actor, batch: MigrationBatch, now: datetime | None = None) -> MigrationBatch:
    """Reserve a checked batch for 01:00 of the next day (service time zone). Guarded in the database."""
    service = db.session.get(Service, batch.service_id)
    when = next_one_am(service, now)
    done = db.session.execute(
        update(MigrationBatch).where(MigrationBatch.id == batch.id, MigrationBatch.status == BatchStatus.ready)
        .values(status=BatchStatus.reserved, scheduled_for=when)
    ).rowcount
    if done != 1:
        raise ServiceError(_("Only a checked batch without errors can be reserved."), "not_ready")
    db.session.refresh(batch)
    activity.record(actor.organization_id, actor.member_id, "migration.reserved", subject_type="migration_batch",
                    subject_id=batch.id, subject_label=batch.filename, details={"scheduled_for": when.isoformat()},
                    ip=actor.ip)
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
    db.session.refresh(batch)
    activity.record(actor.organization_id, actor.member_id, "migration.deleted", subject_type="migration_batch",
                    subject_id=batch.id, subject_label=batch.filename, ip=actor.ip)
    return batch


def start_apply(batch_id: int, now: datetime | None = None, *, force: bool = False) -> MigrationBatch | None:
    """A reserved batch whose time has come (any reserved one with `force`), stamped as started: the caller
    commits the stamp on its own, so the list can say "applying" during `apply`'s long transaction. None when
    there is nothing to apply."""
    now = now or utcnow()
    batch = db.session.get(MigrationBatch, batch_id)
    if batch is None or batch.status != BatchStatus.reserved:
        return None
    if not force and batch.scheduled_for and batch.scheduled_for > now:
        return None
    batch.apply_started_at = now
    db.session.flush()
    return batch


def take_for_apply(batch_id: int) -> bool:
    """Move the batch from reserved to applying, first in the apply's transaction (a guarded UPDATE). False when
    another apply (a retry, two schedulers) has it: the caller rolls back and stops."""
    try:
        return db.session.execute(
            update(MigrationBatch).where(MigrationBatch.id == batch_id, MigrationBatch.status == BatchStatus.reserved)
            .values(status=BatchStatus.applying)
        ).rowcount == 1
    except OperationalError:  # SQLite: another apply holds the write lock, so this one is not needed
        return False


def apply(batch_id: int, now: datetime | None = None) -> MigrationBatch:
    """Create the batch's tickets, all or none, in the transaction `take_for_apply` opened, and mark it completed.

    A crash rolls everything back to reserved, and (batch, row) is unique on tickets anyway. Raises ServiceError
    when the fields changed after the check or a row no longer passes it: the caller rolls back and records
    `apply_failed`."""
    now = now or utcnow()
    started = monotonic()
    batch = db.session.get(MigrationBatch, batch_id)
    service = db.session.execute(select(Service).where(Service.id == batch.service_id).with_for_update()).scalar_one()
    fields = fields_of(service)
    if fingerprint(fields) != batch.fingerprint:
        raise ServiceError(_("The ticket fields of %(name)s changed after the check. Upload the file again.",
                             name=service.name), "fields_changed")
    created = _insert_tickets(batch, service, fields, now)
    db.session.execute(update(MigrationBatch).where(MigrationBatch.id == batch_id).values(
        status=BatchStatus.completed, created_tickets=created, finished_at=utcnow(),
        duration_ms=int((monotonic() - started) * 1000), progress=100,
        message=_("%(n)s tickets were created.", n=f"{created:,}")))
    return db.session.get(MigrationBatch, batch_id, populate_existing=True)


def apply_failed(batch_id: int, exc: Exception) -> MigrationBatch | None:
    """Record why an apply failed, once its transaction is rolled back (the batch is reserved again): a refusal's
    own message, else the exception."""
    reason = exc.message if isinstance(exc, ServiceError) else f"{type(exc).__name__}: {exc}"
    db.session.execute(update(MigrationBatch).where(
        MigrationBatch.id == batch_id, MigrationBatch.status == BatchStatus.reserved).values(
        status=BatchStatus.failed, finished_at=utcnow(), message=reason[:1000]))
    return db.session.get(MigrationBatch, batch_id, populate_existing=True)


def _insert_tickets(batch: MigrationBatch, service: Service, fields: list[TicketField], now: datetime) -> int:
    custom_keys = [f.key for f in fields if not f.system]
    pending, created = [], 0
    for row_number, _raw, values, errors in read_rows(batch, service, fields):
        if errors:
            raise ServiceError(_("Row %(row)d no longer passes the check: %(error)s Upload the file again.",
                                 row=row_number, error=errors[0][1]), "row_invalid")
        created_at = values.get("created_at") or now
        tags = [t.strip() for t in values.get("tags", "").split(",") if t.strip()] if values.get("tags") else None
        custom = {k: _jsonable(values[k]) for k in custom_keys if k in values}
        pending.append({
            "organization_id": service.organization_id, "service_id": service.id,
            "title": values["title"], "body": values.get("body"), "status": values.get("status") or "unassigned",
            "priority": values.get("priority") or "normal", "channel": values.get("channel") or "migration",
            "requester_name": values.get("requester_name"), "requester_email": values.get("requester_email"),
            "requester_phone": values.get("requester_phone"), "assignee_id": values.get("assignee"),
            "category": values.get("category"), "tags": tags, "custom": custom or None,
            "external_id": values.get("external_id"), "created_at": created_at, "updated_at": now,
            "closed_at": values.get("closed_at"), "source_batch_id": batch.id, "source_row": row_number,
        })
        if len(pending) >= 5000:
            created += _insert_numbered(service, pending)
            pending.clear()
    if pending:
        created += _insert_numbered(service, pending)
    return created


def _insert_numbered(service: Service, rows: list[dict]) -> int:
    """Number the rows from the service's counter (calls may be creating tickets meanwhile) and insert them."""
    first = reserve_numbers(service.id, len(rows))
    for offset, row in enumerate(rows):
        row["number"] = first + offset
    db.session.execute(insert(Ticket), rows)
    return len(rows)


def _jsonable(value):
    return value.isoformat() if isinstance(value, datetime) else value


def due_batches(now: datetime | None = None, *, force: bool = False) -> list[int]:
    """Reserved batches whose time has come (every reserved batch with `force`)."""
    query = select(MigrationBatch.id).where(MigrationBatch.status == BatchStatus.reserved)
    if not force:
        query = query.where(MigrationBatch.scheduled_for <= (now or utcnow()))
    return list(db.session.scalars(query.order_by(MigrationBatch.scheduled_for)))


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
                with force_locale(_language_of(batch.uploader_id)):  # as the result mail: nobody asked here
                    _end_check(batch.id, _stopped_too_often(batch.check_attempts))
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


def _stopped_too_often(attempts: int) -> str:
    return _("The check stopped %(n)d times without finishing; the file may be too large or too complex. Split it "
             "and upload the parts.", n=attempts)


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
             outcome=_("completed") if ok else _("failed; nothing was applied"), message=batch.message or "")
    return uploader.email, subject, body
