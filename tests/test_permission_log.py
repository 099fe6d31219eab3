"""The permission change log: filters, keyset pages, export, and the tamper-evident chain."""
import io
import threading
from datetime import datetime, timedelta, timezone

import pytest
from openpyxl import load_workbook
from sqlalchemy import select, text

from portal.extensions import db
from portal.models import Activity, Member, Operation, PermissionChange, Service
from portal.services import Actor, permissions
from portal.services.permissions import verify_chain


EN = {"Accept-Language": "en"}
NOW = datetime.now(timezone.utc)


@pytest.fixture
def world(make, login_as, app):
    org = make.org(domain="acme")
    admin = make.admin_of(org)
    desk = make.service(org, "desk", name="Desk")
    shop = make.service(org, "shop", name="Shop")
    alice = make.member(org, "alice", name="Alice Kim")
    bob = make.member(org, "bob", name="Bob Lee")
    make.place(desk, alice)  # two rows at "now" (the factory's placement is logged too)
    make.place(shop, bob)
    client = login_as(admin)
    return {"org": org, "admin": admin, "desk": desk, "shop": shop, "alice": alice, "bob": bob, "client": client}


def _changes(app, world, count, *, start, step=timedelta(minutes=1), member="alice", service="desk"):
    """`count` channel flips, oldest first, made by the admin."""
    with app.app_context():
        target = db.session.get(Member, world[member].id)
        svc = db.session.get(Service, world[service].id)
        actor = Actor(world["org"].id, world["admin"].id, "10.1.2.3")
        for i in range(count):
            link = permissions.membership(target.id, svc.id)
            permissions.set_channel(actor, svc, target, "chat", not link.can_chat, at=start + step * i)
        db.session.commit()


def _rows(html: str) -> int:
    return html.count("<tr>") - 1 if 'id="permission-log"' in html else 0


def test_the_log_defaults_to_the_last_seven_days(world, app):
    _changes(app, world, 3, start=NOW - timedelta(days=10))
    _changes(app, world, 2, start=NOW - timedelta(days=2))
    html = world["client"].get("/admin/permission-log", headers=EN).get_data(as_text=True)
    assert _rows(html) == 2 + 2  # two recent flips + the two placements
    assert "Channel permission changed" in html and "10.1.2.3" not in html


def test_filters_by_operation_target_actor_and_service(world, app):
    _changes(app, world, 2, start=NOW - timedelta(hours=3))
    _changes(app, world, 1, start=NOW - timedelta(hours=2), member="bob", service="shop")
    c = world["client"]
    assert _rows(c.get("/admin/permission-log?operation=change_channel").get_data(as_text=True)) == 3
    assert _rows(c.get("/admin/permission-log?operation=add_service_member").get_data(as_text=True)) == 2
    assert _rows(c.get("/admin/permission-log?target=alice").get_data(as_text=True)) == 3
    assert _rows(c.get("/admin/permission-log?target=Bob%20L").get_data(as_text=True)) == 2
    assert _rows(c.get("/admin/permission-log?service=shop").get_data(as_text=True)) == 2
    assert _rows(c.get("/admin/permission-log?actor=admin&operation=change_channel&service=desk").get_data(as_text=True)) == 2
    assert _rows(c.get("/admin/permission-log?actor=nobody-at-all").get_data(as_text=True)) == 0


@pytest.mark.parametrize("query, message", [
    ("start=2026-05-01T00:00&end=2026-04-01T00:00", "The start of the period must be before its end."),
    ("start=2020-01-01T00:00&end=2026-01-01T00:00", "Search at most one year at a time."),
    ("operation=delete_everything", "Unknown operation: delete_everything."),
    ("start=yesterday", "Enter dates and times as YYYY-MM-DD HH:MM."),
    ("service=nosuch", "Unknown service: nosuch."),
    ("cursor=garbage!!", "The page link is not valid."),
])
def test_bad_filters_are_refused_with_a_message(world, query, message):
    response = world["client"].get(f"/admin/permission-log?{query}", headers=EN)
    assert response.status_code == 400 and message in response.get_data(as_text=True)


def test_keyset_pages_walk_every_row_once_newest_first(world, app):
    _changes(app, world, 118, start=NOW - timedelta(days=1), step=timedelta(seconds=30))
    c, seen, url = world["client"], [], "/admin/permission-log?operation=change_channel"
    while url:
        html = c.get(url).get_data(as_text=True)
        seen.append(_rows(html))
        nxt = html.split('rel="next"')[0].rsplit('href="', 1)[1].split('"')[0] if 'rel="next"' in html else None
        url = nxt.replace("&amp;", "&") if nxt else None
    assert seen == [50, 50, 18]
    with app.app_context():
        from portal.services import permission_log

        flt = permission_log.make_filter(start=NOW - timedelta(days=2), end=NOW + timedelta(minutes=1),
                                         operation="change_channel")
        ids, cursor = [], None
        while True:
            rows, cursor = permission_log.page(world["org"].id, flt, cursor, size=25)
            ids += [(r.created_at, r.id) for r in rows]
            if not cursor:
                break
        assert len(ids) == len(set(ids)) == 118 and ids == sorted(ids, reverse=True)


def test_rows_with_the_same_time_are_neither_lost_nor_repeated_across_pages(world, app):
    _changes(app, world, 7, start=NOW - timedelta(hours=1), step=timedelta(0))  # seven rows, one instant
    with app.app_context():
        from portal.services import permission_log

        flt = permission_log.make_filter(start=NOW - timedelta(hours=2), end=NOW, operation="change_channel")
        first, cursor = permission_log.page(world["org"].id, flt, None, size=3)
        second, cursor = permission_log.page(world["org"].id, flt, cursor, size=3)
        third, cursor = permission_log.page(world["org"].id, flt, cursor, size=3)
        ids = [r.id for r in first + second + third]
    assert len(ids) == 7 == len(set(ids)) and cursor is None


def test_export_holds_exactly_the_filtered_rows_and_is_recorded(world, app):
    _changes(app, world, 5, start=NOW - timedelta(hours=3))
    response = world["client"].get("/admin/permission-log.xlsx?operation=change_channel&target=alice", headers=EN)
    assert response.status_code == 200 and "attachment" in response.headers["Content-Disposition"]
    sheet = load_workbook(io.BytesIO(response.data), read_only=True).worksheets[0]
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:3] == ("Time", "Service", "Operation") and len(rows) == 1 + 5
    assert {r[4] for r in rows[1:]} == {"alice"} and {r[2] for r in rows[1:]} == {"Channel permission changed"}
    with app.app_context():
        trail = db.session.scalars(select(Activity).filter_by(action="permission_log.exported")).one()
        assert trail.details["rows"] == 5 and trail.details["target"] == "alice"


def test_another_organization_never_appears_in_the_log(world, app, make, login_as):
    other = make.org(domain="other")
    svc = make.service(other, "theirs")
    make.place(svc, make.member(other, "zed", name="Zed Secret"))
    html = world["client"].get("/admin/permission-log").get_data(as_text=True)
    assert "Zed Secret" not in html
    assert "Zed Secret".encode() not in world["client"].get("/admin/permission-log.xlsx").data


# -- the chain ----------------------------------------------------------------------------------------------

def test_the_chain_verifies_and_shows_the_first_tampered_row(world, app, runner):
    _changes(app, world, 6, start=NOW - timedelta(hours=1))
    result = runner.invoke(args=["audit", "verify", "--domain", "acme"])
    assert result.exit_code == 0 and "8 rows, chain intact" in result.output
    with app.app_context():
        db.session.execute(text("UPDATE permission_change SET target_name = 'Mallory' WHERE seq = 5"))
        db.session.commit()
    result = runner.invoke(args=["audit", "verify", "--domain", "acme"])
    assert result.exit_code == 1 and "BROKEN at row 5: content does not match its hash" in result.output


def test_a_deleted_row_breaks_the_chain(world, app):
    _changes(app, world, 4, start=NOW - timedelta(hours=1))
    with app.app_context():
        db.session.execute(text("DELETE FROM permission_change WHERE seq = 3"))
        db.session.commit()
        report = verify_chain(world["org"].id)
    assert report.broken_at_seq == 3 and "missing" in report.reason


def test_a_rewritten_row_with_a_recomputed_hash_still_breaks_the_next_link(world, app):
    _changes(app, world, 4, start=NOW - timedelta(hours=1))
    with app.app_context():
        row = db.session.scalars(select(PermissionChange).filter_by(seq=2)).one()
        row.after = {"role": "manager", "ticket": True, "chat": True, "phone": True}
        row.row_hash = permissions.row_hash(row)
        db.session.commit()
        report = verify_chain(world["org"].id)
    assert report.broken_at_seq == 3 and "link" in report.reason


def test_concurrent_changes_keep_one_unbroken_chain(world, app, make):
    members = [make.member(world["org"], f"c{i}") for i in range(6)]
    barrier = threading.Barrier(len(members))
    errors = []

    def grant(member_id):
        with app.app_context():
            try:
                barrier.wait()
                member = db.session.get(Member, member_id)
                permissions.grant_org_admin(Actor(world["org"].id, world["admin"].id), member)
                db.session.commit()
            except Exception as exc:  # noqa: BLE001 - collected for the assertion
                db.session.rollback()
                errors.append(exc)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=grant, args=(m.id,)) for m in members]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    with app.app_context():
        report = verify_chain(world["org"].id)
        granted = db.session.scalars(select(PermissionChange).filter_by(operation=Operation.grant_org_admin)).all()
    assert errors == []  # writers wait for each other (row lock / SQLite busy timeout) instead of failing
    assert report.ok and len(granted) == len(members)


def test_a_target_matching_several_members_pages_through_their_rows_merged(world, app):
    _changes(app, world, 5, start=NOW - timedelta(hours=5), step=timedelta(minutes=7))
    _changes(app, world, 4, start=NOW - timedelta(hours=5, minutes=3), step=timedelta(minutes=7), member="bob",
             service="shop")
    with app.app_context():
        from portal.services import permission_log

        flt = permission_log.make_filter(start=NOW - timedelta(days=1), end=NOW + timedelta(minutes=1), target="l",
                                         operation="change_channel")  # Alice Kim and Bob Lee
        walked, cursor = [], None
        while True:
            rows, cursor = permission_log.page(world["org"].id, flt, cursor, size=3)
            walked += [(r.created_at, r.id, r.target_login) for r in rows]
            if not cursor:
                break
        assert len(walked) == 9 and walked == sorted(walked, reverse=True)
        assert {login for *_, login in walked} == {"alice", "bob"}
        nobody = permission_log.make_filter(start=NOW - timedelta(days=1), end=NOW, target="zzz")
        assert permission_log.page(world["org"].id, nobody) == ([], None)
