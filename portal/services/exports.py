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
    from portal.blueprints.contracts.labels import status_label, type_label

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
