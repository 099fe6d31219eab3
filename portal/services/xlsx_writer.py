"""A one-sheet .xlsx written row by row, whose texts for people (a header, messages) can be said again in another
language without rewriting its rows.

In an .xlsx a cell either holds its text inline or points, by number, into the workbook's table of shared strings
(xl/sharedStrings.xml). Here the cells a reader's language changes point into that table and every other text is
inline, so `relabel` renders the file for one reader by rewriting that one part and copying the others as they are
(streamed: memory holds a block, whatever the file's size). openpyxl's write-only mode writes every text inline:
saying a 200,000-row file's messages again meant reading and writing every row (about 90 s on the development
machine, against about 1 s for `relabel`).

Values go through `exports.cell_value` like every workbook the portal writes: never a formula, nothing an .xlsx
cannot hold.
"""
from __future__ import annotations

import io
import tempfile
import zipfile
from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache
from typing import IO, Any, Callable
from xml.parsers import expat
from xml.sax.saxutils import escape, quoteattr

from openpyxl.utils import get_column_letter
from openpyxl.utils.datetime import to_excel

from portal.services.exports import cell_value

NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
SHEET_PART, STRINGS_PART, WORKBOOK_PART = "xl/worksheets/sheet1.xml", "xl/sharedStrings.xml", "xl/workbook.xml"
BLOCK = 1024 * 1024
PLAIN, BOLD, DATETIME, DATE, TEXT = range(5)  # cell styles (styles.xml's cellXfs)

_CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
    '<Override PartName="/xl/worksheets/sheet1.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
    '<Override PartName="/xl/sharedStrings.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>'
    '<Override PartName="/xl/styles.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
    '</Types>')
_ROOT_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" '
    'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" '
    'Target="xl/workbook.xml"/></Relationships>')
_WORKBOOK_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" '
    'Target="worksheets/sheet1.xml"/>'
    '<Relationship Id="rId2" '
    'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings" '
    'Target="sharedStrings.xml"/>'
    '<Relationship Id="rId3" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles" '
    'Target="styles.xml"/></Relationships>')
_STYLES = (
    f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<styleSheet xmlns="{NS}">'
    '<numFmts count="2"><numFmt numFmtId="164" formatCode="yyyy-mm-dd hh:mm:ss"/>'
    '<numFmt numFmtId="165" formatCode="yyyy-mm-dd"/></numFmts>'
    '<fonts count="2"><font><sz val="11"/><name val="Calibri"/><family val="2"/></font>'
    '<font><b/><sz val="11"/><name val="Calibri"/><family val="2"/></font></fonts>'
    '<fills count="2"><fill><patternFill patternType="none"/></fill><fill><patternFill patternType="gray125"/></fill>'
    '</fills><borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
    '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
    '<cellXfs count="5"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
    '<xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/>'
    '<xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    '<xf numFmtId="165" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    '<xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0" quotePrefix="1"/></cellXfs>'
    '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles></styleSheet>')


def _workbook_xml(title: str) -> str:
    return (f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<workbook xmlns="{NS}" '
            'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
            f'<sheets><sheet name={quoteattr(sheet_title(title))} sheetId="1" r:id="rId1"/></sheets></workbook>')


def sheet_title(title: str) -> str:
    """A sheet name Excel accepts: at most 31 characters, none of []:*?/\\."""
    cleaned = "".join("_" if char in "[]:*?/\\" else char for char in str(title)).strip("'")
    return cleaned[:31] or "Sheet1"


@lru_cache(maxsize=512)
def _letter(column: int) -> str:
    return get_column_letter(column)


def _text(value: str) -> str:
    return f'<t xml:space="preserve">{escape(value)}</t>' if value[:1].isspace() or value[-1:].isspace() else \
        f"<t>{escape(value)}</t>"


class Shared(str):
    """A cell text kept in the shared strings: the one `relabel` renders again for each reader."""


class SheetWriter:
    """Rows appended one by one go to temporary files (nothing held in memory); `save` makes the .xlsx.
    `widths`: column widths, by column number from 1."""

    def __init__(self, title: str, widths: dict[int, float] | None = None):
        self.title, self.widths = title, widths or {}
        self._rows: IO[bytes] = tempfile.TemporaryFile()
        self._strings: IO[bytes] = tempfile.TemporaryFile()
        self._row = self._shared = 0

    def append(self, values: list, *, bold: bool = False) -> None:
        self._row += 1
        number = self._row
        cells = []
        for column, value in enumerate(values, start=1):
            ref = f"{_letter(column)}{number}"
            if isinstance(value, Shared):
                text = cell_value(str(value))[0]
                self._strings.write(f"<si>{_text(text)}</si>".encode())
                cells.append(f'<c r="{ref}" t="s"{_style(BOLD if bold else PLAIN)}><v>{self._shared}</v></c>')
                self._shared += 1
                continue
            cells.append(_cell(ref, value, bold))
        self._rows.write(f'<row r="{number}">{"".join(cells)}</row>'.encode())

    def save(self, out: IO[bytes]) -> None:
        """Write the .xlsx to `out` and drop the temporary files."""
        cols = "".join(f'<col min="{c}" max="{c}" width="{w}" customWidth="1"/>'
                       for c, w in sorted(self.widths.items()))
        head = (f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<worksheet xmlns="{NS}">'
                '<sheetViews><sheetView workbookViewId="0"><pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" '
                'state="frozen"/></sheetView></sheetViews><sheetFormatPr defaultRowHeight="15"/>'
                + (f"<cols>{cols}</cols>" if cols else "") + "<sheetData>")
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as package:
            package.writestr("[Content_Types].xml", _CONTENT_TYPES)
            package.writestr("_rels/.rels", _ROOT_RELS)
            package.writestr(WORKBOOK_PART, _workbook_xml(self.title))
            package.writestr("xl/_rels/workbook.xml.rels", _WORKBOOK_RELS)
            package.writestr("xl/styles.xml", _STYLES)
            with package.open(SHEET_PART, "w", force_zip64=True) as part:
                part.write(head.encode())
                _copy(self._rows, part)
                part.write(b"</sheetData></worksheet>")
            with package.open(STRINGS_PART, "w", force_zip64=True) as part:
                part.write(f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<sst xmlns="{NS}" '
                           f'count="{self._shared}" uniqueCount="{self._shared}">'.encode())
                _copy(self._strings, part)
                part.write(b"</sst>")
        self.close()

    def close(self) -> None:
        self._rows.close()
        self._strings.close()


def _cell(ref: str, value: Any, bold: bool) -> str:
    value, as_text = cell_value(value)
    if value is None or value == "":
        return ""
    style = BOLD if bold else PLAIN
    if isinstance(value, bool):
        return f'<c r="{ref}" t="b"{_style(style)}><v>{int(value)}</v></c>'
    if isinstance(value, (int, float, Decimal)):
        return f'<c r="{ref}"{_style(style)}><v>{value}</v></c>'
    if isinstance(value, datetime):
        return f'<c r="{ref}"{_style(DATETIME)}><v>{to_excel(value)}</v></c>'
    if isinstance(value, date):
        return f'<c r="{ref}"{_style(DATE)}><v>{to_excel(value)}</v></c>'
    if not isinstance(value, str):
        value, as_text = cell_value(str(value))
    return f'<c r="{ref}" t="inlineStr"{_style(TEXT if as_text else style)}><is>{_text(value)}</is></c>'


def _style(style: int) -> str:
    return f' s="{style}"' if style else ""


def _copy(source: IO[bytes], target: IO[bytes]) -> None:
    source.seek(0)
    while block := source.read(BLOCK):
        target.write(block)


def relabel(data: bytes, render: Callable[[str], str], title: str | None = None) -> IO[bytes]:
    """The .xlsx `data` (made by SheetWriter) with each shared string replaced by `render(string)`, and its sheet
    named `title`; the rows are copied as they are. Returns a rewound spooled temporary file (memory up to 8 MB,
    then disk). A file without shared strings (or not a zip at all) is returned as it is."""
    out = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)
    buffer = io.BytesIO(data)
    if not zipfile.is_zipfile(buffer):
        out.write(data)
        out.seek(0)
        return out
    with zipfile.ZipFile(buffer) as source:
        if STRINGS_PART not in source.namelist():
            out.write(data)
            out.seek(0)
            return out
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as package:
            for info in source.infolist():
                if info.filename == STRINGS_PART:
                    with source.open(info) as part, package.open(STRINGS_PART, "w", force_zip64=True) as target:
                        _render_strings(part, target, render)
                elif info.filename == WORKBOOK_PART and title is not None:
                    package.writestr(WORKBOOK_PART, _workbook_xml(title))
                else:
                    with source.open(info) as part, package.open(info.filename, "w", force_zip64=True) as target:
                        _copy(part, target)
    out.seek(0)
    return out


def _render_strings(part: IO[bytes], target: IO[bytes], render: Callable[[str], str]) -> None:
    """Stream the shared strings through expat: each <si>'s text (its <t> runs joined) becomes render(text)."""
    parser = expat.ParserCreate()
    parser.buffer_text = True
    out: list[bytes] = []  # what the block just parsed produced, written after it
    text: list[str] | None = None  # the runs of the <si> being read
    in_t = 0

    def start(name, attrs):
        nonlocal text, in_t
        local = name.rsplit(":", 1)[-1]
        if local == "sst":
            count = escape(attrs.get("count", "0"))
            out.append(f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<sst xmlns="{NS}" count="{count}" '
                       f'uniqueCount="{escape(attrs.get("uniqueCount", count))}">'.encode())
        elif local == "si":
            text = []
        elif local == "t" and text is not None:
            in_t += 1

    def end(name):
        nonlocal text, in_t
        local = name.rsplit(":", 1)[-1]
        if local == "t" and in_t:
            in_t -= 1
        elif local == "si" and text is not None:
            rendered = cell_value(render("".join(text)))[0]
            out.append(f"<si>{_text('' if rendered is None else str(rendered))}</si>".encode())
            text = None
        elif local == "sst":
            out.append(b"</sst>")

    def chars(data):
        if in_t and text is not None:
            text.append(data)

    def refuse(*_args):
        raise ValueError("an .xlsx part declares no DTD or entity")

    parser.StartElementHandler, parser.EndElementHandler, parser.CharacterDataHandler = start, end, chars
    parser.EntityDeclHandler = parser.StartDoctypeDeclHandler = refuse
    while block := part.read(BLOCK):
        parser.Parse(block, False)
        target.write(b"".join(out))
        out.clear()
    parser.Parse(b"", True)
    target.write(b"".join(out))
