"""CTI log download: the logged events of a service for a day range, as an .xlsx built row by row."""
from __future__ import annotations

import tempfile
from datetime import date, timedelta
from zoneinfo import ZoneInfo

from flask_babel import gettext as _
from openpyxl import Workbook
from sqlalchemy import delete, select

from portal.extensions import db
from portal.models import CtiAgent, CtiEvent, Member, Service
from portal.services import ServiceError
from portal.services.exports import _header, safe_text

MAX_DAYS = 31
SHEET_ROWS = 1_000_000  # Excel's limit is 1,048,576; a new sheet starts well before it


def check_range(first: date, last: date) -> None:
    if first > last:
        raise ServiceError(_("The first day must not be after the last."), "reversed_range")
    if (last - first).days + 1 > MAX_DAYS:
        raise ServiceError(_("Download at most %(n)d days at a time.", n=MAX_DAYS), "range_too_long")


def workbook(service: Service, first: date, last: date, sheet_rows: int = SHEET_ROWS):
    """The events of days first..last (service time zone) while monitoring was on, oldest first, in a spooled
    temporary file; rows are streamed from the database in batches. Returns (file, row count)."""
    check_range(first, last)
    zone = ZoneInfo(service.time_zone)
    columns = [_("Time"), _("Service"), _("Agent"), _("Login ID"), _("CTI ID"), _("CTI number"), _("Event"),
               _("Direction"), _("Counterpart"), _("Call ID"), _("Duration (s)"), _("Detail")]
    agents = {m_id: (name, login, cti_number) for m_id, name, login, cti_number in db.session.execute(
        select(Member.id, Member.name, Member.login_id, CtiAgent.cti_number)
        .outerjoin(CtiAgent, CtiAgent.member_id == Member.id).where(Member.organization_id == service.organization_id))}
    wb = Workbook(write_only=True)
    sheet, count, in_sheet = None, 0, sheet_rows
    rows = db.session.scalars(
        select(CtiEvent).where(CtiEvent.service_id == service.id, CtiEvent.logged.is_(True),
                               CtiEvent.local_day >= first, CtiEvent.local_day <= last)
        .order_by(CtiEvent.occurred_at, CtiEvent.id).execution_options(yield_per=2000))
    for event in rows:
        if in_sheet >= sheet_rows:
            sheet = wb.create_sheet(f"{first:%Y%m%d}-{count // sheet_rows + 1}")
            sheet.append(_header(sheet, columns))
            in_sheet = 0
        name, login, number = agents.get(event.member_id, ("", "", ""))
        detail = event.detail or {}
        sheet.append([
            event.occurred_at.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S"), safe_text(service.name),
            safe_text(name), safe_text(login), safe_text(event.cti_id or ""), safe_text(number or ""), event.kind,
            event.direction or "", safe_text(event.counterpart or ""), safe_text(event.call_id or ""),
            detail.get("duration"), safe_text(", ".join(f"{k}={v}" for k, v in detail.items()) + (
                f" ({event.error})" if event.error else "")),
        ])
        count += 1
        in_sheet += 1
    if sheet is None:
        sheet = wb.create_sheet(f"{first:%Y%m%d}")
        sheet.append(_header(sheet, columns))
    spool = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)
    wb.save(spool)
    spool.seek(0)
    return spool, count


def purge_expired(now=None, chunk: int = 5000) -> dict[str, int]:
    """Delete each service's CTI events older than its retention (days counted in the service's time zone),
    a chunk per transaction so the table is never locked for long. Returns deleted rows per service ID."""
    from portal.models import CtiSettings
    from portal.models.base import utcnow

    now = now or utcnow()
    deleted: dict[str, int] = {}
    for service, days in db.session.execute(select(Service, CtiSettings.log_retention_days)
                                            .join(CtiSettings, CtiSettings.service_id == Service.id)).all():
        cutoff = now.astimezone(ZoneInfo(service.time_zone)).date() - timedelta(days=days)
        total = 0
        while True:
            ids = list(db.session.scalars(select(CtiEvent.id).where(CtiEvent.service_id == service.id,
                                                                    CtiEvent.local_day < cutoff).limit(chunk)))
            if not ids:
                break
            db.session.execute(delete(CtiEvent).where(CtiEvent.id.in_(ids)))
            db.session.commit()
            total += len(ids)
        if total:
            deleted[service.service_key] = total
    db.session.commit()
    return deleted


def default_day(service: Service) -> date:
    from portal.models.base import utcnow

    return utcnow().astimezone(ZoneInfo(service.time_zone)).date()


def days_back(day: date, n: int) -> date:
    return day - timedelta(days=n)
