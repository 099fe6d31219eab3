"""Making .xlsx files for migration tests: filled templates and a corpus of bad files."""
from __future__ import annotations

import io
import zipfile

from openpyxl import load_workbook


def fill(template: bytes, rows: list[list]) -> bytes:
    """The template with `rows` written under its header (as a person filling it in Excel would)."""
    wb = load_workbook(io.BytesIO(template))
    ws = wb["tickets"]
    for i, row in enumerate(rows, start=2):
        for j, value in enumerate(row, start=1):
            ws.cell(row=i, column=j, value=value)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def patch_sheet(xlsx: bytes, sheet_part: str, before: str, insert: str) -> bytes:
    """Rewrite one part of the zip: put `insert` before the first `before` (to craft odd sheets)."""
    src = zipfile.ZipFile(io.BytesIO(xlsx))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename == sheet_part:
                text = data.decode()
                data = text.replace(before, insert + before, 1).encode()
            dst.writestr(item, data)
    return out.getvalue()


def sheet_part(xlsx: bytes, title: str = "tickets") -> str:
    """The zip path of the worksheet called `title` (openpyxl names them sheet1.xml, sheet2.xml …)."""
    wb = load_workbook(io.BytesIO(xlsx), read_only=True)
    return f"xl/worksheets/sheet{wb.sheetnames.index(title) + 1}.xml"


def zip_bomb(size_mb: int) -> bytes:
    """A small zip that unpacks to `size_mb` MB, dressed as an .xlsx."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("xl/workbook.xml", "<workbook/>")
        z.writestr("xl/worksheets/sheet1.xml", b"\0" * (size_mb * 1024 * 1024))
    return out.getvalue()


def column_letter(n: int) -> str:
    letters = ""
    while n:
        n, rem = divmod(n - 1, 26)
        letters = chr(65 + rem) + letters
    return letters
