"""Migration workbooks: the template we hand out, and reading a filled one back safely and fast.

Writing uses openpyxl; reading streams the sheet with `portal.services.xlsx_reader` (lxml; bounded memory
whatever the sheet's extent, and it never evaluates formulas: a formula cell gives its cached value). Files
are checked as real .xlsx zips with a bounded decompressed size before any parsing.
"""
from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass
from typing import Iterator

from flask_babel import force_locale
from flask_babel import gettext as _
from openpyxl import Workbook
from openpyxl.styles import Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation

from portal.labels import choice_label
from portal.messages import RowErrors
from portal.models import FieldType, Service, TicketField
from portal.services import ServiceError
from portal.services.exports import cell_value, put, row_cells
from portal.services.ticket_fields import fingerprint
from portal.services.xlsx_reader import TooLarge, XlsxError
from portal.services.xlsx_reader import Workbook as Reader
from portal.services.xlsx_writer import Shared, SheetWriter

DATA_SHEET = "tickets"
META_SHEET = "_template"
LISTS_SHEET = "_choices"
MAX_COLUMNS = 200
FORMATTED_ROWS = 1000  # date formats and drop-downs are pre-applied to this many rows


class FileRefused(ServiceError):
    """The file cannot be checked at all (not an .xlsx, unsafe, not this service's template)."""


def _label(field: TicketField, lang: str) -> str:
    return field.label_ko if lang == "ko" else field.label_en


def header_label(field: TicketField, lang: str) -> str:
    """The column title as the template writes it, and as a file read back must show it."""
    return cell_value(_label(field, lang) + (" *" if field.required else ""))[0].strip()


def _type_help(field: TicketField) -> str:
    return {
        FieldType.text: _("Text"), FieldType.long_text: _("Long text"), FieldType.number: _("Number"),
        FieldType.date: _("Date (YYYY-MM-DD)"), FieldType.datetime: _("Date and time (YYYY-MM-DD HH:MM)"),
        FieldType.single_choice: _("One of the choices"),
        FieldType.multi_choice: _("Choices separated by commas"), FieldType.checkbox: _("Y or N"),
        FieldType.email: _("E-mail address"), FieldType.phone: _("Phone number"),
        FieldType.member: _("Login ID of a member of the service"),
    }[field.type]


EXAMPLES = {
    FieldType.text: "…", FieldType.long_text: "…", FieldType.number: 3, FieldType.date: "2026-01-31",
    FieldType.datetime: "2026-01-31 14:30", FieldType.checkbox: "Y", FieldType.email: "customer@example.com",
    FieldType.phone: "010-1234-5678", FieldType.member: "agent",
}


def template_workbook(service: Service, fields: list[TicketField], lang: str) -> bytes:
    """The .xlsx to fill, in `lang`: labelled header (required marked *), drop-downs for choices, date formats, a
    guide sheet, and a hidden sheet with the fingerprint of the field configuration. A system field's choices are
    codes: the drop-downs and the guide offer their labels (the check takes a label in either language, or the
    code, and stores the code)."""
    with force_locale(lang):
        return _template_workbook(service, fields, lang)


def _choices(field: TicketField) -> list[str]:
    return [choice_label(field.key, choice) for choice in field.choices or []]


def _template_workbook(service: Service, fields: list[TicketField], lang: str) -> bytes:
    wb = Workbook()
    ws = wb.active
    ws.title = DATA_SHEET
    lists = wb.create_sheet(LISTS_SHEET)
    lists.sheet_state = "hidden"
    bold, required_fill = Font(bold=True), PatternFill("solid", fgColor="FFF4E0")
    for col, field in enumerate(fields, start=1):
        cell = put(ws.cell(row=1, column=col), header_label(field, lang))
        cell.font = bold
        if field.required:
            cell.fill = required_fill
        letter = get_column_letter(col)
        ws.column_dimensions[letter].width = max(12, min(40, len(cell.value) * 2 + 4))
        rows = f"{letter}2:{letter}{FORMATTED_ROWS + 1}"
        if field.choices and field.type in (FieldType.single_choice, FieldType.multi_choice):
            for i, choice in enumerate(_choices(field), start=1):
                put(lists.cell(row=i, column=col), choice)
            source = f"'{LISTS_SHEET}'!${letter}$1:${letter}${len(field.choices)}"
            # A multiple choice takes "a, b": the list helps, the check happens on upload.
            validation = DataValidation(type="list", formula1=source, allow_blank=True,
                                        showErrorMessage=field.type == FieldType.single_choice)
            validation.add(rows)
            ws.add_data_validation(validation)
        elif field.type == FieldType.checkbox:
            validation = DataValidation(type="list", formula1='"Y,N"', allow_blank=True)
            validation.add(rows)
            ws.add_data_validation(validation)
        if field.type in (FieldType.date, FieldType.datetime):
            fmt = "yyyy-mm-dd" if field.type == FieldType.date else "yyyy-mm-dd hh:mm"
            for row in range(2, FORMATTED_ROWS + 2):
                ws.cell(row=row, column=col).number_format = fmt
    ws.freeze_panes = "A2"

    guide = wb.create_sheet(_("Guide"))  # read by people only (the upload reads the data and hidden sheets)
    guide.append(row_cells(guide, [_("Column"), _("Key"), _("Required"), _("Takes"), _("Allowed values"),
                                   _("Example")]))
    for cell in guide[1]:
        cell.font = bold
    for field in fields:
        choices = _choices(field)
        example = ", ".join(choices[:2]) if field.type == FieldType.multi_choice and choices else (
            choices[0] if choices else EXAMPLES.get(field.type, ""))
        guide.append(row_cells(guide, [_label(field, lang), field.key, _("Yes") if field.required else _("No"),
                                       _type_help(field), ", ".join(choices), example]))
    guide.append([])
    guide.append(row_cells(guide, [_("Fill the sheet %(sheet)s from row 2. Do not change the header row or the hidden "
                                     "sheets: the file is checked against the service's current ticket fields.",
                                     sheet=DATA_SHEET)]))
    for letter, width in zip("ABCDEF", (24, 18, 10, 34, 40, 24)):
        guide.column_dimensions[letter].width = width

    meta = wb.create_sheet(META_SHEET)
    meta.sheet_state = "hidden"
    meta.append(row_cells(meta, ["fingerprint", fingerprint(fields)]))
    meta.append(row_cells(meta, ["service", service.service_key]))
    meta.append(row_cells(meta, ["lang", lang]))
    meta.append(row_cells(meta, ["keys", *[f.key for f in fields]]))
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def precheck(data: bytes, *, max_uncompressed: int) -> None:
    """Refuse anything that is not a sane .xlsx before a parser touches it: not a zip, a corrupt zip, missing
    workbook parts, or a decompressed size (zip bomb) above `max_uncompressed` bytes."""
    if not data:
        raise FileRefused.of("empty_file")
    buffer = io.BytesIO(data)
    if not zipfile.is_zipfile(buffer):
        raise FileRefused.of("not_xlsx")
    try:
        with zipfile.ZipFile(buffer) as archive:
            infos = archive.infolist()
            names = {info.filename for info in infos}
            if "[Content_Types].xml" not in names or "xl/workbook.xml" not in names:
                raise FileRefused.of("not_xlsx")
            total = sum(info.file_size for info in infos)
            if total > max_uncompressed:
                raise FileRefused.of("too_big_unpacked", mb=max_uncompressed // (1024 * 1024))
    except zipfile.BadZipFile:
        raise FileRefused.of("corrupt") from None


@dataclass
class OpenedFile:
    fingerprint: str
    service_key: str
    keys: list[str]
    header: list[str]
    rows: Iterator[tuple[int, list]]  # (row number, values) of the non-empty data rows, streamed
    progress: list  # [share of the sheet read so far, 0..1]


def open_workbook(data: bytes, *, max_rows: int) -> OpenedFile:
    """Open a filled template and stream its data rows (constant memory, whatever the sheet's size). The row
    and column limits apply to cells holding a value, checked as the stream meets them: trailing empty rows
    and columns, formatted or not, do not count."""
    try:
        workbook = Reader(data)
        names = workbook.sheet_names
        if DATA_SHEET not in names or META_SHEET not in names:
            raise FileRefused.of("not_template")
        meta = {}
        for _number, row in workbook.rows(META_SHEET, max_rows=50, max_columns=MAX_COLUMNS + 1):
            if row and row[0] not in (None, ""):
                meta[str(row[0])] = row[1:]
        progress = [0.0]
        rows = _limited(workbook.rows(DATA_SHEET, max_rows=max_rows + 1, max_columns=MAX_COLUMNS, progress=progress),
                        max_rows)
        first = next(rows, None)
    except TooLarge as exc:
        raise _too_large(exc, max_rows) from None
    except XlsxError as exc:
        raise FileRefused.of("corrupt") from exc
    if first is None or first[0] != 1:
        raise FileRefused.of("empty_sheet", sheet=DATA_SHEET)
    return OpenedFile(
        fingerprint=str((meta.get("fingerprint") or [""])[0]), service_key=str((meta.get("service") or [""])[0]),
        keys=[str(k) for k in meta.get("keys", []) if k not in ("", None)],
        header=[str(h).strip() if h is not None else "" for h in first[1]], rows=rows, progress=progress,
    )


def _limited(rows: Iterator[tuple[int, list]], max_rows: int) -> Iterator[tuple[int, list]]:
    """The reader's rows, with its refusals turned into the user's messages as the stream meets them."""
    try:
        yield from rows
    except TooLarge as exc:
        raise _too_large(exc, max_rows) from None
    except XlsxError as exc:
        raise FileRefused.of("corrupt") from exc


def _too_large(exc, max_rows: int) -> FileRefused:
    if exc.what == "columns":
        return FileRefused.of("too_many_columns", n=exc.extent, max=MAX_COLUMNS)
    return FileRefused.of("too_many_rows", n=exc.extent - 1, max=max_rows)


def template_differences(opened: OpenedFile, service: Service, fields: list[TicketField]) -> list[list]:
    """Why a file does not match the service's current template, as [code, params] pairs of portal.messages (empty
    when it matches)."""
    if opened.service_key != service.service_key:
        return [["other_service", {"other": opened.service_key[:100] or "?", "this": service.service_key}]]
    problems = []
    current = [f.key for f in fields]
    missing = [k for k in current if k not in opened.keys]
    extra = [k for k in opened.keys if k not in current]
    if missing:
        problems.append(["columns_added", {"keys": missing}])
    if extra:
        problems.append(["columns_removed", {"keys": [k[:100] for k in extra[:20]]}])
    if not missing and not extra and opened.keys != current:
        problems.append(["column_order", {}])
    if not problems and opened.fingerprint != fingerprint(fields):
        problems.append(["field_settings", {}])
    expected = {header_label(f, lang) for f in fields for lang in ("ko", "en")}
    wanted = [f.key for f in fields]
    header = opened.header[: len(wanted)]
    if not problems:
        wrong = [h[:100] for h in header if h not in expected]
        if len(header) != len(wanted) or wrong:
            problems.append(["header_changed", {"cols": wrong[:20]}])
    trailing = [h[:100] for h in opened.header[len(wanted):] if h]
    if trailing:
        problems.append(["unknown_columns", {"cols": trailing[:5]}])
    return problems


class ErrorReport:
    """The failing rows as uploaded, with their row number and what is wrong, written as the check meets them to
    temporary files (a file of 200,000 bad rows is not held in memory).

    Whoever downloads it reads it in their own language, and it is built once, at the check: its header and its
    errors are kept as codes in the workbook's shared strings, which `report_text` says again at each download
    (xlsx_writer.relabel rewrites that one part and copies the rows, about a second for 200,000 rows). Building it
    from the stored codes at each download instead would mean reading the uploaded file again (up to 200,000 rows:
    a minute and more, past a request's time)."""

    ERRORS_PER_ROW = 50  # an Excel cell holds 32,767 characters; the codes of 50 errors fit whatever they quote

    def __init__(self, fields: list[TicketField]):
        self.fields, self.sheet = fields, None

    def add(self, number: int, raw: list, row_errors: list[dict]) -> None:
        if self.sheet is None:  # made at the first failing row: a good file never opens one
            self.sheet = SheetWriter("Errors", widths={1: 8, 2: 60})
            self.sheet.append([_shared("h", "row"), _shared("h", "errors")] + [
                _shared("f", f.label_ko, f.label_en, f.required) for f in self.fields], bold=True)
        self.sheet.append([number, _shared("e", row_errors[:self.ERRORS_PER_ROW])] + list(raw)[:len(self.fields)])

    def save(self) -> bytes:
        out = io.BytesIO()
        self.sheet.save(out)
        return out.getvalue()


def _shared(*item) -> Shared:
    return Shared(json.dumps(item, ensure_ascii=False, separators=(",", ":")))


def report_text(stored: str, say: RowErrors) -> str:
    """A shared string of an error report in the reader's language (`say`'s): a header (the row, the errors, a
    field's labels) or a row's errors."""
    try:
        item = json.loads(stored)
    except ValueError:
        return stored
    if not isinstance(item, list) or not item:
        return stored
    kind, *rest = item
    if kind == "h" and rest:
        return {"row": _("Row"), "errors": _("Errors")}.get(rest[0], str(rest[0]))
    if kind == "f" and len(rest) == 3:
        return say.column(rest[:2]) + (" *" if rest[2] else "")
    if kind == "e" and rest and isinstance(rest[0], list):
        return say.errors(rest[0])
    return stored
