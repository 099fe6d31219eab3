"""Open API tickets (issue 17, item 5): create through the service's ticket fields, read, idempotency (also two
requests with one key at the same moment), refusals at their field in the caller's language, and automatic
assignment answered at once."""
import threading

import pytest
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import Member, Organization, Service, ServiceStatus, Ticket
from portal.services import Actor, agent_states, ticket_fields
from portal.services.organizations import rotate_api_key
from tests.threads import run_together

TICKET = {"title": "배송이 늦어요", "body": "주문 A-1001이 아직 오지 않았습니다.",
          "requester": {"name": "홍길동", "email": "gildong@example.com", "phone": "010-1234-5678"},
          "channel": "email", "priority": "high", "category": "배송", "tags": ["delivery", "vip"],
          "external_id": "EXT-1"}


@pytest.fixture
def desk(make, app, monkeypatch):
    monkeypatch.setitem(app.config, "API_RATE_LIMIT", "100000 per minute")
    org = make.org(domain="acme")
    service = make.service(org, "desk", name="Desk", auto_assign=True)
    agent = make.member(org, "agt", name="Agent A")
    make.place(service, agent, ticket=True, chat=True, phone=True)
    outsider = make.member(org, "outsider", name="Not Here")
    with app.app_context():
        svc = db.session.get(Service, service.id)
        actor = Actor(org.id, None)
        ticket_fields.add_custom_field(actor, svc, key="plan", type="single_choice", label_ko="요금제",
                                       label_en="Plan", required=False, choices=["basic", "pro"])
        ticket_fields.add_custom_field(actor, svc, key="order_no", type="text", label_ko="주문 번호",
                                       label_en="Order number", required=False)
        ticket_fields.add_custom_field(actor, svc, key="quantity", type="number", label_ko="수량",
                                       label_en="Quantity", required=False)
        key = rotate_api_key(actor, db.session.get(Organization, org.id))
        db.session.commit()
    return {"org": org, "service": service, "agent": agent, "outsider": outsider, "key": key}


def post(client, desk, body, service="desk", language="en", **headers):
    return client.post(f"/api/v1/services/{service}/tickets", json=body, headers={
        "Authorization": f"Bearer {desk['key']}", "Accept-Language": language, **headers})


def get(client, desk, path):
    return client.get(f"/api/v1/services/desk/tickets/{path}", headers={"Authorization": f"Bearer {desk['key']}"})


def count(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Ticket))


def test_a_ticket_is_created_and_read_back(client, desk, app):
    created = post(client, desk, TICKET | {"custom": {"plan": "pro", "order_no": "A-1001"}})
    assert created.status_code == 201, created.json
    body = created.json
    assert body["number"] == 1 and body["status"] == "unassigned" and body["assignee"] is None
    assert body["requester"]["name"] == "홍길동" and body["channel"] == "email" and body["tags"] == ["delivery", "vip"]
    assert body["custom"] == {"plan": "pro", "order_no": "A-1001"}
    assert created.headers["Location"].endswith("/api/v1/services/desk/tickets/1")
    read = get(client, desk, 1)
    assert read.status_code == 200 and read.json == body
    assert get(client, desk, 2).json["code"] == "not_found"


def ready(app, desk, member=None):
    """The agent is at work in the desk: phone ready."""
    with app.app_context():
        agent = db.session.get(Member, (member or desk["agent"]).id)
        agent_states.change(Actor(desk["org"].id, agent.id), agent, db.session.get(Service, desk["service"].id),
                            "phone", "ready")
        db.session.commit()


def test_a_ready_agent_gets_the_new_ticket_and_the_answer_names_them(client, desk, app):
    waiting = post(client, desk, {"title": "Before anyone is at work"})
    assert waiting.json["assignee"] is None and waiting.json["status"] == "unassigned"
    ready(app, desk)  # becoming present takes the waiting one
    assert get(client, desk, 1).json["assignee"] == "agt"
    created = post(client, desk, {"title": "Where is my parcel?", "channel": "web"})
    assert created.status_code == 201
    assert created.json["assignee"] == "agt" and created.json["status"] == "in_progress"


def test_an_assignee_given_by_login_id_is_kept(client, desk, app):
    created = post(client, desk, {"title": "For you", "assignee": "AGT"})
    assert created.status_code == 201 and created.json["assignee"] == "agt"
    assert created.json["status"] == "in_progress"


def test_the_same_idempotency_key_answers_the_same_ticket_and_creates_nothing(client, desk, app):
    first = post(client, desk, TICKET, **{"Idempotency-Key": "order-A-1001"})
    again = post(client, desk, TICKET, **{"Idempotency-Key": "order-A-1001"})
    assert first.status_code == again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true" and again.json["number"] == first.json["number"]
    assert again.headers["Location"] == first.headers["Location"]
    assert count(app) == 1
    other = post(client, desk, TICKET | {"title": "Another"}, **{"Idempotency-Key": "order-A-1001"})
    assert other.status_code == 422 and other.json["code"] == "idempotency_key_reused"
    second = post(client, desk, TICKET, **{"Idempotency-Key": "order-A-1002"})
    assert second.status_code == 201 and second.json["number"] == 2
    assert post(client, desk, TICKET).json["number"] == 3  # no key: every request is a ticket
    assert count(app) == 3


def test_two_requests_with_one_key_at_the_same_moment_create_one_ticket(desk, app, monkeypatch):
    """Both pass the look-up for the key before either creates; the database's unique key decides."""
    from portal.services import tickets
    barrier = threading.Barrier(2)
    create = tickets.create

    def meet_then_create(*args, **kwargs):
        barrier.wait(timeout=20)
        return create(*args, **kwargs)

    monkeypatch.setattr(tickets, "create", meet_then_create)
    answers = []

    def send(_n):
        answers.append(post(app.test_client(), desk, TICKET, **{"Idempotency-Key": "same-moment"}))

    # The key's last use is written now (once a minute), not by both threads at once: SQLite would make the
    # second wait for the first, which waits at the barrier.
    assert app.test_client().get("/api/v1/services/desk", headers={
        "Authorization": f"Bearer {desk['key']}"}).status_code == 200
    run_together(send, (1,), (2,), barrier=barrier, timeout=60)
    assert sorted(a.status_code for a in answers) == [201, 201], [a.json for a in answers]
    assert {a.json["number"] for a in answers} == {1}
    assert count(app) == 1


@pytest.mark.parametrize("change, path, code, english, korean", [
    ({"custom": {"nosuch": "x"}}, "custom.nosuch", "unknown_field", "No ticket field has this key.",
     "이 키의 티켓 필드가 없습니다."),
    ({"custom": {"title": "x"}}, "custom.title", "unknown_field", "No ticket field has this key.",
     "이 키의 티켓 필드가 없습니다."),
    ({"custom": {"plan": "gold"}}, "custom.plan", "not_choice", "gold is not one of the choices.",
     "gold은(는) 선택지에 없습니다."),
    ({"priority": "asap"}, "priority", "not_choice", "asap is not one of the choices.", None),
    ({"channel": "phone_ib"}, "channel", "not_choice", "phone_ib is not one of the choices.", None),
    ({"assignee": "outsider"}, "assignee", "not_member", "outsider is not a member of this service.", None),
    ({"requester": {"email": "not-an-address"}}, "requester.email", "email", "Enter a valid e-mail address.", None),
    ({"requester": {"email": "a@" + "b" * 250 + ".com"}}, "requester.email", "too_long", "At most 254 characters.",
     None),
    ({"title": "x" * 201}, "title", "too_long", "At most 200 characters.", "최대 200자까지 입력할 수 있습니다."),
    ({"body": "x" * 20_001}, "body", "too_long", "At most 20,000 characters.", None),
    ({"custom": {"quantity": "1e999"}}, "custom.quantity", "number", "Enter a number.", None),
    ({"custom": {"quantity": "many"}}, "custom.quantity", "number", "Enter a number.", None),
    ({"title": "  "}, "title", "required", "Required.", None),
])
def test_invalid_values_are_refused_at_their_field_in_the_callers_language(client, desk, app, change, path, code,
                                                                          english, korean):
    response = post(client, desk, TICKET | change)
    assert response.status_code == 422 and response.mimetype == "application/problem+json"
    assert response.json["errors"][path] == [english], response.json
    if code:
        assert response.json["code"] == "invalid_ticket" and response.json["codes"][path] == code
    if korean:
        assert post(client, desk, TICKET | change, language="ko").json["errors"][path] == [korean]
    assert count(app) == 0


@pytest.mark.parametrize("body, path", [
    ({"title": 5}, "title"),
    ({"title": "x", "tags": "a,b"}, "tags"),
    ({"title": "x", "requester": "someone"}, "requester"),
    ({"title": "x", "custom": {"plan": {"deep": ["er"]}}}, "custom"),
    ({"title": "x", "custom": ["plan"]}, "custom"),
    ({"title": "x", "surprise": 1}, "surprise"),
    ({"title": "x", "custom": {f"k{i}": "v" for i in range(101)}}, "custom"),
    ({"title": "x", "tags": ["t"] * 51}, "tags"),
    ({"title": "x", "body": "y" * 100_001}, "body"),
    ({}, "title"),
])
def test_wrong_types_are_refused_by_the_schema(client, desk, app, body, path):
    response = post(client, desk, body)
    assert response.status_code == 422 and response.json["code"] == "invalid_request"
    assert path in response.json["errors"]["json"], response.json
    assert count(app) == 0


def test_schema_messages_follow_the_callers_language(client, desk):
    korean = post(client, desk, {"title": 5}, language="ko").json["errors"]["json"]["title"]
    english = post(client, desk, {"title": 5}).json["errors"]["json"]["title"]
    assert english == ["Not a value of the right type."] and korean == ["값의 형식이 맞지 않습니다."]
    unknown = post(client, desk, {"title": "x", "surprise": 1}, language="ko").json["errors"]["json"]["surprise"]
    assert unknown == ["알 수 없는 필드입니다."]


def test_an_oversized_body_is_refused_before_anything_is_read(client, desk, app, monkeypatch):
    monkeypatch.setitem(app.config, "JSON_MAX_KB", 64)
    response = post(client, desk, {"title": "x", "body": "y" * 70_000})
    assert response.status_code == 413 and response.json["code"] == "too_large"
    assert count(app) == 0


@pytest.mark.parametrize("status", [ServiceStatus.suspended, ServiceStatus.terminated, ServiceStatus.draft])
def test_a_service_that_is_not_active_takes_no_tickets(client, desk, app, status):
    with app.app_context():
        db.session.get(Service, desk["service"].id).status = status
        db.session.commit()
    response = post(client, desk, TICKET, language="ko")
    assert response.status_code == 409 and response.json["code"] == "service_not_active"
    assert "Desk" in response.json["detail"] and "active" not in response.json["detail"]  # said in Korean
    assert count(app) == 0


def test_another_organizations_service_and_key_see_nothing(client, desk, app, make):
    other = make.org(domain="other")
    make.service(other, "theirs", name="Theirs")
    assert post(client, desk, TICKET, service="theirs").status_code == 404
    assert post(client, desk | {"key": "oc_wrong"}, TICKET).status_code == 401
    assert count(app) == 0
