"""CTI log download: the logged events of a service for a day range, as an .xlsx built row by row."""
from __future__ import annotations

import json
import tempfile
from datetime import date, timedelta
from typing import Iterator
from zoneinfo import ZoneInfo

from flask import current_app
from flask_babel import gettext as _
from openpyxl import Workbook
from sqlalchemy import delete, func, select

from portal.extensions import db
from portal.labels import cti_error_text, cti_event_label, direction_label, phone_state_label
from portal.models import (
    CtiAgent,
    CtiEvent,
    CtiSettings,
    JobRun,
    Member,
    Service,
    ServiceMember,
    ServiceRole,
    StoredFile,
)
from portal.models.base import utcnow
from portal.services import ServiceError
from portal.services.cti import cti_services
from portal.services.exports import _header, row_cells
from portal.services.jobs import start_job

MAX_DAYS = 31
SHEET_ROWS = 1_000_000  # Excel's limit is 1,048,576; a new sheet starts well before it


def log_services(member: Member) -> list[Service]:
    """The CTI services whose log `member` may download (SPEC 4.3, support staff): every one for an org admin,
    else those it manages. An agent gets none, so its account menu does not offer the page."""
    if member.is_org_admin:
        return cti_services(member.organization_id)
    managed = set(db.session.scalars(select(ServiceMember.service_id).where(
        ServiceMember.member_id == member.id, ServiceMember.role == ServiceRole.manager)))
    return [s for s in cti_services(member.organization_id) if s.id in managed] if managed else []


def check_range(first: date, last: date) -> None:
    if first > last:
        raise ServiceError(_("The first day must not be after the last."), "reversed_range")
    if (last - first).days + 1 > MAX_DAYS:
        raise ServiceError(_("Download at most %(n)d days at a time.", n=MAX_DAYS), "range_too_long")


def workbook(service: Service, first: date, last: date, sheet_rows: int = SHEET_ROWS, progress=None):
    """The events of days first..last (service time zone) while monitoring was on, oldest first, in a spooled
    temporary file; rows are streamed from the database in batches (plain columns, not ORM objects).
    `progress(done, total)` is called every 10,000 rows. Returns (file, row count).

    Written in the language of the member who asked (the export job runs in it; only that member downloads the
    file): the event, the agent state and the direction by their labels. The telephony's own names of the event and
    the state follow in the last two columns, for comparing with the telephony's logs and for scripts."""
    check_range(first, last)
    zone = ZoneInfo(service.time_zone)
    columns = [_("Time"), _("Service"), _("Agent"), _("Login ID"), _("CTI ID"), _("CTI number"), _("Event"),
               _("Agent state"), _("Direction"), _("Counterpart"), _("Call ID"), _("Duration (s)"), _("Detail"),
               _("Event code"), _("State code")]
    agents = {m_id: (name, login, cti_number) for m_id, name, login, cti_number in db.session.execute(
        select(Member.id, Member.name, Member.login_id, CtiAgent.cti_number)
        .outerjoin(CtiAgent, CtiAgent.member_id == Member.id).where(Member.organization_id == service.organization_id))}
    wb = Workbook(write_only=True)
    sheet, count, in_sheet = None, 0, sheet_rows
    where = (CtiEvent.service_id == service.id, CtiEvent.logged.is_(True), CtiEvent.local_day >= first,
             CtiEvent.local_day <= last)
    total = db.session.scalar(select(func.count()).select_from(CtiEvent).where(*where)) if progress else 0
    rows = db.session.execute(
        select(CtiEvent.occurred_at, CtiEvent.member_id, CtiEvent.cti_id, CtiEvent.kind, CtiEvent.direction,
               CtiEvent.counterpart, CtiEvent.call_id, CtiEvent.detail, CtiEvent.error,
               CtiEvent.error_code, CtiEvent.error_args)
        .where(*where).order_by(CtiEvent.local_day, CtiEvent.occurred_at, CtiEvent.id)  # the index order: no sort
        .execution_options(yield_per=5000))
    service_name = service.name
    for occurred_at, member_id, cti_id, kind, direction, counterpart, call_id, detail, legacy, code, args in rows:
        error = cti_error_text(code, args, legacy)
        if in_sheet >= sheet_rows:
            sheet = wb.create_sheet(f"{first:%Y%m%d}-{count // sheet_rows + 1}")
            sheet.append(_header(sheet, columns))
            in_sheet = 0
        name, login, number = agents.get(member_id, ("", "", ""))
        detail = dict(detail) if isinstance(detail, dict) else {"detail": detail} if detail is not None else {}
        state = detail.pop("state", None)
        state = None if state is None else _flat(state)
        sheet.append(row_cells(sheet, [
            occurred_at.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S"), service_name, name, login, cti_id or "",
            number or "", cti_event_label(kind), phone_state_label(state), direction_label(direction),
            counterpart or "", call_id or "", _duration(detail.get("duration")),
            ", ".join(f"{k}={_flat(v)}" for k, v in detail.items()) + (f" ({error})" if error else ""),
            kind, state or "",
        ]))
        count += 1
        in_sheet += 1
        if progress and count % 10_000 == 0:
            progress(count, total)
    if sheet is None:
        sheet = wb.create_sheet(f"{first:%Y%m%d}")
        sheet.append(_header(sheet, columns))
    spool = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)
    wb.save(spool)
    spool.seek(0)
    return spool, count


def _duration(value):
    """The duration column holds a number; anything else a telephony sent there is shown as text."""
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else (
        None if value is None else _flat(value))


def _flat(value) -> str:
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    return str(value)


EXPORT_KIND = "cti.log_export"
EXPORT_PURPOSE = "cti_log_export"
EXPORT_KEEP = timedelta(days=1)
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def start_export(member, service: Service, first: date, last: date):
    """Build the .xlsx in the background (a month of a busy service is millions of rows, far longer than a
    request may take); the member follows the job's progress and downloads the file when it is done."""
    check_range(first, last)
    return start_job(EXPORT_KIND, service.id, first.isoformat(), last.isoformat(),
                     organization_id=member.organization_id, member_id=member.id)


def export_file_name(service: Service, first: date, last: date) -> str:
    return f"cti-log-{service.service_key}-{first:%Y%m%d}-{last:%Y%m%d}.xlsx"


def recent_exports(member, limit: int = 5):
    """The member's own latest exports (nobody else's)."""
    return list(db.session.scalars(select(JobRun).where(
        JobRun.kind == EXPORT_KIND, JobRun.member_id == member.id, JobRun.organization_id == member.organization_id)
        .order_by(JobRun.id.desc()).limit(limit)))


def export_run(member, run_id: int):
    """One of the member's exports, or None (another member's or another organization's is not theirs)."""
    return db.session.scalars(select(JobRun).where(
        JobRun.id == run_id, JobRun.kind == EXPORT_KIND, JobRun.member_id == member.id,
        JobRun.organization_id == member.organization_id)).first()


def export_zone(run: JobRun) -> str:
    """The time zone of an export's service (its days are that service's), for the times its row shows."""
    service = db.session.get(Service, run.args[0]) if run.args else None
    return service.time_zone if service else current_app.config["BABEL_DEFAULT_TIMEZONE"]


def purge_exports(now=None) -> int:
    """Finished export files are kept a day."""
    return db.session.execute(delete(StoredFile).where(
        StoredFile.purpose == EXPORT_PURPOSE, StoredFile.created_at < (now or utcnow()) - EXPORT_KEEP)).rowcount


def delete_expired(now=None, chunk: int = 5000) -> Iterator[tuple[str, int]]:
    """Delete each service's CTI events older than its retention (days counted in the service's time zone),
    `chunk` rows at a time: yields (service ID, rows deleted) after each chunk, where the caller commits, so the
    table is never locked for long."""
    now = now or utcnow()
    for service_id, service_key, time_zone, days in db.session.execute(
            select(Service.id, Service.service_key, Service.time_zone, CtiSettings.log_retention_days)
            .join(CtiSettings, CtiSettings.service_id == Service.id)).all():
        cutoff = now.astimezone(ZoneInfo(time_zone)).date() - timedelta(days=days)
        while True:
            ids = list(db.session.scalars(select(CtiEvent.id).where(CtiEvent.service_id == service_id,
                                                                    CtiEvent.local_day < cutoff).limit(chunk)))
            if not ids:
                break
            db.session.execute(delete(CtiEvent).where(CtiEvent.id.in_(ids)))
            yield service_key, len(ids)
