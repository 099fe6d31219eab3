"""POST /api/v1/cti/events: authentication, validation, idempotency, and what events drive."""
import itertools
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import Activity, AgentStateInterval, Call, CtiAgent, CtiEvent, Organization, Service, Ticket
from portal.services import Actor, agent_states, cti
from portal.services.contracts import sign_contract
from portal.services.organizations import rotate_api_key

T0 = datetime.now(timezone.utc) - timedelta(hours=1)


def at(seconds: int) -> str:
    return (T0 + timedelta(seconds=seconds)).isoformat()


@pytest.fixture
def line(make, app):
    org = make.org(domain="acme")
    service = make.service(org, "phone", name="Phone Desk")
    agent = make.member(org, "ann", name="Ann")
    make.place(service, agent, ticket=True, chat=True, phone=True)
    with app.app_context():
        svc = db.session.get(Service, service.id)
        sign_contract(Actor(org.id, None), svc, {"base.seat": 2, "ticket.phone_cti": 2}, base_version=None)
        cti.set_toggle(Actor(org.id, None), svc, "log_monitoring", True)
        db.session.add(CtiAgent(organization_id=org.id, member_id=agent.id, cti_id="ann01", cti_number="7001"))
        key = rotate_api_key(Actor(org.id, None), db.session.get(Organization, org.id))
        db.session.commit()
    return {"org": org, "service": service, "agent": agent, "key": key}


def post(client, key, events, service="phone", **kwargs):
    return client.post("/api/v1/cti/events", json={"service": service, "events": events},
                       headers={"Authorization": f"Bearer {key}", **kwargs.pop("headers", {})}, **kwargs)


def count(app, model, **filters):
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model).filter_by(**filters))


def test_without_a_valid_key_the_answer_is_401(client, line):
    assert client.post("/api/v1/cti/events", json={}).status_code == 401
    wrong = post(client, "oc_wrong", [])
    assert wrong.status_code == 401 and wrong.json["code"] == "unauthorized"
    assert wrong.headers["WWW-Authenticate"] == "Bearer"


def test_another_organizations_key_cannot_reach_this_service(client, line, make, app):
    other = make.org(domain="other")
    with app.app_context():
        their_key = rotate_api_key(Actor(other.id, None), db.session.get(Organization, other.id))
        db.session.commit()
    response = post(client, their_key, [{"kind": "agent_login", "event_id": "e1", "occurred_at": at(0)}])
    assert response.status_code == 404 and response.json["code"] == "unknown_service"
    assert count(app, CtiEvent) == 0


@pytest.mark.parametrize("event, code", [
    ({"kind": "teleport", "event_id": "x", "occurred_at": at(0)}, "bad_kind"),
    ({"kind": "agent_login", "occurred_at": at(0)}, "missing_field"),
    ({"kind": "agent_login", "event_id": "x", "occurred_at": "yesterday"}, "bad_time"),
    ({"kind": "agent_login", "event_id": "x", "occurred_at": "2026-01-01T10:00:00"}, "bad_time"),
    ({"kind": "agent_login", "event_id": "x", "occurred_at": (datetime.now(timezone.utc) + timedelta(days=1)).isoformat()}, "future_time"),
    ({"kind": "answered", "event_id": "x", "occurred_at": at(0)}, "missing_field"),
    ({"kind": "state_change", "event_id": "x", "occurred_at": at(0), "state": "napping"}, "bad_state"),
    ("not an object", "bad_event"),
])
def test_malformed_events_are_rejected_and_nothing_is_stored(client, line, app, event, code):
    response = post(client, line["key"], [event])
    assert response.status_code == 422 and response.json["results"][0]["code"] == code
    assert count(app, CtiEvent) == 0


def test_malformed_bodies_get_problem_documents(client, line, app):
    bad = client.post("/api/v1/cti/events", data="{not json", headers={"Authorization": f"Bearer {line['key']}",
                                                                        "Content-Type": "application/json"})
    assert bad.status_code == 400 and bad.json["code"] == "malformed_json"
    empty = post(client, line["key"], [])
    assert empty.status_code == 422 and empty.json["code"] == "invalid_request" and "events" in empty.json["errors"]["json"]
    too_many = post(client, line["key"], [{"kind": "agent_login", "event_id": str(i), "occurred_at": at(0)} for i in range(501)])
    assert too_many.status_code == 413 and too_many.json["code"] == "too_many_events"
    app.config["MAX_CONTENT_LENGTH"] = 2000
    try:
        huge = post(client, line["key"], [{"kind": "agent_login", "event_id": "x" * 50, "occurred_at": at(0),
                                           "detail": {"pad": "y" * 5000}}])
    finally:
        app.config["MAX_CONTENT_LENGTH"] = app.config["MAX_UPLOAD_MB"] * 1024 * 1024
    assert huge.status_code == 413 and huge.json["code"] == "too_large"


def test_a_retried_event_is_stored_once(client, line, app):
    event = {"kind": "agent_login", "event_id": "login-1", "occurred_at": at(0), "cti_id": "ann01"}
    first = post(client, line["key"], [event])
    again = post(client, line["key"], [event, event])
    assert first.json["results"][0]["status"] == "stored"
    assert [r["status"] for r in again.json["results"]] == ["duplicate", "duplicate"]
    assert count(app, CtiEvent) == 1 and count(app, AgentStateInterval) == 1


def test_an_inbound_call_drives_state_call_and_ticket(client, line, app):
    events = [
        {"kind": "agent_login", "event_id": "1", "occurred_at": at(0), "cti_id": "ann01"},
        {"kind": "inbound_ringing", "event_id": "2", "occurred_at": at(10), "cti_id": "ann01", "call_id": "c1",
         "direction": "IB", "counterpart": "01012345678"},
        {"kind": "answered", "event_id": "3", "occurred_at": at(15), "cti_id": "ann01", "call_id": "c1"},
        {"kind": "hangup", "event_id": "4", "occurred_at": at(75), "cti_id": "ann01", "call_id": "c1"},
    ]
    response = post(client, line["key"], events)
    assert response.status_code == 200 and [r["status"] for r in response.json["results"]] == ["stored"] * 4
    with app.app_context():
        call = db.session.scalars(select(Call)).one()
        assert (call.direction, call.talk_seconds, call.outcome) == ("IB", 60, "answered")
        ticket = db.session.get(Ticket, call.ticket_id)
        assert ticket.call_id == "c1" and ticket.channel.value == "phone_ib" and ticket.assignee_id == line["agent"].id
        assert ticket.status.value == "in_progress"  # assigned to the agent who answered
        states = [(i.state, i.ended_at is None) for i in db.session.scalars(
            select(AgentStateInterval).order_by(AgentStateInterval.started_at))]
        assert states == [("ready", False), ("inbound_call", False), ("ticket_work", True)]
        assert agent_states.eligible(db.session.get(Service, line["service"].id), "phone") == []
        assert all(e.logged and e.local_day for e in db.session.scalars(select(CtiEvent)))


def test_an_unanswered_inbound_call_is_abandoned_without_a_ticket(client, line, app):
    post(client, line["key"], [
        {"kind": "inbound_ringing", "event_id": "1", "occurred_at": at(0), "call_id": "c2", "counterpart": "0212345678"},
        {"kind": "hangup", "event_id": "2", "occurred_at": at(20), "call_id": "c2"},
    ])
    with app.app_context():
        call = db.session.scalars(select(Call)).one()
        assert (call.outcome, call.talk_seconds, call.ticket_id) == ("abandoned", 0, None)


@pytest.mark.parametrize("auto, ticket_after", [(True, "outbound_dial"), (False, "connected")])
def test_outbound_tickets_follow_the_auto_create_setting(client, line, app, auto, ticket_after):
    with app.app_context():
        cti.set_toggle(Actor(line["org"].id, None), db.session.get(Service, line["service"].id), "outbound_auto_ticket", auto)
        db.session.commit()
    post(client, line["key"], [{"kind": "outbound_dial", "event_id": "1", "occurred_at": at(0), "cti_id": "ann01",
                                "call_id": "o1", "direction": "OB", "counterpart": "0311112222"}])
    assert count(app, Ticket) == (1 if ticket_after == "outbound_dial" else 0)
    post(client, line["key"], [{"kind": "connected", "event_id": "2", "occurred_at": at(5), "cti_id": "ann01",
                                "call_id": "o1"}])
    assert count(app, Ticket) == 1


def test_unknown_cti_ids_are_kept_with_an_error(client, line, app):
    response = post(client, line["key"], [
        {"kind": "agent_login", "event_id": "1", "occurred_at": at(0), "cti_id": "ghost"}])
    results = response.json["results"]
    assert response.status_code == 200 and [r["status"] for r in results] == ["stored"]
    assert "ghost" in results[0]["error"] and results[0]["code"] == "unknown_cti_id"
    assert count(app, CtiEvent) == 1


@pytest.mark.parametrize("order", list(itertools.permutations(range(3))), ids=lambda o: "".join(map(str, o)))
def test_a_calls_events_in_any_order_make_the_same_call(client, line, app, order):
    """Ringing, answer and hang-up delivered in each of their six orders: the call starts at the ringing, is
    answered, ends at the hang-up with its talk time, and has one ticket (the prod-like run saw hang-ups and
    answers overtake their ringing, and the call left open or never answered)."""
    events = [{"kind": "inbound_ringing", "event_id": "r", "occurred_at": at(0), "cti_id": "ann01", "call_id": "c1",
               "direction": "IB", "counterpart": "0101234"},
              {"kind": "answered", "event_id": "a", "occurred_at": at(5), "cti_id": "ann01", "call_id": "c1",
               "direction": "IB", "counterpart": "0101234"},
              {"kind": "hangup", "event_id": "h", "occurred_at": at(65), "cti_id": "ann01", "call_id": "c1",
               "direction": "IB", "counterpart": "0101234"}]
    for i in order:
        assert post(client, line["key"], [events[i]]).json["results"][0].get("code") in (None, "late")
    with app.app_context():
        call = db.session.scalars(select(Call)).one()
        assert (call.started_at, call.answered_at, call.ended_at) == (T0, T0 + timedelta(seconds=5),
                                                                      T0 + timedelta(seconds=65))
        assert (call.outcome, call.talk_seconds, call.direction) == ("answered", 60, "IB")
        assert db.session.scalar(select(func.count()).select_from(Ticket).where(Ticket.id == call.ticket_id)) == 1


def test_why_an_event_drove_nothing_is_stored_as_a_code_and_read_in_the_readers_language(client, line, app):
    """Sent by an English-speaking integration, read by a Korean one: the stored event keeps a code and its
    parameters, not the sender's words (the CTI log renders them for whoever downloads it)."""
    post(client, line["key"], [{"kind": "agent_login", "event_id": "1", "occurred_at": at(0), "cti_id": "ghost"}],
         headers={"Accept-Language": "en"})
    again = client.post("/api/v1/cti/events", json={"service": "phone", "events": [
        {"kind": "agent_login", "event_id": "1", "occurred_at": at(0), "cti_id": "ghost"}]},
        headers={"Authorization": f"Bearer {line['key']}", "Accept-Language": "ko"})
    assert again.json["results"][0]["status"] == "duplicate"
    assert again.json["results"][0]["error"] == "알 수 없는 CTI ID ghost."
    with app.app_context():
        stored = db.session.scalars(select(CtiEvent)).one()
        assert (stored.error, stored.error_code, stored.error_args) == (None, "unknown_cti_id", {"cti_id": "ghost"})


def test_a_flood_of_events_is_rate_limited_per_key(client, line, app):
    app.config["CTI_INGEST_LIMIT"] = "3 per minute"
    try:
        codes = [post(client, line["key"], [{"kind": "agent_login", "event_id": f"f{i}", "occurred_at": at(i),
                                             "cti_id": "ann01"}]).status_code for i in range(5)]
        limited = post(client, line["key"], [])
    finally:
        app.config["CTI_INGEST_LIMIT"] = "600 per minute"
    assert codes == [200, 200, 200, 429, 429]
    assert limited.mimetype == "application/problem+json" and limited.json["code"] == "rate_limited"
    assert count(app, CtiEvent) == 3  # nothing accepted was lost


def test_the_cti_log_download_holds_the_days_logged_events(client, line, app, login_as, make):
    import io
    import re

    from openpyxl import load_workbook
    from rq import SimpleWorker

    from portal.queue import get_queue, get_redis
    from tests.conftest import csrf_token

    post(client, line["key"], [
        {"kind": "agent_login", "event_id": "1", "occurred_at": at(0), "cti_id": "ann01"},
        {"kind": "inbound_ringing", "event_id": "2", "occurred_at": at(5), "cti_id": "ann01", "call_id": "c1",
         "direction": "IB", "counterpart": "=HYPERLINK(\"http://evil\")"},
    ])
    with app.app_context():
        cti.set_toggle(Actor(line["org"].id, None), db.session.get(Service, line["service"].id), "log_monitoring", False)
        db.session.commit()
    post(client, line["key"], [{"kind": "agent_logout", "event_id": "3", "occurred_at": at(9), "cti_id": "ann01"}])
    admin_member = make.admin_of(line["org"])
    admin = login_as(admin_member)
    token = csrf_token(admin, "/me/cti-logs")
    day = (T0 + timedelta(hours=9)).date().isoformat()  # Asia/Seoul
    started = admin.post("/me/cti-logs", data={"csrf_token": token, "service": "phone", "from": day, "to": day},
                         headers={"HX-Request": "true", "Accept-Language": "en"})
    assert started.status_code == 200 and "<progress" in started.get_data(as_text=True)  # built by a job
    run_id = int(re.search(r'id="export-(\d+)"', started.get_data(as_text=True)).group(1))
    assert admin.get(f"/me/cti-logs/exports/{run_id}/file").status_code == 404  # not built yet
    with app.app_context():
        SimpleWorker([get_queue()], connection=get_redis()).work(burst=True)  # a real worker builds it
    done = admin.get(f"/me/cti-logs/exports/{run_id}?fresh=1", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "data-autodownload" in done and "2 events" in done and "hx-trigger" not in done
    response = admin.get(f"/me/cti-logs/exports/{run_id}/file")
    assert response.status_code == 200 and response.headers["Content-Disposition"].startswith("attachment")
    rows = list(load_workbook(io.BytesIO(response.data), read_only=True).worksheets[0].iter_rows(values_only=True))
    # The logout came with monitoring off. Events by their labels (in the language of who asked), and by their codes.
    assert [(r[6], r[13]) for r in rows[1:]] == [("Agent login", "agent_login"), ("Inbound ringing", "inbound_ringing")]
    assert rows[2][8] == "Inbound"
    assert rows[1][3] == "ann" and rows[1][4] == "ann01" and rows[1][5] == "7001"
    # Formula-looking text is kept exactly, as text with Excel's quote prefix: shown, never run.
    counterpart = load_workbook(io.BytesIO(response.data)).worksheets[0]["J3"]
    assert counterpart.value == rows[2][9] == '=HYPERLINK("http://evil")'
    assert counterpart.data_type == "s" and counterpart.quotePrefix
    assert f"export-{run_id}" in admin.get("/me/cti-logs").get_data(as_text=True)  # listed among my downloads
    # Another member of the organization, even an admin, does not get my export.
    other = login_as(make.member(line["org"], "other", is_org_admin=True))
    assert other.get(f"/me/cti-logs/exports/{run_id}/file").status_code == 404
    too_long = admin.post("/me/cti-logs", data={"csrf_token": token, "service": "phone", "from": "2026-01-01",
                                                "to": "2026-03-01"}, headers={"Accept-Language": "en"})
    assert too_long.status_code == 400 and "at most 31 days" in too_long.get_data(as_text=True)
    bad = admin.post("/me/cti-logs", data={"csrf_token": token, "service": "phone", "from": "yesterday"},
                     headers={"Accept-Language": "en", "HX-Request": "true"})
    assert bad.status_code == 400 and bad.headers["HX-Retarget"] == "#log-form"  # the form, message at its field
    assert 'id="log-from-error" role="alert">Enter days as YYYY-MM-DD.<' in bad.get_data(as_text=True)
    assert admin.post("/me/cti-logs", data={"csrf_token": token, "service": "nope", "from": day}).status_code == 404
    agent = login_as(line["agent"])
    assert "No CTI log for you" in agent.get("/me/cti-logs", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert agent.post("/me/cti-logs", data={"csrf_token": csrf_token(agent, "/me/settings"), "service": "phone",
                                            "from": day}).status_code == 404


def test_export_files_are_kept_a_day(app, line):
    from datetime import timedelta as td

    from portal.models import StoredFile
    from portal.models.base import utcnow
    from portal.services import cti_log, storage

    with app.app_context():
        old = storage.store(line["org"].id, purpose=cti_log.EXPORT_PURPOSE, filename="a.xlsx", content_type="x", data=b"a")
        old.created_at = utcnow() - td(days=2)
        storage.store(line["org"].id, purpose=cti_log.EXPORT_PURPOSE, filename="b.xlsx", content_type="x", data=b"b")
        db.session.commit()
        assert cti_log.purge_exports() == 1
        assert [f.filename for f in db.session.scalars(select(StoredFile))] == ["b.xlsx"]


def test_the_cti_log_starts_a_new_sheet_past_the_row_limit(client, line, app):
    import io

    from openpyxl import load_workbook

    from portal.services import cti_log

    post(client, line["key"], [{"kind": "agent_login", "event_id": f"e{i}", "occurred_at": at(i), "cti_id": "ann01"}
                               for i in range(5)])
    with app.app_context():
        day = (T0 + timedelta(hours=9)).date()
        spool, count = cti_log.workbook(db.session.get(Service, line["service"].id), day, day, sheet_rows=2)
        sheets = load_workbook(io.BytesIO(spool.read())).worksheets
    assert count == 5 and [len(list(sheet.iter_rows())) for sheet in sheets] == [3, 3, 2]  # header + rows


def test_the_calls_page_lists_calls_and_missed_ones_get_called_back(client, line, app, login_as):
    from tests.conftest import csrf_token

    post(client, line["key"], [
        {"kind": "inbound_ringing", "event_id": "1", "occurred_at": at(0), "call_id": "m1", "counterpart": "0101"},
        {"kind": "hangup", "event_id": "2", "occurred_at": at(9), "call_id": "m1"},
        {"kind": "outbound_dial", "event_id": "3", "occurred_at": at(20), "cti_id": "ann01", "call_id": "o1",
         "direction": "OB", "counterpart": "0202"},
        {"kind": "connected", "event_id": "4", "occurred_at": at(25), "cti_id": "ann01", "call_id": "o1"},
        {"kind": "hangup", "event_id": "5", "occurred_at": at(85), "cti_id": "ann01", "call_id": "o1"},
    ])
    agent = login_as(line["agent"])
    day = (T0 + timedelta(hours=9)).date().isoformat()
    page = agent.get(f"/services/phone/calls?from={day}", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "0101" in page and "0202" in page and "1:00" in page and "Missed" in page
    missed = agent.get(f"/services/phone/calls?from={day}&missed=1").get_data(as_text=True)
    assert "0101" in missed and "0202" not in missed
    with app.app_context():
        call_id = db.session.scalars(select(Call).filter_by(call_id="m1")).one().id
    token = csrf_token(agent)
    agent.post(f"/services/phone/calls/{call_id}/called-back", data={"csrf_token": token})
    again = agent.post(f"/services/phone/calls/{call_id}/called-back", data={"csrf_token": token},
                       headers={"Accept-Language": "en"}, follow_redirects=True)  # the first mark stays
    assert "This call was already handled" in again.get_data(as_text=True)
    with app.app_context():
        call = db.session.get(Call, call_id)
        assert call.called_back_by_id == line["agent"].id and call.called_back_at is not None
        trail = db.session.scalars(select(Activity).filter_by(action="call.called_back")).one()
        assert (trail.actor_id, trail.subject_id, trail.subject_label) == (line["agent"].id, call_id, "0101")
    assert "0101" not in agent.get(f"/services/phone/calls?from={day}&missed=1").get_data(as_text=True)
    assert agent.get("/services/phone/calls?from=2026-01-01&to=2026-12-31").status_code == 400


def test_the_calls_page_pages_by_keyset_and_shows_ticket_numbers(client, line, app, login_as):
    import re

    post(client, line["key"], [
        {"kind": "inbound_ringing", "event_id": "r", "occurred_at": at(0), "cti_id": "ann01", "call_id": "t1"},
        {"kind": "answered", "event_id": "a", "occurred_at": at(3), "cti_id": "ann01", "call_id": "t1"},
    ])
    with app.app_context():
        for n in range(130):
            db.session.add(Call(organization_id=line["org"].id, service_id=line["service"].id, call_id=f"p{n}",
                                direction="OB", counterpart=f"09{n:04d}", started_at=T0 + timedelta(seconds=10 + n // 2),
                                ended_at=T0 + timedelta(seconds=70), talk_seconds=0, outcome="no_answer"))
        ticket_number = db.session.scalars(select(Ticket.number)).one()
        db.session.commit()
    agent = login_as(line["agent"])
    day = (T0 + timedelta(hours=9)).date().isoformat()
    first = agent.get(f"/services/phone/calls?from={day}&direction=OB", headers={"Accept-Language": "en"}).get_data(as_text=True)
    seen = re.findall(r"<td>(09\d{4})</td>", first)
    assert len(seen) == 100
    older = re.search(r'<a rel="next" href="([^"]+)"', first).group(1).replace("&amp;", "&")
    assert "direction=OB" in older  # the filters stay on the next page
    second = agent.get(older).get_data(as_text=True)
    rest = re.findall(r"<td>(09\d{4})</td>", second)
    assert len(rest) == 30 and not set(seen) & set(rest) and 'rel="next"' not in second
    everything = agent.get(f"/services/phone/calls?from={day}&direction=IB").get_data(as_text=True)
    assert f">#{ticket_number}</a>" in everything


def test_calls_answered_at_the_same_moment_never_share_a_ticket_number(line, app):
    """Four connections answer calls at once (PostgreSQL really runs them in parallel): the service's ticket
    counter hands every ticket its own number, 1…20 without a gap."""
    import threading

    from portal.services import cti_events

    barrier, errors = threading.Barrier(4), []

    def work(n):
        try:
            with app.app_context():
                service = db.session.get(Service, line["service"].id)
                barrier.wait()
                for i in range(5):
                    for kind, second in (("inbound_ringing", 0), ("answered", 1)):
                        cti_events.ingest(service, {"kind": kind, "event_id": f"{n}-{i}-{kind}", "call_id": f"c{n}-{i}",
                                                    "occurred_at": at(n * 10 + i + second), "direction": "IB"})
                        db.session.commit()
        except Exception as exc:  # reported below, with the thread's error
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with app.app_context():
        assert sorted(db.session.scalars(select(Ticket.number))) == list(range(1, 21))


def test_the_same_batch_sent_twice_at_the_same_moment_is_stored_once(line, app):
    """Two requests race with the same events: one stores them, the other finds them stored; neither fails."""
    import threading

    events = [{"kind": "agent_login", "event_id": f"race-{i}", "occurred_at": at(i), "cti_id": "ann01"}
              for i in range(20)]
    barrier, answers = threading.Barrier(2), []

    def send():
        client = app.test_client()
        barrier.wait()
        answers.append(post(client, line["key"], events))

    threads = [threading.Thread(target=send) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [a.status_code for a in answers] == [200, 200]
    statuses = sorted(r["status"] for a in answers for r in a.json["results"])
    assert statuses.count("stored") == 20 and statuses.count("duplicate") == 20
    assert count(app, CtiEvent) == 20


def _working_stretch(first: int, calls: int) -> list[dict]:
    """An agent's events as a telephony sends them: calls answered and hung up, after-call work, ready again."""
    events, t = [], first * 1000
    for n in range(calls):
        call = f"c{first}-{n}"
        for kind, dt in (("inbound_ringing", 1), ("answered", 3), ("hangup", 20), ("state_change", 10)):
            t += dt
            events.append({"kind": kind, "event_id": f"{call}-{kind}", "occurred_at": at(t), "cti_id": "ann01",
                           "call_id": call if kind != "state_change" else None, "direction": "IB",
                           "counterpart": "01012345678", **({"state": "ready"} if kind == "state_change" else {})})
    return events


def test_a_batch_costs_a_bounded_number_of_statements_whatever_its_size(client, line, app):
    """The ingest reads what a batch needs once and writes each kind of row with one statement: a batch of 20
    events for a known agent costs a handful of statements, and a batch of 80 no more (before: about 12 per
    event). A behaviour guard for the ingest's cost, not a timing."""
    from sqlalchemy import event as sa_event

    post(client, line["key"], [{"kind": "agent_login", "event_id": "login", "occurred_at": at(0), "cti_id": "ann01"}])
    with app.app_context():
        engine = db.engine
    statements = []

    def count_statement(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    sa_event.listen(engine, "before_cursor_execute", count_statement)
    try:
        costs = []
        for first, calls in ((1, 5), (2, 20)):
            statements.clear()
            response = post(client, line["key"], _working_stretch(first, calls))
            assert response.status_code == 200
            assert [r["status"] for r in response.json["results"]] == ["stored"] * 4 * calls
            costs.append(len(statements))
    finally:
        sa_event.remove(engine, "before_cursor_execute", count_statement)
    assert costs[0] <= 24, costs  # 20 events
    assert costs[1] <= costs[0], costs  # 80 events: nothing per event
    assert count(app, Call) == 25 and count(app, Ticket) == 25
    with app.app_context():
        states = [i.state for i in db.session.scalars(select(AgentStateInterval).order_by(AgentStateInterval.started_at))]
        assert states == ["ready"] + ["inbound_call", "ticket_work", "ready"] * 25
