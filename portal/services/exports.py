"""Excel exports (openpyxl write-only mode: rows stream out, nothing is held twice)."""
from __future__ import annotations

import io
from typing import Iterable

from flask_babel import gettext as _
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_text(value):
    """Text that a spreadsheet would read as a formula is prefixed with ' (CSV/Excel injection)."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def _header(ws, titles: list[str]) -> list[WriteOnlyCell]:
    cells = []
    for title in titles:
        cell = WriteOnlyCell(ws, value=title)
        cell.font = Font(bold=True)
        cells.append(cell)
    return cells


def billing_workbook(rows: Iterable) -> bytes:
    """Exactly the rows of the billing tab: month, service, ID, type, status, billed days, amount, state."""
    from portal.labels import status_label, type_label

    wb = Workbook(write_only=True)
    ws = wb.create_sheet(_("Billing"))
    ws.append(_header(ws, [_("Month"), _("Service"), _("Service ID"), _("Type"), _("Status"), _("Billed days"),
                           _("Amount (KRW)"), _("State")]))
    total = 0
    for row in rows:
        total += row.amount
        amount = WriteOnlyCell(ws, value=row.amount)
        amount.number_format = "#,##0"
        state = _("To date") if row.to_date else (_("Closed") if row.closed else _("Provisional"))
        ws.append([row.month.strftime("%Y-%m"), safe_text(row.service_name), row.service_key,
                   type_label(row.service_type), status_label(row.service_status), row.billed_days, amount, state])
    total_cell = WriteOnlyCell(ws, value=total)
    total_cell.number_format = "#,##0"
    total_cell.font = Font(bold=True)
    ws.append([_("Total"), None, None, None, None, None, total_cell, None])
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def permission_log_workbook(rows: Iterable, zone) -> tuple:
    """Write the log rows into a write-only workbook kept in a spooled temporary file (memory up to 8 MB,
    then disk); return the file, rewound, and the number of rows."""
    import tempfile

    from portal.labels import operation_label, permissions_text

    wb = Workbook(write_only=True)
    ws = wb.create_sheet(_("Permission change log"))
    ws.append(_header(ws, [_("Time"), _("Service"), _("Operation"), _("Target"), _("Target login ID"),
                           _("Actor"), _("Actor login ID"), _("Before"), _("After"), _("IP address")]))
    count = 0
    for row in rows:
        count += 1
        ws.append([
            row.created_at.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S"),
            safe_text(row.service_label or _("Organization")), operation_label(row.operation),
            safe_text(row.target_name), safe_text(row.target_login), safe_text(row.actor_name or "—"),
            safe_text(row.actor_login or ""), permissions_text(row.before), permissions_text(row.after), row.ip or "",
        ])
    spool = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)
    wb.save(spool)
    spool.seek(0)
    return spool, count
