"""What a job or a check writes for people to read later is said in the reader's language when it is shown, not
in the language of whoever started it (issue 16, item 13): a batch's outcome and row errors, its error report, a
job run's progress, the mails. Rows stored before keep their text."""
from __future__ import annotations

import io
import re
from datetime import datetime, timedelta, timezone
from email.header import decode_header, make_header

import pytest
from openpyxl import Workbook, load_workbook
from rq import SimpleWorker
from sqlalchemy import select

from portal.extensions import db
from portal.models import (
    BatchStatus,
    JobRun,
    JobState,
    Member,
    MigrationBatch,
    Organization,
    Service,
    ServiceLanguage,
    Ticket,
)
from portal.queue import get_queue, get_redis
from portal.services import Actor
from portal.services.organizations import rotate_api_key
from portal.services.storage import store
from tests.conftest import csrf_token
from tests.migration_files import fill
from tests.test_cti_ingest import T0, at, line, post  # noqa: F401  (the CTI line fixture)
from tests.test_migration import GOOD, setup  # noqa: F401  (the migration fixture: service desk, field mood)

KO, EN = {"Accept-Language": "ko"}, {"Accept-Language": "en"}
HANGUL = re.compile("[가-힣]")


def _work(app):
    with app.app_context():
        SimpleWorker([get_queue()], connection=get_redis()).work(burst=True)


def _upload(client, rows, headers) -> int:
    template = client.get("/admin/migrations/template/desk.xlsx", headers=headers).data
    response = client.post("/admin/migrations/new", headers=headers, content_type="multipart/form-data", data={
        "csrf_token": csrf_token(client, "/admin/migrations/new"), "service": "desk",
        "file": (io.BytesIO(fill(template, rows)), "tickets.xlsx")})
    assert response.status_code == 303, response.get_data(as_text=True)[:300]
    return int(response.headers["Location"].rsplit("/", 1)[1])


def _member_in(app, member: Member, language: str) -> None:
    with app.app_context():
        db.session.get(Member, member.id).ui_language = language
        db.session.commit()


def _sheet(data: bytes) -> tuple[str, list[tuple]]:
    sheet = load_workbook(io.BytesIO(data)).worksheets[0]
    return sheet.title, list(sheet.iter_rows(values_only=True))


def test_a_batch_checked_for_a_korean_uploader_reads_in_english_to_an_english_admin(setup, app, make,  # noqa: F811
                                                                                    login_as, client):
    korean = setup["client"]  # the organization's first admin, reading in Korean
    bad = [[None, "no title"] + [None] * 13,
           ["Bad choice", None, "lost"] + [None] * 12]
    batch_id = _upload(korean, GOOD[:1] + bad, KO)
    _work(app)  # the check runs for the Korean uploader (its job run's language)
    english = login_as(make.member(setup["org"], "eve", is_org_admin=True, ui_language="en"))

    page = english.get(f"/admin/migrations/{batch_id}").get_data(as_text=True)
    assert "2 of 3 rows have errors. Download the error report" in page
    errors = page.split('id="batch-errors"')[1].split("</table>")[0]
    assert "<td>Title</td><td>Required.</td>" in errors
    assert "<td>Status</td><td>lost is not one of the choices.</td>" in errors
    assert not HANGUL.search(errors)
    assert "2 of 3 rows have errors." in english.get("/admin/migrations").get_data(as_text=True)
    korean_page = korean.get(f"/admin/migrations/{batch_id}", headers=KO).get_data(as_text=True)
    assert "<td>제목</td>" in korean_page and "3행 중 2행에 오류가 있습니다." in korean_page

    # The error report is built once, at the check, and reads in the language of whoever downloads it.
    title, rows = _sheet(english.get(f"/admin/migrations/{batch_id}/errors.xlsx").data)
    assert title == "Errors" and rows[0][:4] == ("Row", "Errors", "Title *", "Body")
    assert [r[:2] for r in rows[1:]] == [(3, "Title: Required."), (4, "Status: lost is not one of the choices.")]
    assert rows[1][3] == "no title" and rows[2][2] == "Bad choice"  # the rows as uploaded
    title, rows = _sheet(korean.get(f"/admin/migrations/{batch_id}/errors.xlsx", headers=KO).data)
    assert title == "오류" and rows[0][:3] == ("행", "오류", "제목 *") and rows[1][1] == "제목: 필수 항목입니다."

    # The Open API says it in the caller's language, with the message's stable code.
    with app.app_context():
        key = rotate_api_key(Actor(setup["org"].id, None), db.session.get(Organization, setup["org"].id))
        db.session.commit()
    answer = client.get(f"/api/v1/migration-batches/{batch_id}", headers={"Authorization": f"Bearer {key}", **EN})
    assert answer.json["message"].startswith("2 of 3 rows have errors.") and answer.json["message_code"] == "row_errors"


def test_the_result_mail_is_in_the_uploaders_language_whoever_confirmed_and_applied(setup, app, make,  # noqa: F811
                                                                                   login_as, runner, smtp):
    uploader = make.member(setup["org"], "eve", is_org_admin=True, ui_language="en")
    english = login_as(uploader)
    batch_id = _upload(english, GOOD, EN)
    _work(app)
    korean = setup["client"]  # another admin, reading in Korean, reserves it; the CLI applies it (home language)
    korean.post(f"/admin/migrations/{batch_id}/confirm", headers=KO,
                data={"csrf_token": csrf_token(korean, "/admin/migrations"), "understood": "on"})
    assert "completed" in runner.invoke(args=["migration", "apply-due", "--now"]).output
    mail = smtp.messages[-1]
    assert str(make_header(decode_header(mail["Subject"]))) == "Migration completed: tickets.xlsx"
    assert "3 tickets were created." in smtp.last_body() and not HANGUL.search(smtp.last_body())
    assert "티켓 3건이 생성되었습니다." in korean.get(f"/admin/migrations/{batch_id}", headers=KO).get_data(as_text=True)


def test_messages_stored_before_codes_are_shown_as_they_were(setup, app, make, login_as):  # noqa: F811
    """Batches, errors and reports written before codes existed stay readable: their text, as stored."""
    client = setup["client"]
    report = Workbook()
    report.active.title = "오류"
    report.active.append(["행", "오류", "제목 *"])
    report.active.append([3, "제목: 필수 항목입니다.", None])
    out = io.BytesIO()
    report.save(out)
    with app.app_context():
        service = db.session.scalars(select(Service).filter_by(service_key="desk")).one()
        stored = store(setup["org"].id, purpose="migration_upload", filename="t.xlsx", content_type="x", data=b"x")
        old_report = store(setup["org"].id, purpose="migration_errors", filename="e.xlsx", content_type="x",
                           data=out.getvalue())
        batch = MigrationBatch(organization_id=setup["org"].id, service_id=service.id, file_id=stored.id,
                               filename="old.xlsx", status=BatchStatus.check_failed, rows=3, error_count=1,
                               message="3행 중 1행에 오류가 있습니다.", error_report_file_id=old_report.id,
                               errors=[{"row": 3, "column": "제목", "message": "필수 항목입니다."}])
        run = JobRun(kind="demo.count_to", organization_id=setup["org"].id, state=JobState.succeeded,
                     message="counted to 3", finished_at=datetime.now(timezone.utc))
        db.session.add_all([batch, run])
        db.session.commit()
        batch_id, run_id = batch.id, run.id
    page = client.get(f"/admin/migrations/{batch_id}", headers=EN).get_data(as_text=True)
    assert "3행 중 1행에 오류가 있습니다." in page and "<td>제목</td><td>필수 항목입니다.</td>" in page
    downloaded = client.get(f"/admin/migrations/{batch_id}/errors.xlsx", headers=EN)
    assert downloaded.status_code == 200 and _sheet(downloaded.data)[1][1] == (3, "제목: 필수 항목입니다.", None)
    assert "counted to 3" in app.test_cli_runner().invoke(args=["jobs", "show", str(run_id)]).output


def test_a_cti_log_exports_progress_reads_in_the_language_of_the_page(line, app, make, login_as):  # noqa: F811
    post_events = [{"kind": "agent_login", "event_id": "1", "occurred_at": at(0), "cti_id": "ann01"},
                   {"kind": "agent_logout", "event_id": "2", "occurred_at": at(5), "cti_id": "ann01"}]
    post(app.test_client(), line["key"], post_events)
    admin_member = make.admin_of(line["org"])
    _member_in(app, admin_member, "ko")
    admin = login_as(admin_member)
    day = (T0 + timedelta(hours=9)).date().isoformat()  # Asia/Seoul
    started = admin.post("/me/cti-logs", headers={"HX-Request": "true"}, data={
        "csrf_token": csrf_token(admin, "/me/cti-logs"), "service": "phone", "from": day, "to": day})
    run_id = int(re.search(r'id="export-(\d+)"', started.get_data(as_text=True)).group(1))
    _work(app)  # built for a member reading Korean
    assert "이벤트 2건" in admin.get(f"/me/cti-logs/exports/{run_id}").get_data(as_text=True)
    _member_in(app, admin_member, "en")
    assert "2 events" in admin.get(f"/me/cti-logs/exports/{run_id}").get_data(as_text=True)


@pytest.mark.parametrize("service_language, request_language, title", [
    ("ko", "en", "0101 인바운드 통화"),
    ("en", "ko", "Call from 0101"),
    ("ja", "en", "0101 인바운드 통화"),  # a language the portal does not speak: the home language
])
def test_a_calls_ticket_title_is_written_in_the_services_language(line, app, client, service_language,  # noqa: F811
                                                                   request_language, title):
    with app.app_context():
        service_id = line["service"].id
        db.session.execute(ServiceLanguage.__table__.delete().where(ServiceLanguage.service_id == service_id))
        db.session.add(ServiceLanguage(service_id=service_id, code=service_language, is_default=True))
        db.session.commit()
    post(client, line["key"], [
        {"kind": "inbound_ringing", "event_id": "1", "occurred_at": at(0), "cti_id": "ann01", "call_id": "c1",
         "direction": "IB", "counterpart": "0101"},
        {"kind": "answered", "event_id": "2", "occurred_at": at(3), "cti_id": "ann01", "call_id": "c1"},
    ], headers={"Accept-Language": request_language})
    with app.app_context():
        assert db.session.scalars(select(Ticket.title)).all() == [title]
