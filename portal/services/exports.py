"""Excel files we write, and the one way a value reaches a cell of any of them.

Every workbook the portal writes (exports, the migration template, its error report, the CTI log, My
performance) puts its values through `cell` (a row being appended) or `put` (a cell already placed): stored
data of any shape becomes a value Excel opens without repair, and never a formula."""
from __future__ import annotations

import io
import json
import math
import re
import tempfile
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, Iterable

from flask_babel import gettext as _
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font

from portal.labels import operation_label, permissions_text, status_label, type_label

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
MAX_CELL_TEXT = 32_767  # Excel's limit; a longer cell makes Excel "repair" the file
MAX_EXACT_INT = 2**53  # Excel keeps 15 digits; larger whole numbers are written as text, exact
# What an .xlsx cannot hold (XML 1.0 refuses them; openpyxl raises IllegalCharacterError): C0 controls but
# tab, line feed and carriage return, lone surrogates, and the two non-characters.
_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def cell_value(value: Any) -> tuple[Any, bool]:
    """(value to write, whether it must be kept as text). Never raises, whatever was stored:
    - text loses the characters an .xlsx cannot hold and is cut to Excel's cell limit;
    - text that a spreadsheet would take for a formula (=, +, -, @, tab, CR first) is marked to stay text;
    - an aware date-time becomes naive (the caller converts to the reader's zone first);
    - NaN and infinities become text, whole numbers past 2^53 text (exact), nested objects JSON text."""
    if value is None or isinstance(value, bool):
        return value, False
    if isinstance(value, int):
        return (value, False) if -MAX_EXACT_INT <= value <= MAX_EXACT_INT else (str(value), True)
    if isinstance(value, float):
        return (value, False) if math.isfinite(value) else (str(value), True)
    if isinstance(value, Decimal):
        return (value, False) if value.is_finite() else (str(value), True)
    if isinstance(value, datetime):
        return (value.replace(tzinfo=None) if value.tzinfo else value), False
    if isinstance(value, (date, time, timedelta)):
        return (value.replace(tzinfo=None) if isinstance(value, time) and value.tzinfo else value), False
    if isinstance(value, (dict, list, tuple)):
        try:
            value = json.dumps(value, ensure_ascii=False, default=str, sort_keys=True)
        except (ValueError, TypeError, RecursionError):
            value = repr(value)
    elif isinstance(value, (bytes, bytearray)):
        value = bytes(value).decode("utf-8", "replace")
    elif not isinstance(value, str):
        value = str(value)
    if _ILLEGAL.search(value):
        value = _ILLEGAL.sub("", value)
    if len(value) > MAX_CELL_TEXT:
        value = value[: MAX_CELL_TEXT - 1] + "…"
    return value, value.startswith(FORMULA_START)


def cell(ws, value: Any, *, bold: bool = False, number_format: str | None = None):
    """A value for `ws.append([...])` (either mode of worksheet). Formula-looking text becomes a cell of type
    text with Excel's quote prefix: shown exactly as stored, never run, and still text when someone edits it."""
    value, as_text = cell_value(value)
    if not (as_text or bold or number_format):
        return value
    target = WriteOnlyCell(ws, value=None)
    _fill(target, value, as_text)
    if bold:
        target.font = Font(bold=True)
    if number_format:
        target.number_format = number_format
    return target


def put(target, value: Any):
    """Write a value into a cell already placed in a worksheet (`ws.cell(row, column)`)."""
    value, as_text = cell_value(value)
    _fill(target, value, as_text)
    return target


def _fill(target, value, as_text: bool) -> None:
    target.value = value
    if as_text:
        target.data_type = "s"  # openpyxl would otherwise write a leading "=" as a formula
        target.quotePrefix = True


def row_cells(ws, values: Iterable) -> list:
    return [cell(ws, v) for v in values]


def _header(ws, titles: list[str]) -> list:
    return [cell(ws, title, bold=True) for title in titles]


def billing_workbook(rows: Iterable) -> bytes:
    """Exactly the rows of the billing tab: month, service, ID, type, status, billed days, amount, state."""
    wb = Workbook(write_only=True)
    ws = wb.create_sheet(_("Billing"))
    ws.append(_header(ws, [_("Month"), _("Service"), _("Service ID"), _("Type"), _("Status"), _("Billed days"),
                           _("Amount (KRW)"), _("State")]))
    total = 0
    for row in rows:
        total += row.amount
        state = _("To date") if row.to_date else (_("Closed") if row.closed else _("Provisional"))
        ws.append([cell(ws, row.month.strftime("%Y-%m")), cell(ws, row.service_name), cell(ws, row.service_key),
                   cell(ws, type_label(row.service_type)), cell(ws, status_label(row.service_status)),
                   cell(ws, row.billed_days), cell(ws, row.amount, number_format="#,##0"), cell(ws, state)])
    ws.append([cell(ws, _("Total")), None, None, None, None, None, cell(ws, total, bold=True, number_format="#,##0"),
               None])
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def permission_log_workbook(rows: Iterable, zone) -> tuple:
    """Write the log rows into a write-only workbook kept in a spooled temporary file (memory up to 8 MB,
    then disk); return the file, rewound, and the number of rows."""
    wb = Workbook(write_only=True)
    ws = wb.create_sheet(_("Permission change log"))
    ws.append(_header(ws, [_("Time"), _("Service"), _("Operation"), _("Target"), _("Target login ID"),
                           _("Actor"), _("Actor login ID"), _("Before"), _("After"), _("IP address")]))
    count = 0
    for row in rows:
        count += 1
        ws.append(row_cells(ws, [
            row.created_at.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S"),
            row.service_label or _("Organization"), operation_label(row.operation),
            row.target_name, row.target_login, row.actor_name or "—",
            row.actor_login or "", permissions_text(row.before), permissions_text(row.after), row.ip or "",
        ]))
    spool = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)
    wb.save(spool)
    spool.seek(0)
    return spool, count
