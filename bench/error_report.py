"""The migration error report in the downloader's language (see bench/README.md, "Error report download").

A report of --rows failing rows (16 columns, two errors each) is built as the check builds it (ErrorReport), then
downloaded in English and in Korean as the route does (xlsx_writer.relabel: the shared strings rendered, the rows
copied). The floor, in the same run: copying the same file part by part (decompress and compress every part, as
relabel must, rendering nothing). Printed, never asserted:

- build s: the check's cost of the report (it replaced openpyxl's write-only workbook: --openpyxl times that too);
- download s per language, and the ratio download / floor (the goal: a download well inside a request, ≤ 3× the
  copy);
- the peak of Python's allocations during a download (tracemalloc) and the file's size: memory does not follow the
  row count.

    .venv/bin/python bench/error_report.py                  # 200,000 rows, about a minute
    .venv/bin/python bench/error_report.py --rows 20000 --openpyxl
"""
from __future__ import annotations

import argparse
import io
import os
import sys
import time
import tracemalloc
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("PORTAL_DOTENV", "/dev/null")

from flask_babel import force_locale  # noqa: E402
from openpyxl import Workbook  # noqa: E402

from portal import create_app  # noqa: E402
from portal.messages import RowErrors  # noqa: E402
from portal.models import FieldType, TicketField  # noqa: E402
from portal.services.migration_files import ErrorReport, report_text  # noqa: E402
from portal.services.xlsx_writer import relabel  # noqa: E402

KEYS = ["title", "body", "status", "priority", "channel", "requester_name", "requester_email", "requester_phone",
        "assignee", "category", "tags", "external_id", "created_at", "closed_at"]


def fields() -> list[TicketField]:
    return [TicketField(key=key, system=True, type=FieldType.text, label_ko=f"필드 {i}", label_en=f"Field {i}",
                        required=i == 0, choices=None, position=i) for i, key in enumerate(KEYS)]


def rows(n: int):
    for number in range(2, n + 2):
        raw = [None, f"body of row {number}", f"lost-{number % 97}", "높음", "웹", "김고객", "kim@example.com",
               "010-1111-2222", "nobody", "hardware", "a, b", f"OLD-{number}", "2026-02-30 10:00", None]
        errors = [{"column": ["제목", "Title"], "code": "required", "args": {}},
                  {"column": ["상태", "Status"], "code": "not_choice", "args": {"value": f"lost-{number % 97}"}}]
        yield number, raw, errors


def copy(data: bytes) -> int:
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED,
                                                                      compresslevel=6) as target:
        for info in source.infolist():
            with source.open(info) as part, target.open(info.filename, "w", force_zip64=True) as copied:
                while block := part.read(1024 * 1024):
                    copied.write(block)
    return len(out.getvalue())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--openpyxl", action="store_true", help="also time openpyxl's write-only workbook")
    args = parser.parse_args()
    app = create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://", "TESTING": True})
    with app.app_context():
        started = time.perf_counter()
        report = ErrorReport(fields())
        for number, raw, errors in rows(args.rows):
            report.add(number, raw, errors)
        data = report.save()
        build = time.perf_counter() - started
        print(f"rows {args.rows:,}; report {len(data) / 1e6:.1f} MB; build {build:.1f} s")
        if args.openpyxl:
            started = time.perf_counter()
            book = Workbook(write_only=True)
            sheet = book.create_sheet("Errors")
            for number, raw, errors in rows(args.rows):
                sheet.append([number, "Title: Required.; Status: lost is not one of the choices."] + raw)
            book.save(io.BytesIO())
            print(f"openpyxl write-only, the same rows: {time.perf_counter() - started:.1f} s")
        started = time.perf_counter()
        copy(data)
        floor = time.perf_counter() - started
        print(f"floor (copy every part): {floor:.2f} s")
        for language in ("en", "ko"):
            with force_locale(language):
                started = time.perf_counter()
                spool = download(data)
                took = time.perf_counter() - started
                tracemalloc.start()  # a second download, traced (tracing slows allocations down several times)
                download(data)
                peak = tracemalloc.get_traced_memory()[1]
                tracemalloc.stop()
            spool.seek(0, io.SEEK_END)
            print(f"download ({language}): {took:.2f} s, ratio to the floor {took / floor:.2f}, "
                  f"Python peak {peak / 1e6:.1f} MB (the file itself is {len(data) / 1e6:.1f} MB), "
                  f"{spool.tell() / 1e6:.1f} MB sent")


def download(data: bytes):
    """What the errors.xlsx route sends (migration.error_report)."""
    say = RowErrors()
    return relabel(data, lambda text: report_text(text, say), title="Errors")

if __name__ == "__main__":
    main()
