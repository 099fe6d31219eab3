"""My performance: the interval arithmetic at its edges, the figures against an independent computation from
a simulated day, the dialog and the export."""
import io
import threading
from collections import defaultdict
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook
from sqlalchemy import select
from werkzeug.serving import make_server

from portal.extensions import db
from portal.models import AgentStateInterval, CtiAgent, Member, Organization, Service, Ticket, TicketChannel, TicketStatus
from portal.services import Actor, agent_states, cti, performance
from portal.services.contracts import local_today, sign_contract
from portal.services.cti_simulator import scenario, send
from portal.services.organizations import rotate_api_key

UTC = timezone.utc
EN = {"Accept-Language": "en"}


def utc(*args):
    return datetime(*args, tzinfo=UTC)


# -- arithmetic ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("zone, day, hours", [
    ("Asia/Seoul", date(2026, 3, 8), 24),        # no daylight saving time
    ("America/New_York", date(2026, 3, 8), 23),  # clocks go forward
    ("America/New_York", date(2026, 11, 1), 25),  # clocks go back
    ("Europe/Berlin", date(2026, 3, 29), 23),
])
def test_a_day_is_local_midnight_to_local_midnight(zone, day, hours):
    start, end = performance.day_bounds(day, ZoneInfo(zone))
    assert (end - start) == timedelta(hours=hours)
    assert start.astimezone(ZoneInfo(zone)).time().hour == 0


def test_an_interval_is_split_at_midnight():
    start, end = performance.day_bounds(date(2026, 3, 10), ZoneInfo("Asia/Seoul"))  # 15:00 UTC the day before
    night = [("ready", start - timedelta(hours=2), start + timedelta(hours=3))]
    now = end + timedelta(days=1)
    assert performance.seconds_by_state(night, start, end, now) == {"ready": 3 * 3600}
    prev_start, prev_end = performance.day_bounds(date(2026, 3, 9), ZoneInfo("Asia/Seoul"))
    assert performance.seconds_by_state(night, prev_start, prev_end, now) == {"ready": 2 * 3600}


def test_an_open_interval_counts_up_to_now_and_never_past_it():
    start, end = performance.day_bounds(date(2026, 3, 10), ZoneInfo("UTC"))
    now = start + timedelta(hours=10, seconds=7)
    open_ = [("break", start + timedelta(hours=9), None)]
    assert performance.seconds_by_state(open_, start, end, now) == {"break": 3607}
    assert performance.seconds_by_state([("ready", start, end)], start, end, now) == {"ready": 36007}


def test_changes_within_the_same_second_count_nothing_twice():
    start, end = performance.day_bounds(date(2026, 3, 10), ZoneInfo("UTC"))
    t = start + timedelta(hours=1)
    intervals = [("ready", t, t), ("break", t, t + timedelta(seconds=1)), ("meal", t + timedelta(seconds=1), None)]
    totals = performance.seconds_by_state(intervals, start, end, t + timedelta(seconds=61))
    assert totals == {"break": 1, "meal": 60}


def test_a_late_event_never_makes_intervals_overlap(make, app):
    org = make.org()
    service = make.service(org, "desk")
    ann = make.member(org, "ann")
    make.place(service, ann, phone=True)
    with app.app_context():
        member, svc = db.session.get(Member, ann.id), db.session.get(Service, service.id)
        actor = Actor(org.id, ann.id)
        agent_states.change(actor, member, svc, "phone", "ready", at=utc(2026, 3, 10, 9, 5))
        agent_states.change(actor, member, svc, "phone", "break", at=utc(2026, 3, 10, 9, 3))  # arrives late
        rows = list(db.session.scalars(select(AgentStateInterval).order_by(AgentStateInterval.id)))
        # It takes effect at the boundary (9:05), where the ready interval began: that one held no time and is
        # not kept (no zero-length interval), the break runs from 9:05.
        assert [(r.state, r.started_at, r.ended_at) for r in rows] == [("break", utc(2026, 3, 10, 9, 5), None)]


# -- figures from the database ------------------------------------------------------------------------------

@pytest.fixture
def two_desks(make, app):
    org = make.org(domain="acme")
    first = make.service(org, "first", name="First")
    second = make.service(org, "second", name="Second")
    ann = make.member(org, "ann", name="Ann")
    for service in (first, second):
        make.place(service, ann, phone=True, chat=True)
    with app.app_context():
        for service in (first, second):
            db.session.get(Service, service.id).time_zone = "Asia/Seoul"
        db.session.commit()
    return {"org": org, "first": first, "second": second, "ann": ann}


def test_the_service_clock_decides_the_day_and_each_second_counts_in_one_service(two_desks, app):
    """At 20:00 UTC on the 10th it is the 11th in Seoul. Ann works in First, then Second, then First again."""
    with app.app_context():
        ann = db.session.get(Member, two_desks["ann"].id)
        first, second = (db.session.get(Service, two_desks[k].id) for k in ("first", "second"))
        actor = Actor(ann.organization_id, ann.id)
        local_midnight = utc(2026, 3, 10, 15)  # 00:00 on the 11th in Seoul
        agent_states.change(actor, ann, first, "phone", "ready", at=local_midnight - timedelta(hours=1))
        agent_states.change(actor, ann, second, "phone", "ready", at=local_midnight + timedelta(hours=2))
        agent_states.change(actor, ann, first, "phone", "break", at=local_midnight + timedelta(hours=4))
        agent_states.change(actor, ann, first, "chat", "waiting", at=local_midnight + timedelta(hours=4))
        db.session.commit()
        now = utc(2026, 3, 10, 20)  # 05:00 in Seoul on the 11th
        a, b = performance.figures(ann, first, now=now), performance.figures(ann, second, now=now)
        assert a.day == date(2026, 3, 11) and a.is_today
        assert a.phone == {"ready": 2 * 3600, "break": 3600} and a.chat == {"waiting": 3600}
        assert b.phone == {"ready": 2 * 3600}
        assert sum(a.phone.values()) + sum(b.phone.values()) == 5 * 3600  # midnight to now, once
        yesterday = performance.figures(ann, first, date(2026, 3, 10), now=now)
        assert yesterday.phone == {"ready": 3600} and not yesterday.is_today


def test_ticket_figures(two_desks, app):
    with app.app_context():
        ann = db.session.get(Member, two_desks["ann"].id)
        first = db.session.get(Service, two_desks["first"].id)
        now = utc(2026, 3, 10, 20)
        made = [(TicketStatus.unassigned, None, None), (TicketStatus.unassigned, None, None),
                (TicketStatus.in_progress, ann.id, None), (TicketStatus.resolved, ann.id, now - timedelta(hours=1)),
                (TicketStatus.completed, ann.id, now - timedelta(days=2)), (TicketStatus.in_progress, None, None)]
        for n, (status, assignee, closed) in enumerate(made, start=1):
            db.session.add(Ticket(organization_id=first.organization_id, service_id=first.id, number=n, title="t",
                                  channel=TicketChannel.phone_ib, status=status, assignee_id=assignee,
                                  created_at=now - timedelta(days=3), updated_at=closed or now - timedelta(days=3),
                                  closed_at=closed))
        db.session.commit()
        assert performance.figures(ann, first, now=now).tickets == {
            "unassigned": 2, "in_progress": 1, "resolved": 1, "completed": 0}


# -- a simulated day against an independent computation ------------------------------------------------------

@pytest.fixture
def phone_desk(make, app):
    org = make.org(domain="acme")
    service = make.service(org, "phone", name="Phone Desk")
    members = [make.member(org, f"agent{i}", name=f"Agent {i}") for i in range(2)]
    for member in members:
        make.place(service, member, phone=True)
    with app.app_context():
        svc = db.session.get(Service, service.id)
        svc.time_zone = "Asia/Seoul"
        sign_contract(Actor(org.id, None), svc, {"base.seat": 2, "ticket.phone_cti": 2}, base_version=None)
        cti.set_toggle(Actor(org.id, None), svc, "log_monitoring", True)
        for i, member in enumerate(members):
            db.session.add(CtiAgent(organization_id=org.id, member_id=member.id, cti_id=f"agt{i}", cti_number=f"70{i}"))
        key = rotate_api_key(Actor(org.id, None), db.session.get(Organization, org.id))
        db.session.commit()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield {"service": service, "members": members, "key": key, "url": f"http://127.0.0.1:{server.server_port}"}
    server.shutdown()


def expected_from_events(stream, start, end):
    """What the day should show, computed from the event stream alone (not from what the portal stored)."""
    states, calls = defaultdict(float), {"IB": [0, 0], "OB": [0, 0]}
    state, since, answered = "offline", None, {}

    def move(new_state, at):
        nonlocal state, since
        if state != "offline" and since is not None:
            low, high = max(since, start), min(at, end)
            if high > low:
                states[state] += (high - low).total_seconds()
        state, since = new_state, at

    for event in stream:
        at = datetime.fromisoformat(event["occurred_at"])
        kind = event["kind"]
        if kind in ("inbound_ringing", "outbound_dial") and start <= at < end:
            calls[event["direction"]][0] += 1
        if kind == "agent_login":
            move("ready", at)
        elif kind == "agent_logout":
            move("offline", at)
        elif kind == "state_change":
            move(event["state"], at)
        elif kind == "outbound_dial":
            move("outbound_call", at)
            answered[event["call_id"]] = (None, datetime.fromisoformat(event["occurred_at"]), event["direction"])
        elif kind == "inbound_ringing":
            answered[event["call_id"]] = (None, at, event["direction"])
        elif kind in ("answered", "connected"):
            _, began, direction = answered[event["call_id"]]
            answered[event["call_id"]] = (at, began, direction)
            move("inbound_call" if kind == "answered" else "outbound_call", at)
        elif kind == "transfer":
            move("transfer", at)
        elif kind == "hangup":
            talk_from, began, direction = answered[event["call_id"]]
            if talk_from and start <= began < end:
                calls[direction][1] += int((at - talk_from).total_seconds())
            # Whatever became of the call, an agent on it leaves the call state: ticket work (after-call bulk
            # state on) or ticket work while the widget asks what next (off).
            if state in ("inbound_call", "outbound_call", "transfer"):
                move("ticket_work", at)
    return {k: v for k, v in states.items() if v}, {d: tuple(v) for d, v in calls.items() if v[0]}


def test_a_simulated_day_shows_exactly_what_the_events_say(phone_desk, app, login_as):
    streams = scenario(["agt0", "agt1"], 40, seed=11)
    stats = send(phone_desk["url"], phone_desk["key"], "phone", streams, batch=25, concurrency=2)
    assert stats.rejected == 0 and stats.with_error == 0
    with app.app_context():
        service = db.session.get(Service, phone_desk["service"].id)
        for member, stream in zip(phone_desk["members"], streams):
            member = db.session.get(Member, member.id)
            day = local_today(service)
            start, end = performance.day_bounds(day, ZoneInfo("Asia/Seoul"))
            figures = performance.figures(member, service, day)
            states, calls = expected_from_events(stream, start, end)
            assert calls and len(states) >= 3  # the day is not empty (ready, calls, ticket work at least)
            assert figures.calls == calls
            assert figures.phone.keys() == states.keys()
            for state, seconds in states.items():
                assert figures.phone[state] == pytest.approx(seconds, abs=0.001), state
    # The dialog shows the same figures (talk time of inbound calls of the first agent).
    client = login_as(phone_desk["members"][0])
    html = client.get("/me/performance", headers={**EN, "HX-Request": "true"}).get_data(as_text=True)
    count, talk = expected_from_events(streams[0], start, end)[1].get("IB", (0, 0))
    assert f'data-figure="calls-IB">{count}<' in html
    assert f'data-figure="talk-IB">{talk // 3600}:{talk % 3600 // 60:02d}:{talk % 60:02d}<' in html


# -- the dialog and the export ------------------------------------------------------------------------------

def test_the_dialog_polls_while_today_and_not_for_a_past_day(two_desks, login_as):
    client = login_as(two_desks["ann"])
    dialog = client.get("/me/performance", headers={**EN, "HX-Request": "true"}).get_data(as_text=True)
    assert "<html" not in dialog and 'id="dialog-title"' in dialog and 'hx-trigger="every 5s"' in dialog
    assert "Today, live" in dialog
    past = client.get("/me/performance?day=2026-01-05", headers={**EN, "HX-Request": "true"}).get_data(as_text=True)
    assert 'hx-trigger="every 5s"' not in past and "2026-01-05" in past
    body = client.get("/me/performance?part=body", headers=EN).get_data(as_text=True)
    assert "<html" not in body and 'data-figure="unassigned"' in body
    page = client.get("/me/performance", headers=EN).get_data(as_text=True)
    assert "<html" in page and "My performance" in page


@pytest.mark.parametrize("day, message", [("yesterday", "Enter days as YYYY-MM-DD."), ("2999-01-01", "Pick today or a past day.")])
def test_a_bad_day_is_refused_with_a_message(two_desks, login_as, day, message):
    client = login_as(two_desks["ann"])
    response = client.get(f"/me/performance?day={day}", headers=EN)
    assert response.status_code == 400 and message in response.get_data(as_text=True)
    export = client.get(f"/me/performance.xlsx?day={day}", headers=EN, follow_redirects=True)
    assert message in export.get_data(as_text=True)


def test_my_day_exports_as_xlsx(two_desks, app, login_as):
    with app.app_context():
        ann = db.session.get(Member, two_desks["ann"].id)
        first = db.session.get(Service, two_desks["first"].id)
        agent_states.change(Actor(ann.organization_id, ann.id), ann, first, "phone", "ready")
        db.session.commit()
    client = login_as(two_desks["ann"])
    response = client.get("/me/performance.xlsx", headers=EN)
    assert response.status_code == 200 and "attachment" in response.headers["Content-Disposition"]
    book = load_workbook(io.BytesIO(response.data), read_only=True)
    summary = [row for row in book["My performance"].iter_rows(values_only=True)]
    assert ("Service", "First") in [tuple(r[:2]) for r in summary]
    states = list(book["States"].iter_rows(values_only=True))
    assert states[0][:2] == ("Channel", "Agent state") and states[1][0] == "Phone"


def test_a_member_without_services_sees_an_explanation(make, login_as):
    org = make.org()
    loner = make.member(org, "loner")
    html = login_as(loner).get("/me/performance", headers=EN).get_data(as_text=True)
    assert "You are not part of any service yet" in html
    assert login_as(loner).get("/me/performance.xlsx").status_code == 404
