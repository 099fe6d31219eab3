"""Odd input, as an attacker or a clumsy integrator sends it, ends in a clean refusal or a final state: never a
500, a job that dies, a poll that never ends, a worker that blows up, or an Excel file that breaks.

Files are generated here (no checked-in binaries). Each test names the defect it pins down (issue 13)."""
from __future__ import annotations

import io
import json
import subprocess
import sys
import textwrap
from datetime import datetime, timedelta, timezone

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import BatchStatus, CtiEvent, MigrationBatch, Service
from portal.services import Actor, migration, ticket_fields
from tests.conftest import csrf_token
from tests.migration_files import column_letter, fill, patch_sheet, sheet_part
from tests.test_cti_ingest import at, line, post  # noqa: F401  (the CTI line fixture)
from tests.test_migration import EN, GOOD, batch_of, said, setup, template, upload, work  # noqa: F401

FINAL = (BatchStatus.check_failed, BatchStatus.ready)


def _checked(app, client, data: bytes) -> MigrationBatch:
    response = upload(client, data)
    assert response.status_code == 303, response.get_data(as_text=True)[:300]
    batch_id = int(response.headers["Location"].rsplit("/", 1)[1])
    work(app)
    return batch_of(app, batch_id)


def _poll_stopped(client, batch: MigrationBatch) -> bool:
    page = client.get(f"/admin/migrations/{batch.id}", headers={**EN, "HX-Request": "true"}).get_data(as_text=True)
    return "hx-trigger" not in page and "<progress" not in page


# -- 1. a migration check always ends ---------------------------------------------------------------------------

def test_excel_escaped_control_characters_end_the_check_with_a_readable_report(setup, app):
    c = setup["client"]
    good = fill(template(c), [["placeholder A"] + GOOD[0][1:], ["placeholder B"] + GOOD[1][1:]])
    part = sheet_part(good)
    # Excel's own escapes for U+0000 and U+0001 in the title cells (what Excel writes for such characters).
    crafted = patch_sheet(good, part, "</sheetData>",
                          '<row r="4"><c r="A4" t="inlineStr"><is><t>_x0000__x0001_</t></is></c>'
                          '<c r="B4" t="inlineStr"><is><t>body_x0001_with_x001F_controls</t></is></c></row>')
    batch = _checked(app, c, crafted)
    assert batch.status == BatchStatus.check_failed and batch.error_count == 1, batch.message
    assert batch.errors[0]["row"] == 4  # the title holds nothing visible: "Required"
    report = c.get(f"/admin/migrations/{batch.id}/errors.xlsx")
    assert report.status_code == 200
    rows = list(load_workbook(io.BytesIO(report.data)).worksheets[0].iter_rows(values_only=True))
    assert rows[1][0] == 4 and rows[1][3] == "bodywithcontrols"  # the controls dropped, the rest kept
    assert _poll_stopped(c, batch)


def test_a_check_that_crashes_fails_its_batch_with_a_message_and_the_poll_ends(setup, app, monkeypatch):
    def explode(self, row, number):
        raise RuntimeError("a bug nobody foresaw")

    monkeypatch.setattr(migration.RowValidator, "validate", explode)
    c = setup["client"]
    batch = _checked(app, c, fill(template(c), GOOD))
    assert batch.status == BatchStatus.check_failed
    assert "could not be checked" in said(app, batch) and "RuntimeError" not in said(app, batch)
    assert _poll_stopped(c, batch)


def test_a_check_whose_worker_keeps_dying_is_failed_by_the_sweep_not_restarted_forever(setup, app, runner):
    c = setup["client"]
    response = upload(c, fill(template(c), GOOD))
    batch_id = int(response.headers["Location"].rsplit("/", 1)[1])
    with app.app_context():
        from portal.queue import get_queue

        get_queue().empty()  # the worker died with the job, for the third time
        batch = db.session.get(MigrationBatch, batch_id)
        batch.heartbeat_at = datetime.now(timezone.utc) - timedelta(hours=1)
        batch.check_attempts = migration.MAX_CHECK_ATTEMPTS
        db.session.commit()
    assert "restarted 0 check(s)" in runner.invoke(args=["migration", "apply-due"]).output
    failed = batch_of(app, batch_id)
    assert failed.status == BatchStatus.check_failed and "3번 중단되었습니다" in said(app, failed, "ko")
    assert _poll_stopped(c, failed)


# -- 2. the sheet's real extent, before anything is materialised -----------------------------------------------

def _far_cell(good: bytes, column: int, row: int, text: str) -> bytes:
    ref = f"{column_letter(column)}{row}"
    return patch_sheet(good, sheet_part(good), "</sheetData>",
                       f'<row r="{row}"><c r="{ref}" t="inlineStr"><is><t>{text}</t></is></c></row>')


def test_trailing_empty_cells_do_not_count_against_the_limits(setup, app):
    c = setup["client"]
    good = fill(template(c), GOOD)
    # An empty-string cell at CV1048576 (the 8.5 KB file that took 3.3 GB) and a formatted, empty column.
    empty_far = _far_cell(good, 100, 1_048_576, "")
    styled = patch_sheet(empty_far, sheet_part(empty_far), "</sheetData>",
                         '<row r="1048575"><c r="XFD1048575" s="0"/></row>')
    batch = _checked(app, c, styled)
    assert batch.status == BatchStatus.ready and batch.rows == 3, batch.message


@pytest.mark.parametrize("column, row, expected", [
    (100, 1_048_576, "1,048,575 rows"),  # CV1048576
    (200, 1_048_576, "1,048,575 rows"),  # GR1048576
    (16_384, 3, "16,384 columns"),       # XFD3
])
def test_a_value_past_the_limits_is_refused_naming_the_extent(setup, app, column, row, expected):
    c = setup["client"]
    batch = _checked(app, c, _far_cell(fill(template(c), GOOD), column, row, "x"))
    assert batch.status == BatchStatus.check_failed and expected in said(app, batch), said(app, batch)


PEAK_SCRIPT = textwrap.dedent("""
    import sys
    from portal.services.migration_files import FileRefused, open_workbook
    for path in sys.argv[1:]:
        data = open(path, "rb").read()
        try:
            opened = open_workbook(data, max_rows=200_000)
            for _row in opened.rows:
                pass
        except FileRefused as exc:
            pass
    # VmHWM: this process's own peak (ru_maxrss would count the parent's memory at fork time)
    status = dict(line.split(":", 1) for line in open("/proc/self/status"))
    print(int(status["VmHWM"].split()[0]) // 1024)
""")


def test_no_hostile_sheet_takes_more_than_a_bounded_amount_of_memory(setup, tmp_path):
    """The reader on its own, in a fresh process: the worst files of the hostile corpus stay far under the
    worker's 300 MB goal (calamine took 3.3 GB and 6.5 GB on the first two)."""
    c = setup["client"]
    good = fill(template(c), GOOD)
    part = sheet_part(good)
    wide_row = "".join(f'<c r="{column_letter(i)}5" t="inlineStr"><is><t></t></is></c>' for i in range(1, 16_385))
    empties = "".join(f'<row r="{r}"><c r="XFD{r}" t="inlineStr"><is><t></t></is></c></row>'
                      for r in range(10, 60_000))
    junk = "<x/>" * 400_000  # unknown elements between rows: freed as the stream passes them
    corpus = {
        "cv": _far_cell(good, 100, 1_048_576, "x"),
        "gr": _far_cell(good, 200, 1_048_576, "x"),
        "xfd": _far_cell(good, 16_384, 1_048_576, ""),
        "wide_row": patch_sheet(good, part, "</sheetData>", f'<row r="5">{wide_row}</row>'),
        "empties": patch_sheet(good, part, "</sheetData>", empties),
        "junk": patch_sheet(good, part, "</sheetData>", junk + '<row r="9"><c r="A9"><v>1</v></c></row>'),
    }
    paths = []
    for name, data in corpus.items():
        path = tmp_path / f"{name}.xlsx"
        path.write_bytes(data)
        paths.append(str(path))
    peak = int(subprocess.run([sys.executable, "-c", PEAK_SCRIPT, *paths], check=True, capture_output=True,
                              text=True).stdout.strip())
    assert peak < 150, f"{peak} MB"


# -- 3 and 4. every Excel cell through one function -------------------------------------------------------------

def test_odd_stored_cti_data_never_breaks_the_log_download(client, line, app, login_as, make):
    """Rows stored before ingest refused them (control characters, nested detail, huge text) still export."""
    from rq import SimpleWorker

    from portal.queue import get_queue, get_redis

    now = datetime.now(timezone.utc) - timedelta(minutes=5)
    with app.app_context():
        service = db.session.get(Service, line["service"].id)
        day = now.astimezone(__import__("zoneinfo").ZoneInfo(service.time_zone)).date()
        for i, (counterpart, detail) in enumerate([
            ("010\x01-1234", {"note": "tab\there, bell\x07, esc\x1b", "duration": "12"}),
            ('=HYPERLINK("http://x.io","a")', {"nested": {"deep": [1, {"x": "\x02"}]}}),
            ("+82 10", {"duration": "12s", "huge": "y" * 40_000}),  # (PostgreSQL cannot store NaN in JSON)
        ]):
            db.session.add(CtiEvent(organization_id=service.organization_id, service_id=service.id,
                                    external_id=f"legacy-{i}", kind="inbound_ringing", occurred_at=now,
                                    received_at=now, local_day=day, logged=True, call_id=f"c{i}",
                                    direction="IB", counterpart=counterpart, detail=detail))
        db.session.commit()
    admin = login_as(make.admin_of(line["org"]))
    token = csrf_token(admin, "/me/cti-logs")
    started = admin.post("/me/cti-logs", data={"csrf_token": token, "service": "phone", "from": day.isoformat(),
                                               "to": day.isoformat()}, headers={"HX-Request": "true"})
    assert started.status_code == 200
    with app.app_context():
        SimpleWorker([get_queue()], connection=get_redis()).work(burst=True)
        from portal.models import JobRun

        run = db.session.scalars(select(JobRun).order_by(JobRun.id.desc())).first()
        assert run.state.value == "succeeded", run.message
    response = admin.get(f"/me/cti-logs/exports/{run.id}/file")
    sheet = load_workbook(io.BytesIO(response.data)).worksheets[0]
    values = {row[10].value: row for row in sheet.iter_rows(min_row=2)}  # by call ID
    assert values["c0"][9].value == "010-1234"  # the counterpart
    assert values["c1"][9].value == '=HYPERLINK("http://x.io","a")'
    assert values["c1"][9].data_type == "s" and values["c1"][9].quotePrefix  # text, never a formula
    assert '"deep"' in values["c1"][12].value  # the detail
    assert len(values["c2"][12].value) <= 32_767


def test_a_field_label_or_choice_that_looks_like_a_formula_stays_text_and_the_template_passes_its_check(setup, app):
    with app.app_context():
        svc = db.session.get(Service, setup["service"].id)
        ticket_fields.add_custom_field(Actor(setup["org"].id, None), svc, key="evil", type="single_choice",
                                       label_ko="=HYPERLINK(\"http://evil.example\")",
                                       label_en="=HYPERLINK(\"http://evil.example\")", choices="=1+1\n@SUM(A1)\nok")
        db.session.commit()
    c = setup["client"]
    blank = template(c)
    book = load_workbook(io.BytesIO(blank))
    for sheet in book.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                assert cell.data_type != "f", f"{sheet.title}!{cell.coordinate} is a formula"
    header = [cell.value for cell in book["tickets"][1]]
    assert '=HYPERLINK("http://evil.example")' in header
    batch = _checked(app, c, fill(blank, [GOOD[0] + ["=1+1"]]))
    assert batch.status == BatchStatus.ready, batch.message


# -- 6 and 7. CTI ingest and JSON bodies: bounded, refused as problem documents ------------------------------

@pytest.mark.parametrize("event, code", [
    ({"counterpart": "010\x011234"}, "bad_field"),
    ({"counterpart": "010\x1f1234"}, "bad_field"),  # NUL: the JSON layer refuses it for the whole body
    ({"detail": {"note": "bell\x07"}}, "bad_detail"),
    ({"detail": {"nested": {"a": 1}}}, "bad_detail"),
    ({"detail": {"list": [1, 2]}}, "bad_detail"),
    ({"detail": {"note": "x" * 1001}}, "bad_detail"),
    ({"detail": {f"k{i}": "v" * 200 for i in range(30)}}, "bad_detail"),
    ({"detail": {f"k{i}": 1 for i in range(40)}}, "bad_detail"),
    ({"occurred_at": "0001-01-01T00:00:00+01:00"}, "bad_time"),
    ({"occurred_at": "9999-12-31T23:59:59-01:00"}, "bad_time"),  # past year 9999 in UTC
    ({"occurred_at": "9999-12-31T23:59:59+00:00"}, "future_time"),
    ({"occurred_at": "1970-01-01T00:00:00+00:00"}, "past_time"),
    ({"occurred_at": (datetime.now(timezone.utc) - timedelta(days=8)).isoformat()}, "past_time"),
    ({"occurred_at": 12345}, "bad_time"),
    ({"event_id": ["a"]}, "bad_field"),
    ({"event_id": True}, "bad_field"),
    ({"cti_id": "ann\u202e01"}, None),  # a format character is not a control: stored, unknown CTI ID
])
def test_odd_cti_event_fields_are_refused_per_event(client, line, app, event, code):
    base = {"kind": "agent_login", "event_id": "odd-1", "occurred_at": at(0), "cti_id": "ann01"}
    response = post(client, line["key"], [{**base, **event}])
    result = response.json["results"][0]
    if code is None:
        assert response.status_code == 200 and result["status"] == "stored"
    else:
        assert response.status_code == 422 and result["status"] == "rejected" and result["code"] == code, result
        with app.app_context():
            assert db.session.scalar(select(func.count()).select_from(CtiEvent)) == 0


def _deep(levels: int) -> str:
    return "[" * levels + "]" * levels


@pytest.mark.parametrize("body, status, code", [
    ('{"service": "phone", "events": [{"event_id": "\\ud800-x", "kind": "agent_login"}]}', 400, "bad_text"),
    ('{"service": "phone\\u0000", "events": []}', 400, "bad_text"),
    ('{"service": "phone", "events": ' + _deep(1000) + "}", 400, "too_deep"),
    ('{"service": "phone", "events": ' + _deep(100_000) + "}", 400, "too_deep"),
    ('{"service": "phone", "events": [{"n": 1e999999}]}', 400, "bad_number"),
    ('{"service": "phone", "events": [{"n": NaN}]}', 400, "bad_number"),
    ('{"service": "phone", "events": [{"n": 99999999999999999999}]}', 400, "bad_number"),
    ('{"service": "phone", "events": [{"n": 1' + "0" * 5000 + "}]}", 400, "malformed_json"),
    ('{"service": "phone", "events": [{"detail": "' + "x" * (3 * 1024 * 1024) + '"}]}', 413, "too_large"),
    ("{not json", 400, "malformed_json"),
])
def test_json_bodies_are_bounded_before_any_view(client, line, app, body, status, code):
    for path in ("/api/v1/cti/events", "/api/v1/services", "/api/v1/services/phone/contract/estimate"):
        response = client.post(path, data=body, content_type="application/json",
                               headers={"Authorization": f"Bearer {line['key']}"})
        assert response.status_code == status, (path, response.status_code, response.get_data(as_text=True)[:200])
        assert response.mimetype == "application/problem+json" and response.json["code"] == code
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(CtiEvent)) == 0


def test_odd_text_in_the_session_never_ends_it(client, make, login_as):
    """Only request bodies are bounded: a flash holding a NUL (stored before any check)
    does not make the session cookie unreadable."""
    member = make.member(make.org(), "odd")
    client = login_as(member)
    with client.session_transaction() as session:
        session["_flashes"] = [("info", "odd\x00text")]
    assert client.get("/me/settings").status_code == 200
    assert client.get("/me/settings").status_code == 200
