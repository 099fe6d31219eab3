"""Every code a person reads has a label in both languages (issue 16, item 14): ticket field choices, the migration
template, the CTI log, the board, My performance. No enum value reaches a page or a generated file untranslated."""
from __future__ import annotations

import io
import re
from datetime import timedelta

import pytest
from lxml import html as lxml_html
from openpyxl import load_workbook
from rq import SimpleWorker
from sqlalchemy import select

from portal.extensions import db
from portal.models import (
    BatchStatus,
    MigrationBatch,
    Service,
    Ticket,
    TicketChannel,
    TicketPriority,
    TicketStatus,
)
from portal.queue import get_queue, get_redis
from portal.services import agent_states, cti_events
from tests.conftest import csrf_token
from tests.migration_files import fill
from tests.test_cti_ingest import T0, at, line, post  # noqa: F401  (the CTI line fixture)

KO, EN = {"Accept-Language": "ko"}, {"Accept-Language": "en"}
# Every code of an enum a person may read: ticket status, priority and channel; CTI event kinds; phone and chat
# states; call outcomes and directions; migration batch states; why an agent's state interval began or ended.
CODES = {
    *(s.value for s in TicketStatus), *(p.value for p in TicketPriority), *(c.value for c in TicketChannel),
    *cti_events.KINDS, *agent_states.PHONE_STATES, *agent_states.CHAT_STATES,
    "answered", "abandoned", "no_answer", "failed", "IB", "OB", *(b.value for b in BatchStatus),
    agent_states.AFTER_CALL, agent_states.AFTER_CALL_CHOICE, agent_states.ACW_TIMEOUT, "idle", "logout",
}
WORD = re.compile(r"[A-Za-z][A-Za-z0-9_\-]*")
CODES_LOWER = {code.lower() for code in CODES}
SPOKEN_ATTRIBUTES = ("title", "aria-label", "placeholder", "alt", "data-confirm", "hx-confirm")


def raw_codes(text: str) -> set[str]:
    """The codes written as words in `text` (whole words: `in_progress`, `agent_login`, `after-call`, `IB`)."""
    return {word for word in WORD.findall(text or "") if word.lower() in CODES_LOWER}


def visible_text(page: str) -> str:
    """What a person sees or hears of a page: its text (not scripts or styles) and the attributes read out."""
    tree = lxml_html.fromstring(page)
    for element in tree.xpath("//script|//style"):
        element.drop_tree()
    spoken = [value for attribute in SPOKEN_ATTRIBUTES for value in tree.xpath(f"//@{attribute}")]
    return " ".join([tree.text_content(), *spoken])


def cell_texts(data: bytes, skip_sheets=(), skip_columns=()) -> dict[str, str]:
    """Every cell of a workbook as text, by its place ("sheet!A1"), but for the sheets and header columns named."""
    texts = {}
    for sheet in load_workbook(io.BytesIO(data)).worksheets:
        if sheet.title in skip_sheets:
            continue
        header = [c.value for c in next(sheet.iter_rows(max_row=1), [])]
        skipped = {i for i, title in enumerate(header) if title in skip_columns}
        texts[f"{sheet.title}!"] = sheet.title
        for row in sheet.iter_rows():
            for i, cell in enumerate(row):
                if i not in skipped and cell.value is not None:
                    texts[f"{sheet.title}!{cell.coordinate}"] = str(cell.value)
    return texts


def untranslated(texts: dict[str, str]) -> dict[str, set[str]]:
    return {place: found for place, text in texts.items() if (found := raw_codes(text))}


@pytest.fixture
def world(line, app, make, login_as, client):  # noqa: F811
    """The CTI line's service with a day of calls and states, a failed migration check, and a CTI log export, all
    asked for by Korean readers."""
    with app.app_context():
        ann = db.session.get(type(line["agent"]), line["agent"].id)
        ann.ui_language = "ko"
        db.session.commit()
    post(client, line["key"], [
        {"kind": "agent_login", "event_id": "e1", "occurred_at": at(0), "cti_id": "ann01"},
        {"kind": "state_change", "event_id": "e2", "occurred_at": at(5), "cti_id": "ann01", "state": "ready"},
        {"kind": "state_change", "event_id": "e3", "occurred_at": at(10), "cti_id": "ann01", "state": "break"},
        {"kind": "state_change", "event_id": "e4", "occurred_at": at(20), "cti_id": "ann01", "state": "ready"},
        {"kind": "inbound_ringing", "event_id": "e5", "occurred_at": at(30), "cti_id": "ann01", "call_id": "c1",
         "direction": "IB", "counterpart": "0101"},
        {"kind": "answered", "event_id": "e6", "occurred_at": at(35), "cti_id": "ann01", "call_id": "c1"},
        {"kind": "transfer", "event_id": "e7", "occurred_at": at(50), "cti_id": "ann01", "call_id": "c1"},
        {"kind": "hangup", "event_id": "e8", "occurred_at": at(70), "cti_id": "ann01", "call_id": "c1"},
        {"kind": "state_change", "event_id": "e9", "occurred_at": at(90), "cti_id": "ann01", "state": "ready"},
        {"kind": "inbound_ringing", "event_id": "e10", "occurred_at": at(100), "call_id": "c2", "direction": "IB",
         "counterpart": "0202"},
        {"kind": "hangup", "event_id": "e11", "occurred_at": at(110), "call_id": "c2"},
        {"kind": "error", "event_id": "e12", "occurred_at": at(115), "cti_id": "ghost"},
        {"kind": "outbound_dial", "event_id": "e13", "occurred_at": at(120), "cti_id": "ann01", "call_id": "c3",
         "direction": "OB", "counterpart": "0303"},
        {"kind": "connected", "event_id": "e14", "occurred_at": at(125), "cti_id": "ann01", "call_id": "c3"},
        {"kind": "hangup", "event_id": "e15", "occurred_at": at(185), "cti_id": "ann01", "call_id": "c3"},
        {"kind": "agent_logout", "event_id": "e16", "occurred_at": at(190), "cti_id": "ann01"},
        {"kind": "agent_login", "event_id": "e17", "occurred_at": at(200), "cti_id": "ann01"},
        {"kind": "inbound_ringing", "event_id": "e18", "occurred_at": at(210), "cti_id": "ann01", "call_id": "c4",
         "direction": "IB", "counterpart": "0404"},
        {"kind": "answered", "event_id": "e19", "occurred_at": at(215), "cti_id": "ann01", "call_id": "c4"},
        {"kind": "hangup", "event_id": "e20", "occurred_at": at(245), "cti_id": "ann01", "call_id": "c4"},
    ])
    admin_member = make.admin_of(line["org"])
    with app.app_context():
        db.session.get(type(admin_member), admin_member.id).ui_language = "ko"
        db.session.commit()
    admin = login_as(admin_member)
    day = (T0 + timedelta(hours=9)).date().isoformat()  # Asia/Seoul
    # A migration check that fails on a choice, a date and a missing title.
    template = admin.get("/admin/migrations/template/phone.xlsx").data
    rows = [["Printer", None, "lost", "높음", "웹"] + [None] * 9,
            [None, "body", "해결", None, None, None, None, None, None, None, None, None, "2026-02-30 10:00"]]
    response = admin.post("/admin/migrations/new", content_type="multipart/form-data", data={
        "csrf_token": csrf_token(admin, "/admin/migrations/new"), "service": "phone",
        "file": (io.BytesIO(fill(template, rows)), "tickets.xlsx")})
    batch_id = int(response.headers["Location"].rsplit("/", 1)[1])
    token = csrf_token(admin, "/me/cti-logs")
    started = admin.post("/me/cti-logs", data={"csrf_token": token, "service": "phone", "from": day, "to": day},
                         headers={"HX-Request": "true"})
    run_id = int(re.search(r'id="export-(\d+)"', started.get_data(as_text=True)).group(1))
    with app.app_context():
        SimpleWorker([get_queue()], connection=get_redis()).work(burst=True)
        assert db.session.get(MigrationBatch, batch_id).status == BatchStatus.check_failed
    return {**line, "admin": admin, "agent_client": login_as(line["agent"]), "day": day, "batch": batch_id,
            "export": run_id, "template": template}


def test_no_code_reaches_a_korean_page_untranslated(world, app):
    admin, agent = world["admin"], world["agent_client"]
    with app.app_context():
        assert db.session.scalars(select(Ticket.channel)).all()  # the calls opened tickets
    pages = {
        "ticket fields": admin.get("/services/phone/ticket-fields"),
        "tickets": admin.get("/services/phone/tickets"),
        "migrations": admin.get("/admin/migrations"),
        "failed batch": admin.get(f"/admin/migrations/{world['batch']}"),
        "board": admin.get("/services/phone/board"),
        "calls": admin.get(f"/services/phone/calls?from={world['day']}"),
        "CTI log exports": admin.get("/me/cti-logs"),
        "workspace": agent.get("/workspace/phone"),
        "my performance": agent.get("/me/performance"),
    }
    for name, response in pages.items():
        assert response.status_code == 200, name
        assert '<html lang="ko">' in response.get_data(as_text=True), name
    texts = {name: visible_text(response.get_data(as_text=True)) for name, response in pages.items()}
    assert "진행 중" in texts["ticket fields"] and "전화(인바운드)" in texts["ticket fields"]
    assert "통화 후 처리" in texts["board"]  # the agent's after-call work, by its label
    assert {name: raw_codes(text) for name, text in texts.items() if raw_codes(text)} == {}


def test_no_code_reaches_a_korean_file_untranslated(world, app):
    admin, agent = world["admin"], world["agent_client"]
    template = cell_texts(world["template"], skip_sheets=("_template",))  # the hidden fingerprint is for the check
    assert "미배정, 진행 중, 해결, 완료" in template.values()  # the guide's allowed values of the status
    downloads = {}
    for name, client, path in (("report", admin, f"/admin/migrations/{world['batch']}/errors.xlsx"),
                               ("log", admin, f"/me/cti-logs/exports/{world['export']}/file"),
                               ("performance", agent, "/me/performance.xlsx")):
        response = client.get(path)
        assert response.status_code == 200, name
        downloads[name] = response.data  # read before the next request: a streamed body holds its request
    report, log, performance = downloads["report"], downloads["log"], downloads["performance"]
    # The CTI log's last two columns keep the telephony's own names, for scripts and its logs: they are codes.
    log_texts = cell_texts(log, skip_columns=("이벤트 코드", "상태 코드"))
    assert {"상담원 로그인", "상태 변경", "인바운드 벨 울림", "통화 종료", "아웃바운드 발신"} <= set(log_texts.values())
    files = {"template": template, "error report": cell_texts(report), "CTI log": log_texts,
             "my performance": cell_texts(performance)}
    assert {name: untranslated(texts) for name, texts in files.items() if untranslated(texts)} == {}
    codes = [row[13:15] for row in load_workbook(io.BytesIO(log)).worksheets[0].iter_rows(values_only=True)]
    assert ("state_change", "break") in codes and ("agent_login", None) in codes


def test_the_template_offers_labels_and_the_check_takes_them_in_either_language_or_the_code(  # noqa: F811
        line, app, login_as, make, runner):
    admin = login_as(make.admin_of(line["org"]))
    template = admin.get("/admin/migrations/template/phone.xlsx", headers=KO).data
    book = load_workbook(io.BytesIO(template))
    guide = {row[1]: row for row in book["안내"].iter_rows(values_only=True) if row and row[1]}
    assert guide["priority"][4] == "낮음, 보통, 높음, 긴급" and guide["priority"][5] == "낮음"
    assert guide["channel"][4] == "웹, 이메일, 채팅, 전화(인바운드), 전화(아웃바운드), 데이터 이관"
    header = [c.value for c in book["tickets"][1]]
    status_column = header.index("상태") + 1
    assert [r[0] for r in book["_choices"].iter_rows(min_col=status_column, max_col=status_column,
                                                     values_only=True) if r[0]] == ["미배정", "진행 중", "해결", "완료"]
    rows = [["Korean", None, "해결", "높음", "전화(인바운드)"],
            ["English", None, "In progress", "urgent", "Phone (outbound)"],
            ["Codes", None, "completed", "LOW", "email"],
            ["Wrong", None, "Nearly done", None, None]]
    response = admin.post("/admin/migrations/new", content_type="multipart/form-data", headers=EN, data={
        "csrf_token": csrf_token(admin, "/admin/migrations/new"), "service": "phone",
        "file": (io.BytesIO(fill(template, rows)), "tickets.xlsx")})
    batch_id = int(response.headers["Location"].rsplit("/", 1)[1])
    with app.app_context():
        SimpleWorker([get_queue()], connection=get_redis()).work(burst=True)
    page = admin.get(f"/admin/migrations/{batch_id}", headers=EN).get_data(as_text=True)
    assert "Nearly done is not one of the choices." in page
    response = admin.post("/admin/migrations/new", content_type="multipart/form-data", headers=EN, data={
        "csrf_token": csrf_token(admin, "/admin/migrations/new"), "service": "phone",
        "file": (io.BytesIO(fill(template, rows[:3])), "tickets.xlsx")})
    batch_id = int(response.headers["Location"].rsplit("/", 1)[1])
    with app.app_context():
        SimpleWorker([get_queue()], connection=get_redis()).work(burst=True)
        assert db.session.get(MigrationBatch, batch_id).status == BatchStatus.ready
    admin.post(f"/admin/migrations/{batch_id}/confirm",
               data={"csrf_token": csrf_token(admin, "/admin/migrations"), "understood": "on"})
    runner.invoke(args=["migration", "apply-due", "--now"])
    with app.app_context():
        service_id = db.session.scalars(select(Service.id).filter_by(service_key="phone")).one()
        stored = {t.title: (t.status.value, t.priority.value, t.channel.value) for t in db.session.scalars(
            select(Ticket).filter_by(service_id=service_id))}
    assert stored == {"Korean": ("resolved", "high", "phone_ib"), "English": ("in_progress", "urgent", "phone_ob"),
                      "Codes": ("completed", "low", "email")}


def test_the_ticket_fields_page_names_system_choices_in_the_readers_language(line, login_as, make):  # noqa: F811
    admin = login_as(make.admin_of(line["org"]))
    row = admin.get("/services/phone/ticket-fields", headers=EN).get_data(as_text=True).split('id="field-status"')[1]
    assert "Unassigned, In progress, Resolved, Completed" in row.split("</tr>")[0]
    korean = admin.get("/services/phone/ticket-fields", headers=KO).get_data(as_text=True)
    assert "웹, 이메일, 채팅, 전화(인바운드)" in korean.split('id="field-channel"')[1].split("</tr>")[0]
