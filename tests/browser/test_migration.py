"""Data migration (데이터 이관) in a real browser, as the demo org admin: template download → fill (openpyxl) →
upload → live check progress (htmx polling) → confirm (reserve for 01:00 tomorrow) → apply → tickets listed;
a file with row errors and its error report; a non-.xlsx file refused on the spot; deleting a reserved batch.

There is no RQ worker process here: the tests run one in-process (burst) after an upload, and apply due
batches with the `flask migration apply-due --now` command. Elements are found by id, URL or CSS hook, and
texts that a translation may change (the ticket source "Migration #1, row 2") by their numbers only."""
from __future__ import annotations

import io
import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook
from playwright.sync_api import Page, expect

from tests.browser.test_smoke import log_in
from tests.migration_files import fill

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
POLL = 10_000  # ms: the status section polls every 0.7 s
SEOUL = ZoneInfo("Asia/Seoul")
BATCH_URL = re.compile(r"/admin/migrations/(\d+)$")
LIST_URL = re.compile(r"/admin/migrations$")

# title, body, status, priority, channel, requester name / e-mail / phone, assignee, category, tags, external ID,
# created at, closed at (the demo support service has no custom fields)
GOOD = [
    ["프린터에서 연기", "연기가 나요", "resolved", "high", "email", "김고객", "kim@example.com", "010-1111-2222",
     "agent", "hardware", "printer, fire", "OLD-1", "2025-12-01 09:30", "2025-12-02 10:00"],
    ["환불 요청", None, "in_progress", "normal", "phone_ib", "이고객", None, None, "agent2", None, None, "OLD-2",
     "2025-12-02 09:00", None],
    ["비밀번호 초기화", "잊어버렸어요", None, None, None, None, "x@example.com", None, None, None, None, "OLD-3",
     "2025-12-03 08:00", None],
]
BAD = [
    GOOD[0],
    [None, "제목이 없어요"] + [None] * 12,  # row 3: title missing
    ["유령 담당자", None, None, None, None, None, None, None, "nobody"] + [None] * 5,  # row 4: unknown assignee
    ["잃어버린 상태", None, "lost"] + [None] * 11,  # row 5: not a status
]


@pytest.fixture
def admin(page: Page, live_server, demo) -> Page:
    log_in(page, live_server, demo, "admin")
    expect(page).to_have_url(re.compile(r"/admin/services$"))
    return page



def mark_page(page: Page) -> None:
    """A marker in the window: it survives htmx swaps, not a page load."""
    page.evaluate("window.__noReload = true")


def assert_not_reloaded(page: Page) -> None:
    assert page.evaluate("window.__noReload === true"), "the page was reloaded"


def tomorrow_one_am() -> set[str]:
    """01:00 tomorrow in Seoul as the list shows it (both days if the test runs across midnight)."""
    now = datetime.now(SEOUL)
    return {f"{(now + timedelta(days=d)).date() + timedelta(days=1):%Y-%m-%d} 01:00" for d in (0, 1)}


def download_bytes(page: Page, link) -> tuple[str, bytes]:
    with page.expect_download() as info:
        link.click()
    download = info.value
    with open(download.path(), "rb") as f:
        return download.suggested_filename, f.read()


def upload(page: Page, base: str, name: str, data: bytes, mime: str = XLSX) -> None:
    """Choose the file on the add page (service support) and submit the upload form."""
    if not re.search(r"/admin/migrations/new\?service=support$", page.url):
        page.goto(f"{base}/admin/migrations/new?service=support")
    page.locator("input#m-file").set_input_files({"name": name, "mimeType": mime, "buffer": data})
    page.locator("form[enctype='multipart/form-data'] button[type=submit]").click()


def uploaded_batch(page: Page, base: str, rows: list[list], work, name: str = "tickets.xlsx") -> int:
    """Upload a filled template of support and run the check: the batch page, with its id."""
    page.goto(f"{base}/admin/migrations/new?service=support")
    template = page.request.get(f"{base}/admin/migrations/template/support.xlsx")
    assert template.ok, template.status
    upload(page, base, name, fill(template.body(), rows))
    expect(page).to_have_url(BATCH_URL)
    batch_id = int(BATCH_URL.search(page.url).group(1))
    work()
    return batch_id


def ints(text: str) -> list[int]:
    return sorted(int(n) for n in re.findall(r"\d+", text))


def test_template_upload_check_confirm_apply_and_tickets_listed(admin: Page, live_server, app, work, shot,
                                                                 axe_check):
    page = admin
    from portal.services.ticket_fields import SYSTEM_FIELDS

    page.goto(f"{live_server}/admin/migrations")
    expect(page.locator(".empty-state")).to_be_visible()
    expect(page.locator("table#batches")).to_have_count(0)
    page.locator('a[href$="/admin/migrations/new"]').click()
    expect(page).to_have_url(re.compile(r"/admin/migrations/new$"))

    # Choosing a service reloads the page for it (the select submits itself).
    page.locator("select#m-service").select_option("shop")
    expect(page).to_have_url(re.compile(r"/admin/migrations/new\?service=shop$"))
    expect(page.locator("a#template-link")).to_have_attribute("href", re.compile(r"/template/shop\.xlsx$"))
    page.locator("select#m-service").select_option("support")
    expect(page).to_have_url(re.compile(r"/admin/migrations/new\?service=support$"))
    expect(page.locator("select#m-service")).to_have_value("support")
    expect(page.locator("a#template-link")).to_have_attribute("href", re.compile(r"/template/support\.xlsx$"))
    axe_check(page, "migration add page (ko)")
    shot(page, "migration-new-ko")

    filename, template = download_bytes(page, page.locator("a#template-link"))
    assert filename.endswith(".xlsx") and "support" in filename
    wb = load_workbook(io.BytesIO(template))
    assert "tickets" in wb.sheetnames and wb["_template"].sheet_state == "hidden"
    header = [c.value for c in wb["tickets"][1]]
    assert header == [ko + (" *" if required else "") for _key, _type, ko, _en, required in SYSTEM_FIELDS]
    assert header[0] == "제목 *" and not header[1].endswith("*")

    upload(page, live_server, "support-tickets.xlsx", fill(template, GOOD))
    expect(page).to_have_url(BATCH_URL)
    batch_id = int(BATCH_URL.search(page.url).group(1))
    status = page.locator("section#batch-status")
    expect(status.locator("progress#check-progress")).to_be_visible()
    expect(status.locator(".batch-checking")).to_be_visible()
    shot(page, "migration-checking-ko")
    mark_page(page)

    work()  # the check job, as a worker would run it; the open page finds out by polling
    expect(status.locator(".cautions")).to_be_visible(timeout=POLL)
    assert_not_reloaded(page)
    expect(status.locator(".batch-ready")).to_be_visible()
    expect(status.locator("progress#check-progress")).to_have_count(0)
    expect(status).not_to_have_attribute("hx-get", re.compile(".*"))  # polling stopped
    expect(status.locator("input#understood")).not_to_be_checked()
    expect(status.locator("table#batch-errors")).to_have_count(0)
    axe_check(page, "migration batch ready (ko)")
    shot(page, "migration-ready-ko")

    status.locator("input#understood").check()
    status.locator("form[action$='/confirm'] button[type=submit]").click()
    expect(page).to_have_url(LIST_URL)
    expect(page.locator(".flash-success")).to_be_visible()
    row = page.locator(f"table#batches tr#batch-{batch_id}")
    expect(row.locator(".batch-reserved")).to_be_visible()
    scheduled = row.locator("td").nth(6).inner_text().strip()
    assert scheduled in tomorrow_one_am(), scheduled
    expect(row.locator("td").nth(2)).to_have_text("3")
    expect(row.locator("form[action$='/delete'] button")).to_be_enabled()
    axe_check(page, "migration list (ko)")
    shot(page, "migration-list-reserved-ko")

    result = app.test_cli_runner().invoke(args=["migration", "apply-due", "--now"])
    assert result.exit_code == 0, result.output
    page.reload()
    expect(row.locator(".batch-completed")).to_be_visible()
    expect(row.locator("td").nth(7)).to_have_text(re.compile(r"\b3\b"))
    expect(row.locator("form[action$='/delete']")).to_have_count(0)
    expect(row.locator("button")).to_be_disabled()
    shot(page, "migration-list-completed-ko")

    page.goto(f"{live_server}/services/support/tickets")
    tickets = page.locator("table#tickets tbody tr")
    expect(tickets).to_have_count(3)
    # Newest first: the rows were created on Dec 1, 2 and 3.
    expect(tickets.locator("td:nth-child(2)")).to_have_text([r[0] for r in reversed(GOOD)])
    for i, sheet_row in enumerate((4, 3, 2)):
        source = tickets.nth(i).locator("td").nth(6).inner_text()
        assert ints(source) == sorted([batch_id, sheet_row]), source
    expect(tickets.nth(2).locator("td").nth(3)).to_have_text("이상담")  # assignee "agent"
    expect(tickets.nth(2).locator("td").nth(5)).to_have_text("2025-12-01 09:30")
    shot(page, "migration-tickets-ko")


def test_row_errors_fail_the_check_with_a_report_and_no_confirm(admin: Page, live_server, work, shot, axe_check):
    page = admin
    page.goto(f"{live_server}/admin/migrations/new?service=support")
    _name, template = download_bytes(page, page.locator("a#template-link"))
    upload(page, live_server, "bad.xlsx", fill(template, BAD))
    expect(page).to_have_url(BATCH_URL)
    status = page.locator("section#batch-status")
    expect(status.locator("progress#check-progress")).to_be_visible()
    mark_page(page)

    work()
    expect(status.locator(".batch-check_failed")).to_be_visible(timeout=POLL)
    assert_not_reloaded(page)
    expect(status.locator(".alert-error[role=alert]")).to_be_visible()
    errors = status.locator("table#batch-errors tbody tr")
    expect(errors).to_have_count(3)  # row 3 title, row 4 assignee, row 5 status
    expect(errors.locator("td:first-child")).to_have_text(["3", "4", "5"])
    expect(errors.nth(1)).to_contain_text("nobody")
    expect(errors.nth(2)).to_contain_text("lost")
    expect(status.locator("input#understood")).to_have_count(0)
    expect(status.locator("form[action$='/confirm']")).to_have_count(0)
    expect(status.locator(".cautions")).to_have_count(0)
    axe_check(page, "migration batch check failed (ko)")
    shot(page, "migration-check-failed-ko")

    filename, report = download_bytes(page, status.locator("a#error-report"))
    assert filename.endswith(".xlsx")
    rows = list(load_workbook(io.BytesIO(report), read_only=True).worksheets[0].iter_rows(values_only=True))
    assert [r[0] for r in rows[1:]] == [3, 4, 5]
    assert rows[1][2] is None and rows[2][2] == "유령 담당자" and rows[3][2] == "잃어버린 상태"

    page.goto(f"{live_server}/admin/migrations")
    expect(page.locator("table#batches tbody tr .batch-check_failed")).to_have_count(1)


def test_a_non_xlsx_file_is_refused_on_the_spot(admin: Page, live_server, shot):
    page = admin
    page.goto(f"{live_server}/admin/migrations/new?service=support")
    with page.expect_response(lambda r: r.request.method == "POST" and "/admin/migrations/new" in r.url) as info:
        upload(page, live_server, "tickets.csv", b"title,body\nhello,world\n", mime="text/csv")
    assert info.value.status == 422
    expect(page).to_have_url(re.compile(r"/admin/migrations/new$"))
    expect(page.locator(".alert-error[role=alert]")).to_be_visible()
    expect(page.locator("input#m-file")).to_be_visible()  # the form is there to try again
    shot(page, "migration-not-xlsx-ko")
    page.goto(f"{live_server}/admin/migrations")
    expect(page.locator(".empty-state")).to_be_visible()  # no batch was created


def test_a_reserved_batch_is_deleted_from_the_list(admin: Page, live_server, work, shot):
    page = admin
    batch_id = uploaded_batch(page, live_server, GOOD[:2], work, name="to-delete.xlsx")
    status = page.locator("section#batch-status")
    expect(status.locator(".cautions")).to_be_visible(timeout=POLL)
    status.locator("input#understood").check()
    status.locator("form[action$='/confirm'] button[type=submit]").click()
    expect(page).to_have_url(LIST_URL)
    row = page.locator(f"table#batches tr#batch-{batch_id}")
    expect(row.locator(".batch-reserved")).to_be_visible()
    delete = row.locator("form[action$='/delete'] button[type=submit]")

    # Saying no to the question sends nothing.
    posts: list[str] = []
    page.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
    page.once("dialog", lambda d: d.dismiss())
    delete.click()
    page.reload()
    expect(row.locator(".batch-reserved")).to_be_visible()
    assert not [u for u in posts if u.endswith(f"/{batch_id}/delete")], posts

    questions: list[str] = []

    def accept(dialog) -> None:
        questions.append(dialog.message)
        dialog.accept()

    page.once("dialog", accept)
    delete.click()
    expect(page).to_have_url(LIST_URL)
    expect(page.locator(".flash-success")).to_be_visible()
    expect(row).to_have_count(0)
    assert questions and "to-delete.xlsx" in questions[0], questions
    shot(page, "migration-list-deleted-ko")
    page.goto(f"{live_server}/admin/migrations?show=all")
    expect(page.locator(f"tr#batch-{batch_id} .batch-deleted")).to_be_visible()


class WorkerKilled(BaseException):
    """The worker dies: nothing after it runs and its open transaction is lost."""


def test_an_apply_shows_its_progress_and_the_open_page_follows_it_to_the_end(admin: Page, live_server, app, work,
                                                                              monkeypatch, shot, axe_check):
    """A batch being applied shows a progress bar (one of three tickets created: its worker died after the first
    chunk); the open page polls, and when the sweep has continued the apply it shows the result without a reload."""
    from sqlalchemy import update

    from portal.extensions import db
    from portal.models import BatchStatus, MigrationBatch
    from portal.services import Actor, migration

    page = admin
    batch_id = uploaded_batch(page, live_server, GOOD, work)
    monkeypatch.setattr(migration, "APPLY_CHUNK", 1)
    with app.app_context():
        batch = db.session.get(MigrationBatch, batch_id)
        migration.confirm(Actor(batch.organization_id, None), batch)
        run = migration.claim_apply(batch_id, force=True)
        db.session.commit()
        commits = []

        def checkpoint():  # the fixed fields, then the first ticket's numbers and the ticket itself
            if len(commits) == 3:
                raise WorkerKilled()
            db.session.commit()
            commits.append(1)

        with pytest.raises(WorkerKilled):
            migration.apply(batch_id, run, checkpoint)
        db.session.rollback()
    page.goto(f"{live_server}/admin/migrations/{batch_id}")
    status = page.locator("section#batch-status")
    expect(status.locator(".batch-applying")).to_be_visible()
    expect(status.locator("progress#apply-progress")).to_have_attribute("value", "33")
    expect(status.locator("#apply-count")).to_contain_text("1")
    expect(status.locator("form[action$='/delete']")).to_have_count(0)
    axe_check(page, "migration batch applying (ko)")
    shot(page, "migration-applying-ko")
    mark_page(page)

    with app.app_context():  # the worker stopped reporting long ago: the sweep continues the apply
        db.session.execute(update(MigrationBatch).where(MigrationBatch.id == batch_id).values(heartbeat_at=None))
        db.session.commit()
    result = app.test_cli_runner().invoke(args=["migration", "apply-due"])
    assert "completed" in result.output, result.output
    expect(status.locator(".batch-completed")).to_be_visible(timeout=POLL)
    assert_not_reloaded(page)
    expect(status.locator("progress#apply-progress")).to_have_count(0)
    expect(status).not_to_have_attribute("hx-get", re.compile(".*"))  # polling stopped
    with app.app_context():
        assert db.session.get(MigrationBatch, batch_id).created_tickets == 3
        assert db.session.get(MigrationBatch, batch_id).status == BatchStatus.completed
