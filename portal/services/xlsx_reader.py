"""Reading .xlsx files row by row in bounded memory.

Why not python-calamine (which the project used before): calamine has no streaming API; it builds the whole
sheet as a dense grid before giving the first row. A 200,000-row template took 250 MB in calamine alone, and
an 8 KB file with one cell at CV1048576 took 3.3 GB (the grid is rows × columns, empty or not). Here the
sheet's XML goes through expat's event callbacks in chunks: no tree is built, so memory holds one chunk and
the rows finished in it, whatever the sheet's extent or markup. It costs time: 200,000 rows × 12 cells read
in about 7 s of CPU against calamine's 2 s (an lxml tree per row took 15 s).

What it reads, as Excel writes it: shared strings (rich text runs joined, phonetic guides left out), inline
strings, numbers (floats, as calamine gave them), dates (a number whose cell style is a date format; 1900 and
1904 calendars, via openpyxl's own helpers; a whole day as a date), booleans, errors (their text, e.g.
"#N/A"), and the cached value of a formula (never evaluated). Excel's escapes (_x0001_) are decoded. Cells
and rows without an `r` reference follow the previous one.

Shared strings can be as large as the file allows (400 MB unpacked); they are kept as UTF-8 in one buffer with
an offset table, and past SPILL_BYTES the buffer moves to a temporary file, so memory stays bounded whatever
the file holds. A DTD or entity declaration is refused (no .xlsx part has one); the small parts (workbook,
relations, styles) are parsed by lxml without entities, DTD or network.
"""
from __future__ import annotations

import io
import os
import re
import posixpath
import tempfile
import zipfile
import zlib
from xml.parsers import expat
from array import array
from datetime import datetime, time
from functools import lru_cache
from typing import Iterator

from lxml import etree
from openpyxl.styles.numbers import BUILTIN_FORMATS, is_date_format
from openpyxl.utils.datetime import CALENDAR_MAC_1904, CALENDAR_WINDOWS_1900, from_excel

MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
REL = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
PKG_REL = "{http://schemas.openxmlformats.org/package/2006/relationships}"
SPILL_BYTES = 32 * 1024 * 1024
MAX_PART = 16 * 1024 * 1024  # a workbook, relations or styles part read whole
MAX_COLUMNS = 16_384  # Excel's XFD
_MIDNIGHT = time(0, 0)
_ESCAPE = re.compile(r"_x([0-9A-Fa-f]{4})_")  # OOXML's escape for characters XML cannot carry (_x0001_)


def _unescape(text: str) -> str:
    return _ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text) if "_x" in text else text



class XlsxError(ValueError):
    """The file is not a readable .xlsx (broken XML, missing part, unknown sheet)."""


class TooLarge(ValueError):
    """A value lies beyond the reader's limits: `what` is "rows" or "columns", `extent` how far it reaches."""

    def __init__(self, what: str, extent: int):
        super().__init__(f"{what}: {extent}")
        self.what, self.extent = what, extent


def _parser_args() -> dict:
    return {"resolve_entities": False, "no_network": True, "load_dtd": False, "huge_tree": False,
            "remove_comments": True, "remove_pis": True}


def column_number(letters: str) -> int:
    number = 0
    for char in letters:
        number = number * 26 + ord(char) - 64
    return number


@lru_cache(maxsize=4096)
def _letters_number(letters: str) -> int:
    if not letters or len(letters) > 3 or not letters.isalpha() or not letters.isupper():
        raise XlsxError(f"bad cell reference {letters[:10]}")
    return column_number(letters)


def _column(reference: str) -> int:
    """The column of a cell reference such as "CV12"."""
    return _letters_number(reference.rstrip("0123456789").lstrip("$").rstrip("$"))


class SharedStrings:
    """The shared string table as UTF-8 bytes and offsets: a tenth of the memory of a list of str, and on disk
    past SPILL_BYTES."""

    def __init__(self):
        self._offsets = array("Q", [0])
        self._buffer = bytearray()
        self._file = None

    def append(self, text: str) -> None:
        data = text.encode("utf-8", "surrogatepass")
        self._buffer += data
        self._offsets.append(self._offsets[-1] + len(data))
        if len(self._buffer) > SPILL_BYTES:
            self._spill()

    def _spill(self) -> None:
        if self._file is None:
            self._file = tempfile.TemporaryFile()
        self._file.seek(0, os.SEEK_END)
        self._file.write(self._buffer)
        self._buffer = bytearray()

    def done(self) -> None:
        if self._file is not None:
            self._spill()
            self._file.flush()

    def __len__(self) -> int:
        return len(self._offsets) - 1

    def __getitem__(self, index: int) -> str:
        start, end = self._offsets[index], self._offsets[index + 1]
        if self._file is None:
            data = self._buffer[start:end]
        else:
            data = os.pread(self._file.fileno(), end - start, start)
        return data.decode("utf-8", "surrogatepass")

    def close(self) -> None:
        if self._file is not None:
            self._file.close()


class Workbook:
    """An opened .xlsx: `sheet_names`, and `rows(name)` streaming (row number, values) of the non-empty rows."""

    def __init__(self, data: bytes):
        try:
            self._zip = zipfile.ZipFile(io.BytesIO(data))
            workbook = self._xml("xl/workbook.xml")
            rels = self._rels("xl/workbook.xml")
        except (zipfile.BadZipFile, KeyError, etree.XMLSyntaxError, OSError, EOFError) as exc:
            raise XlsxError(str(exc)) from exc
        pr = workbook.find(f"{MAIN}workbookPr")
        self.epoch = CALENDAR_MAC_1904 if pr is not None and pr.get("date1904") in ("1", "true") \
            else CALENDAR_WINDOWS_1900
        self._sheets: dict[str, str] = {}
        for sheet in workbook.iter(f"{MAIN}sheet"):
            target = rels.get(sheet.get(f"{REL}id") or "")
            if sheet.get("name") is not None and target:
                self._sheets[sheet.get("name")] = target
        self._rel_targets = rels
        self._strings: SharedStrings | None = None
        self._date_styles: set[str] | None = None

    @property
    def sheet_names(self) -> list[str]:
        return list(self._sheets)

    def close(self) -> None:
        if self._strings is not None:
            self._strings.close()

    # -- parts ---------------------------------------------------------------------------------------------

    def _xml(self, name: str):
        if self._zip.getinfo(name).file_size > MAX_PART:
            raise XlsxError(f"{name} is too large")
        with self._zip.open(name) as part:
            return etree.parse(part, etree.XMLParser(**_parser_args())).getroot()

    def _rels(self, part: str) -> dict[str, str]:
        folder, base = posixpath.split(part)
        name = posixpath.join(folder, "_rels", base + ".rels")
        targets = {}
        for rel in self._xml(name).iter(f"{PKG_REL}Relationship"):
            target = rel.get("Target") or ""
            target = target.lstrip("/") if target.startswith("/") else posixpath.normpath(posixpath.join(folder, target))
            targets[rel.get("Id") or ""] = target
            targets["type:" + (rel.get("Type") or "").rsplit("/", 1)[-1]] = target
        return targets

    def _part_of_type(self, kind: str, default: str) -> str | None:
        name = self._rel_targets.get("type:" + kind, default)
        return name if name in self._zip.namelist() else None

    def _shared_strings(self) -> SharedStrings:
        if self._strings is None:
            strings = SharedStrings()
            part = self._part_of_type("sharedStrings", "xl/sharedStrings.xml")
            if part:
                try:
                    for _done in _stream(self._zip, part, _StringsHandler(strings)):
                        pass
                except XlsxError:
                    strings.close()
                    raise
            strings.done()
            self._strings = strings
        return self._strings

    def _dates(self) -> set[str]:
        """Indexes of the cell styles whose number format shows a date or time."""
        if self._date_styles is None:
            dates: set[str] = set()
            part = self._part_of_type("styles", "xl/styles.xml")
            if part:
                try:
                    root = self._xml(part)
                except (etree.XMLSyntaxError, OSError, EOFError) as exc:
                    raise XlsxError(str(exc)) from exc
                custom = {fmt.get("numFmtId"): fmt.get("formatCode") or "" for fmt in root.iter(f"{MAIN}numFmt")}
                xfs = root.find(f"{MAIN}cellXfs")
                for index, xf in enumerate(xfs.iterfind(f"{MAIN}xf") if xfs is not None else ()):
                    fmt_id = xf.get("numFmtId") or "0"
                    code = custom.get(fmt_id)
                    if code is None and fmt_id.isdigit():
                        number = int(fmt_id)
                        code = BUILTIN_FORMATS.get(number) or ("yyyy-mm-dd" if 27 <= number <= 36 or
                                                               50 <= number <= 58 else "")  # CJK dates
                    if code and is_date_format(code):
                        dates.add(str(index))
            self._date_styles = dates
        return self._date_styles

    # -- rows ----------------------------------------------------------------------------------------------

    def rows(self, name: str, *, max_rows: int | None = None, max_columns: int | None = None,
             progress: list | None = None) -> Iterator[tuple[int, list]]:
        """Yield (row number, values) for each row holding a value, in order; values run to the row's last
        non-empty cell. A value past `max_rows` (counted from row 1) or `max_columns` raises TooLarge as soon
        as it is met; empty cells there do not count. `progress[0]` is kept at the share of the part read.

        The sheet is read with expat's event callbacks: no tree is built, so memory holds one chunk of XML and
        the rows finished in it, whatever the markup."""
        if name not in self._sheets or self._sheets[name] not in self._zip.namelist():
            raise XlsxError(f"no sheet {name}")
        handler = _RowsHandler(self, self._shared_strings(), self._dates(), max_columns or MAX_COLUMNS)
        size = max(self._zip.getinfo(self._sheets[name]).file_size, 1)
        for done in _stream(self._zip, self._sheets[name], handler):
            if progress is not None:
                progress[0] = min(1.0, done / size)
            finished, handler.finished = handler.finished, []
            for row_number, values in finished:
                if max_rows is not None and row_number > max_rows:
                    raise TooLarge("rows", row_number)
                yield row_number, values
            if handler.ended:
                return

    def typed(self, kind: str, text: str, style: str | None, strings: SharedStrings, dates: set[str]):
        """A cell's value from its type (t), text (<v>) and style (s)."""
        try:
            if kind == "s":
                index = int(text)
                return strings[index] if 0 <= index < len(strings) else None
            if kind == "b":
                return text.strip() in ("1", "true")
            if kind in ("str", "e"):
                return _unescape(text)
            if kind == "d":
                return datetime.fromisoformat(text.strip())
            number = float(text)
        except (ValueError, OverflowError):
            return text
        if style and style in dates and number == number:
            try:
                moment = from_excel(number, self.epoch)
            except (ValueError, OverflowError, TypeError):
                return number
            # a whole day reads as a date, as calamine gave it
            return moment.date() if isinstance(moment, datetime) and moment.time() == _MIDNIGHT else moment
        return number


_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main "  # expat's "namespace name" prefix
_X_ROW, _X_CELL, _X_VALUE, _X_TEXT, _X_INLINE = (_NS + tag for tag in ("row", "c", "v", "t", "is"))
_X_SHEET_DATA, _X_STRING, _X_PHONETIC = _NS + "sheetData", _NS + "si", _NS + "rPh"
MAX_TEXT = 40_000  # characters of one cell or string (Excel's limit is 32,767)


class _RowsHandler:
    """expat callbacks collecting the rows of a worksheet as they finish."""

    def __init__(self, workbook: Workbook, strings: SharedStrings, dates: set[str], limit: int):
        self.workbook, self.strings, self.dates, self.limit = workbook, strings, dates, limit
        self.finished: list[tuple[int, list]] = []
        self.ended = False
        self.row_number = 0
        self.values: list = []
        self.column = self.cells = 0
        self.kind = self.style = None
        self.text: list[str] | None = None  # the cell's text so far (None: the cell has no <v> or <is>)
        self.length = 0
        self.capturing = self.inline = self.phonetic = False

    def start(self, name: str, attrs: dict) -> None:
        if name == _X_CELL:
            reference = attrs.get("r")
            self.column = _column(reference) if reference else self.column + 1
            self.cells += 1
            if self.cells > MAX_COLUMNS:
                raise XlsxError("more cells in a row than a sheet has columns")
            self.kind, self.style, self.text, self.length = attrs.get("t"), attrs.get("s"), None, 0
        elif name == _X_VALUE:
            self.text, self.capturing = [], True
        elif name == _X_TEXT:
            if self.inline and not self.phonetic:
                self.text = [] if self.text is None else self.text  # the runs of a rich inline string join
                self.capturing = True
        elif name == _X_INLINE:
            self.inline, self.text = True, []
        elif name == _X_PHONETIC:
            self.phonetic = True
        elif name == _X_ROW:
            reference = attrs.get("r")
            self.row_number = int(reference) if reference and reference.isdigit() else self.row_number + 1
            self.values, self.column, self.cells = [], 0, 0

    def data(self, text: str) -> None:
        if self.capturing:
            self.length += len(text)
            if self.length > MAX_TEXT:
                raise XlsxError("a cell holds more text than Excel allows")
            self.text.append(text)

    def end(self, name: str) -> None:
        if name == _X_VALUE or name == _X_TEXT:
            self.capturing = False
        elif name == _X_CELL:
            if self.text is not None:
                text = "".join(self.text)
                if self.kind == "inlineStr":
                    self._put(_unescape(text))
                else:
                    self._put(self.workbook.typed(self.kind or "n", text, self.style, self.strings, self.dates))
            self.text, self.inline, self.capturing = None, False, False
        elif name == _X_INLINE:
            self.inline = False
        elif name == _X_PHONETIC:
            self.phonetic = False
        elif name == _X_ROW:
            if self.values:
                self.finished.append((self.row_number, self.values))
            self.values = []
        elif name == _X_SHEET_DATA:
            self.ended = True

    def _put(self, value) -> None:
        if value is None or value == "":
            return
        if self.column > self.limit:
            raise TooLarge("columns", self.column)
        if self.column > len(self.values):
            self.values.extend([None] * (self.column - len(self.values)))
        self.values[self.column - 1] = value


class _StringsHandler:
    """expat callbacks collecting the shared strings: the text of <t> in <si>, not in its phonetic guide."""

    def __init__(self, strings: SharedStrings):
        self.strings = strings
        self.parts: list[str] | None = None
        self.length = 0
        self.phonetic = self.in_text = False
        self.ended = False

    def start(self, name: str, attrs: dict) -> None:
        if name == _X_STRING:
            self.parts, self.length = [], 0
        elif name == _X_PHONETIC:
            self.phonetic = True
        elif name == _X_TEXT:
            self.in_text = not self.phonetic

    def data(self, text: str) -> None:
        if self.in_text and self.parts is not None:
            self.length += len(text)
            if self.length > MAX_TEXT:
                raise XlsxError("a shared string holds more text than Excel allows")
            self.parts.append(text)

    def end(self, name: str) -> None:
        if name == _X_TEXT:
            self.in_text = False
        elif name == _X_PHONETIC:
            self.phonetic = False
        elif name == _X_STRING:
            self.strings.append(_unescape("".join(self.parts or ())))
            self.parts = None


def _refuse(*_args) -> None:
    raise XlsxError("a DTD or an entity declaration (no .xlsx part has one)")


def _stream(archive: zipfile.ZipFile, part: str, handler, chunk: int = 256 * 1024) -> Iterator[int]:
    """Feed a part of the zip to expat in chunks, calling the handler; yield the bytes read after each chunk.
    A DOCTYPE or entity declaration is refused outright (no billion laughs, no external entities)."""
    parser = expat.ParserCreate(namespace_separator=" ")
    parser.buffer_text = True
    parser.StartElementHandler, parser.EndElementHandler = handler.start, handler.end
    parser.CharacterDataHandler = handler.data
    parser.StartDoctypeDeclHandler = parser.EntityDeclHandler = _refuse
    parser.ExternalEntityRefHandler = _refuse
    done = 0
    try:
        with archive.open(part) as raw:
            while True:
                data = raw.read(chunk)
                done += len(data)
                parser.Parse(data, not data)
                yield done
                if not data or handler.ended:
                    return
    except expat.ExpatError as exc:
        raise XlsxError(str(exc)) from exc
    except (zipfile.BadZipFile, OSError, EOFError, zlib.error, RuntimeError) as exc:
        raise XlsxError(str(exc)) from exc
