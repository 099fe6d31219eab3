"""Data migration end to end: template → fill → upload → check job → confirm → apply → tickets."""
import io
import os
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from flask_babel import force_locale
from openpyxl import load_workbook
from rq import SimpleWorker
from rq.registry import ScheduledJobRegistry
from sqlalchemy import func, select

from jobs.migration import apply_now
from portal import messages
from portal.extensions import db
from portal.models import BatchStatus, MigrationBatch, Service, Ticket
from portal.queue import get_queue, get_redis
from portal.services import Actor, migration, ticket_fields
from tests.conftest import csrf_token
from tests.migration_files import column_letter, fill, patch_sheet, sheet_part, zip_bomb

EN = {"Accept-Language": "en"}
# title, body, status, priority, channel, requester name/email/phone, assignee, category, tags, external id,
# created at, closed at, then the custom field "mood"
GOOD = [
    ["Printer on fire", "It smokes", "resolved", "high", "email", "Kim", "kim@example.com", "010-1111-2222", "agt",
     "hardware", "fire, urgent", "OLD-1", "2025-12-01 09:30", "2025-12-02 10:00", "angry"],
    ["Refund please", None, None, None, None, "Lee", None, None, None, None, None, "OLD-2", None, None, "calm"],
    ["Password reset", "Forgot it", "completed", "low", "web", None, "x@example.com", None, "AGT", None, None, "OLD-3",
     datetime(2025, 11, 30, 8, 0), None, None],
]


@pytest.fixture
def setup(make, login_as, app):
    org = make.org(domain="acme")
    service = make.service(org, "desk", name="Desk")
    agent = make.member(org, "agt", name="Agent A")
    make.place(service, agent)
    with app.app_context():
        svc = db.session.get(Service, service.id)
        ticket_fields.add_custom_field(Actor(org.id, None), svc, key="mood", type="single_choice", label_ko="기분",
                                       label_en="Mood", choices="angry\ncalm\nhappy")
        db.session.commit()
    client = login_as(make.admin_of(org))
    return {"org": org, "service": service, "client": client}


def template(client, key="desk", lang=EN) -> bytes:
    response = client.get(f"/admin/migrations/template/{key}.xlsx", headers=lang)
    assert response.status_code == 200
    return response.data


def upload(client, data: bytes, filename="tickets.xlsx", key="desk"):
    return client.post("/admin/migrations/new", headers=EN, content_type="multipart/form-data", data={
        "csrf_token": csrf_token(client, "/admin/migrations/new"), "service": key,
        "file": (io.BytesIO(data), filename)})


def work(app):
    with app.app_context():
        SimpleWorker([get_queue()], connection=get_redis()).work(burst=True)


def batch_of(app, batch_id) -> MigrationBatch:
    with app.app_context():
        batch = db.session.get(MigrationBatch, batch_id)
        db.session.expunge(batch)
        return batch


def said(app, batch: MigrationBatch, lang: str = "en") -> str | None:
    """The batch's outcome as a reader of `lang` reads it."""
    with app.app_context(), force_locale(lang):
        return migration.batch_message(batch)


def row_errors(app, batch: MigrationBatch, lang: str = "en") -> set[tuple[int, str]]:
    """The batch's stored first errors as a reader of `lang` reads them: (row, message)."""
    with app.app_context(), force_locale(lang):
        return {(e["row"], messages.row_error(e)[1]) for e in batch.errors}


def uploaded(app, setup, rows, **kwargs) -> MigrationBatch:
    response = upload(setup["client"], fill(template(setup["client"]), rows), **kwargs)
    assert response.status_code == 303, response.get_data(as_text=True)[:300]
    batch_id = int(response.headers["Location"].rsplit("/", 1)[1])
    work(app)
    return batch_of(app, batch_id)


def test_the_template_follows_the_fields(setup):
    wb = load_workbook(io.BytesIO(template(setup["client"])))
    ws = wb["tickets"]
    header = [c.value for c in ws[1]]
    assert header[0] == "Title *" and header[-1] == "Mood" and "Assignee login ID" in header
    assert wb["_template"].sheet_state == "hidden" and wb["_template"]["A1"].value == "fingerprint"
    lists = [dv.sqref for dv in ws.data_validations.dataValidation]
    mood_col = column_letter(len(header))
    assert any(str(ref).startswith(f"{mood_col}2") for ref in lists)
    created_col = column_letter(header.index("Created at") + 1)
    assert ws[f"{created_col}2"].number_format == "yyyy-mm-dd hh:mm"
    guide = [row for row in wb["Guide"].iter_rows(values_only=True)]
    assert guide[0][0] == "Column" and any(r[1] == "mood" and "angry" in r[4] for r in guide[1:] if r and r[1])


def test_a_good_file_is_checked_reserved_and_applied_once(setup, app, runner, smtp):
    batch = uploaded(app, setup, GOOD)
    assert batch.status == BatchStatus.ready and batch.rows == 3 and batch.progress == 100
    c = setup["client"]
    fragment = c.get(f"/admin/migrations/{batch.id}/progress", headers=EN).get_data(as_text=True)
    assert "Ready to confirm" in fragment and "hx-trigger" not in fragment  # polling stopped
    refused = c.post(f"/admin/migrations/{batch.id}/confirm", data={"csrf_token": csrf_token(c, "/admin/migrations")})
    assert refused.status_code == 303 and batch_of(app, batch.id).status == BatchStatus.ready
    c.post(f"/admin/migrations/{batch.id}/confirm",
           data={"csrf_token": csrf_token(c, "/admin/migrations"), "understood": "on"})
    reserved = batch_of(app, batch.id)
    seoul = reserved.scheduled_for.astimezone(ZoneInfo("Asia/Seoul"))
    tomorrow = datetime.now(ZoneInfo("Asia/Seoul")).date() + timedelta(days=1)
    assert reserved.status == BatchStatus.reserved and (seoul.date(), seoul.hour, seoul.minute) == (tomorrow, 1, 0)
    with app.app_context():
        scheduled = ScheduledJobRegistry(queue=get_queue("scheduled"))
        assert any(job_id.startswith("jobrun-") for job_id in scheduled.get_job_ids())
    assert "Applied 0 batch(es)" in runner.invoke(args=["migration", "apply-due"]).output  # not due yet
    assert "completed" in runner.invoke(args=["migration", "apply-due", "--now"]).output
    done = batch_of(app, batch.id)
    assert done.status == BatchStatus.completed and done.created_tickets == 3
    with app.app_context():
        tickets = db.session.scalars(select(Ticket).order_by(Ticket.number)).all()
        first = tickets[0]
        assert [t.number for t in tickets] == [1, 2, 3] and [t.source_row for t in tickets] == [2, 3, 4]
        assert (first.status.value, first.priority.value, first.channel.value, first.tags) == (
            "resolved", "high", "email", ["fire", "urgent"])
        assert first.custom == {"mood": "angry"} and first.assignee_id is not None
        assert first.created_at == datetime(2025, 12, 1, 0, 30, tzinfo=timezone.utc)  # 09:30 in Seoul
        assert tickets[1].channel.value == "migration" and tickets[1].status.value == "unassigned"
        # Applying again (a retry, a second scheduler) creates nothing.
        assert apply_now(batch.id, force=True) is None
        assert db.session.scalar(select(func.count()).select_from(Ticket)) == 3
    from email.header import decode_header, make_header

    assert str(make_header(decode_header(smtp.messages[-1]["Subject"]))) == "데이터 이관 완료: tickets.xlsx"
    listing = c.get("/services/desk/tickets", headers=EN).get_data(as_text=True)
    assert "Printer on fire" in listing and "Migration #" in listing


def test_row_errors_fail_the_check_with_a_report_and_block_reservation(setup, app):
    bad = [
        [None, "no title"] + [None] * 13,
        ["Bad date", None, None, None, None, None, None, None, None, None, None, None, "2026-02-30 10:00", None, None],
        ["Bad choice", None, "lost", None, None, None, None, None, None, None, None, None, None, None, "sleepy"],
        ["Ghost", None, None, None, None, None, "not-an-email", None, "nobody", None, None, "DUP", None, None, None],
        ["Twin", None, None, None, None, None, None, None, None, None, None, "DUP", None, None, None],
    ]
    batch = uploaded(app, setup, GOOD[:1] + bad)
    assert batch.status == BatchStatus.check_failed and batch.rows == 6 and batch.error_count == 5
    messages = row_errors(app, batch)
    assert (3, "Required.") in messages
    assert (4, "Enter a real date and time as YYYY-MM-DD HH:MM.") in messages
    assert (5, "lost is not one of the choices.") in messages and (5, "sleepy is not one of the choices.") in messages
    assert (6, "nobody is not a member of this service.") in messages and (6, "Enter a valid e-mail address.") in messages
    assert (7, "Same external ID as row 6.") in messages
    report = setup["client"].get(f"/admin/migrations/{batch.id}/errors.xlsx")
    rows = list(load_workbook(io.BytesIO(report.data), read_only=True).worksheets[0].iter_rows(values_only=True))
    assert [r[0] for r in rows[1:]] == [3, 4, 5, 6, 7] and rows[0][:2] in (("Row", "Errors"), ("행", "오류"))
    c = setup["client"]
    c.post(f"/admin/migrations/{batch.id}/confirm", data={"csrf_token": csrf_token(c, "/admin/migrations"),
                                                          "understood": "on"})
    assert batch_of(app, batch.id).status == BatchStatus.check_failed


def test_numbers_and_checkboxes_are_coerced_by_field_type(setup, app):
    with app.app_context():
        svc = db.session.get(Service, setup["service"].id)
        actor = Actor(setup["org"].id, None)
        ticket_fields.add_custom_field(actor, svc, key="seats", type="number", label_ko="좌석", label_en="Seats")
        ticket_fields.add_custom_field(actor, svc, key="vip", type="checkbox", label_ko="VIP", label_en="VIP")
        db.session.commit()
    rows = [["A"] + [None] * 14 + [12, "Y"], ["B"] + [None] * 14 + ["twelve", "maybe"]]
    batch = uploaded(app, setup, rows)
    assert row_errors(app, batch) == {(3, "Enter a number."), (3, "Enter Y or N.")}


def test_an_outdated_template_is_refused_naming_the_difference(setup, app):
    old = template(setup["client"])
    with app.app_context():
        svc = db.session.get(Service, setup["service"].id)
        ticket_fields.add_custom_field(Actor(setup["org"].id, None), svc, key="region", type="text",
                                       label_ko="지역", label_en="Region")
        db.session.commit()
    response = upload(setup["client"], fill(old, GOOD[:1]))
    work(app)
    batch = batch_of(app, int(response.headers["Location"].rsplit("/", 1)[1]))
    assert batch.status == BatchStatus.check_failed
    assert "Columns added since the template was made: region." in said(app, batch)


def test_another_services_template_is_refused(setup, app, make):
    make.service(setup["org"], "other", name="Other")
    other = fill(template(setup["client"], "other"), [["x"]])
    response = upload(setup["client"], other)
    work(app)
    batch = batch_of(app, int(response.headers["Location"].rsplit("/", 1)[1]))
    assert "template of another service (other)" in said(app, batch)


def _refused(app, setup, data, filename="t.xlsx"):
    response = upload(setup["client"], data, filename)
    if response.status_code != 303:
        return response.status_code, response.get_data(as_text=True)
    work(app)
    batch = batch_of(app, int(response.headers["Location"].rsplit("/", 1)[1]))
    assert batch.status == BatchStatus.check_failed
    return 303, said(app, batch)


def test_a_corpus_of_bad_files_is_refused_cleanly(setup, app):
    good = fill(template(setup["client"]), GOOD[:1])
    part = sheet_part(good)
    pdf = b"%PDF-1.7\n" + os.urandom(2000)
    cases = {
        "csv": (b"title,body\nhello,world\n", "t.csv", "not an .xlsx file"),
        "xls": (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + os.urandom(3000), "t.xls", "not an .xlsx file"),
        "renamed pdf": (pdf, "t.xlsx", "not an .xlsx file"),
        "random bytes": (os.urandom(5000), "t.xlsx", "not an .xlsx file"),
        "truncated zip": (good[: len(good) // 2], "t.xlsx", "not an .xlsx file"),
        "zip bomb": (zip_bomb(450), "t.xlsx", "unpacks to more than"),
        "1,048,576 rows": (patch_sheet(good, part, "</sheetData>",
                                       '<row r="1048576"><c r="A1048576" t="inlineStr"><is><t>x</t></is></c></row>'),
                           "t.xlsx", "1,048,575 rows"),
        "10,000 columns": (patch_sheet(good, part, "</sheetData>",
                                       f'<row r="9"><c r="{column_letter(10000)}9" t="inlineStr"><is><t>x</t></is></c></row>'),
                           "t.xlsx", "10,000 columns"),
        "no template sheets": (fill(_plain_workbook(), []), "t.xlsx", "not a migration template"),
    }
    for name, (data, filename, expected) in cases.items():
        status, message = _refused(app, setup, data, filename)
        assert expected in message, f"{name}: {status} {message[:300]}"
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Ticket)) == 0
    work(app)  # the worker is still healthy


def _plain_workbook() -> bytes:
    from openpyxl import Workbook

    wb = Workbook()
    wb.active.title = "tickets"
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def test_an_empty_sheet_and_formulas(setup, app):
    blank = template(setup["client"])
    status, message = _refused(app, setup, fill(blank, []))
    assert "The file has no ticket rows." in message
    good = fill(blank, [["Formula row"] + [None] * 14])
    part = sheet_part(good)
    # A formula cell with a cached value: the cached value is taken, the formula never evaluated.
    crafted = patch_sheet(good, part, "</sheetData>",
                          '<row r="3"><c r="A3" t="str"><f>UPPER("boom")</f><v>BOOM</v></c></row>')
    response = upload(setup["client"], crafted)
    work(app)
    batch = batch_of(app, int(response.headers["Location"].rsplit("/", 1)[1]))
    assert batch.status == BatchStatus.ready and batch.rows == 2


def test_a_file_over_the_upload_limit_is_413(setup, app):
    app.config["MAX_CONTENT_LENGTH"] = 10_000
    try:
        response = upload(setup["client"], b"x" * 20_000)
    finally:
        app.config["MAX_CONTENT_LENGTH"] = app.config["MAX_UPLOAD_MB"] * 1024 * 1024
    assert response.status_code == 413


def test_a_batch_deleted_while_being_checked_stays_deleted(setup, app):
    c = setup["client"]
    response = upload(c, fill(template(c), GOOD))
    batch_id = int(response.headers["Location"].rsplit("/", 1)[1])
    assert "Checking every row" in c.get(f"/admin/migrations/{batch_id}", headers=EN).get_data(as_text=True)
    c.post(f"/admin/migrations/{batch_id}/delete", data={"csrf_token": csrf_token(c, "/admin/migrations")})
    work(app)
    assert batch_of(app, batch_id).status == BatchStatus.deleted


def test_reserved_batches_can_be_deleted_and_applied_ones_cannot(setup, app, runner):
    batch = uploaded(app, setup, GOOD)
    c = setup["client"]
    token = csrf_token(c, "/admin/migrations")
    c.post(f"/admin/migrations/{batch.id}/confirm", data={"csrf_token": token, "understood": "on"})
    runner.invoke(args=["migration", "apply-due", "--now"])
    refused = c.post(f"/admin/migrations/{batch.id}/delete", data={"csrf_token": token}, headers=EN)
    assert refused.status_code == 303 and batch_of(app, batch.id).status == BatchStatus.completed
    page = c.get("/admin/migrations", headers=EN).get_data(as_text=True)
    assert "disabled" in page.split(f'id="batch-{batch.id}"')[1].split("</tr>")[0]
    second = uploaded(app, setup, GOOD)
    c.post(f"/admin/migrations/{second.id}/confirm", data={"csrf_token": token, "understood": "on"})
    c.post(f"/admin/migrations/{second.id}/delete", data={"csrf_token": token})
    assert batch_of(app, second.id).status == BatchStatus.deleted
    runner.invoke(args=["migration", "apply-due", "--now"])
    assert batch_of(app, second.id).status == BatchStatus.deleted


def test_a_field_change_after_the_check_fails_the_apply_whole(setup, app, runner):
    batch = uploaded(app, setup, GOOD)
    c = setup["client"]
    c.post(f"/admin/migrations/{batch.id}/confirm",
           data={"csrf_token": csrf_token(c, "/admin/migrations"), "understood": "on"})
    with app.app_context():
        svc = db.session.get(Service, setup["service"].id)
        ticket_fields.add_custom_field(Actor(setup["org"].id, None), svc, key="late", type="text", label_ko="늦음",
                                       label_en="Late")
        db.session.commit()
    runner.invoke(args=["migration", "apply-due", "--now"])
    failed = batch_of(app, batch.id)
    assert failed.status == BatchStatus.failed and "티켓 필드가 변경되었습니다" in said(app, failed, "ko")
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Ticket)) == 0


def test_a_stale_check_is_restarted_by_the_sweep(setup, app, runner):
    c = setup["client"]
    response = upload(c, fill(template(c), GOOD))
    batch_id = int(response.headers["Location"].rsplit("/", 1)[1])
    with app.app_context():
        get_queue().empty()  # the worker died with the job
        batch = db.session.get(MigrationBatch, batch_id)
        batch.heartbeat_at = datetime.now(timezone.utc) - timedelta(hours=1)
        db.session.commit()
    assert "restarted 1 check(s)" in runner.invoke(args=["migration", "apply-due"]).output
    work(app)
    assert batch_of(app, batch_id).status == BatchStatus.ready
