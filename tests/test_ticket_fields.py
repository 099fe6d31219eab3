"""Ticket fields and the ticket list of a service."""
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import insert, select

from portal.extensions import db
from portal.models import Service, Ticket, TicketField
from tests.conftest import csrf_token

EN = {"Accept-Language": "en"}


@pytest.fixture
def desk(make, login_as):
    org = make.org(domain="acme")
    service = make.service(org, "desk", name="Desk")
    manager = make.member(org, "mgr")
    make.place(service, manager, "manager")
    client = login_as(manager)
    client.get("/services/desk/ticket-fields")  # creates the system fields
    return {"org": org, "service": service, "client": client}


def _fields(app, service_id) -> list[str]:
    with app.app_context():
        return [f.key for f in db.session.scalars(select(TicketField).filter_by(service_id=service_id).order_by(TicketField.position))]


def _add(client, **values):
    data = {"csrf_token": csrf_token(client, "/services/desk/ticket-fields"), "key": "mood", "type": "single_choice",
            "label_ko": "기분", "label_en": "Mood", "choices": "happy\nsad", **values}
    return client.post("/services/desk/ticket-fields", data=data, headers=EN)


def test_system_fields_come_first_and_custom_fields_are_added_last(desk, app):
    assert _fields(app, desk["service"].id)[:3] == ["title", "body", "status"]
    assert _add(desk["client"]).status_code == 303
    assert _fields(app, desk["service"].id)[-1] == "mood"


@pytest.mark.parametrize("values, message", [
    ({"key": "Bad Key"}, "A field key is 1–40 lowercase letters"),
    ({"key": "title"}, "The field key title is already used."),
    ({"choices": ""}, "A choice field needs at least one choice"),
    ({"choices": "a,b"}, "without commas"),
    ({"type": "blob"}, "Unknown field type: blob."),
    ({"label_en": ""}, "Enter the label in Korean and in English."),
])
def test_bad_custom_fields_are_refused(desk, app, values, message):
    response = _add(desk["client"], **values)
    assert response.status_code == 422 and message in response.get_data(as_text=True)
    assert "mood" not in _fields(app, desk["service"].id)


def test_moving_a_field_reorders_and_changes_the_fingerprint(desk, app):
    c = desk["client"]
    before = c.get("/services/desk/ticket-fields").get_data(as_text=True).split('id="fingerprint">')[1][:16]
    with app.app_context():
        body = db.session.scalars(select(TicketField).filter_by(service_id=desk["service"].id, key="body")).one()
    fragment = c.post(f"/services/desk/ticket-fields/{body.id}/move", data={"direction": "up"},
                      headers={"HX-Request": "true", "X-CSRFToken": csrf_token(c, "/services/desk/ticket-fields")})
    html = fragment.get_data(as_text=True)
    assert fragment.status_code == 200 and "<html" not in html and 'id="ticket-fields"' in html
    assert _fields(app, desk["service"].id)[:2] == ["body", "title"]
    assert html.split('id="fingerprint">')[1][:16] != before


def test_system_fields_cannot_be_deleted_and_the_title_stays_required(desk, app):
    c = desk["client"]
    with app.app_context():
        title = db.session.scalars(select(TicketField).filter_by(service_id=desk["service"].id, key="title")).one()
    token = csrf_token(c, "/services/desk/ticket-fields")
    deleted = c.post(f"/services/desk/ticket-fields/{title.id}/delete", data={"csrf_token": token}, headers=EN)
    assert deleted.status_code == 422 and "System fields cannot be deleted." in deleted.get_data(as_text=True)
    optional = c.post(f"/services/desk/ticket-fields/{title.id}", data={"csrf_token": token}, headers=EN)
    assert optional.status_code == 422 and "The title is always required." in optional.get_data(as_text=True)


def test_a_custom_field_can_be_edited_and_deleted(desk, app):
    c = desk["client"]
    _add(c)
    with app.app_context():
        mood = db.session.scalars(select(TicketField).filter_by(key="mood")).one()
    token = csrf_token(c, "/services/desk/ticket-fields")
    c.post(f"/services/desk/ticket-fields/{mood.id}", data={"csrf_token": token, "label_ko": "감정", "label_en": "Feeling",
                                                          "required": "on", "choices": "happy\nsad\nmeh"})
    with app.app_context():
        edited = db.session.get(TicketField, mood.id)
        assert (edited.label_en, edited.required, edited.choices) == ("Feeling", True, ["happy", "sad", "meh"])
    c.post(f"/services/desk/ticket-fields/{mood.id}/delete", data={"csrf_token": token})
    assert "mood" not in _fields(app, desk["service"].id)


def test_an_htmx_change_says_its_message_at_once_and_leaves_the_editor_address(desk, app):
    c = desk["client"]
    _add(c)
    c.get("/services/desk/ticket-fields")  # the page that showed "added"
    with app.app_context():
        mood = db.session.scalars(select(TicketField).filter_by(key="mood")).one()
    hx = {"HX-Request": "true", "X-CSRFToken": csrf_token(c, f"/services/desk/ticket-fields?edit={mood.id}"), **EN}
    saved = c.post(f"/services/desk/ticket-fields/{mood.id}", data={"label_ko": "감정", "label_en": "Feeling",
                                                                   "choices": "happy\nsad"}, headers=hx)
    assert saved.status_code == 200 and saved.headers["HX-Replace-Url"] == "/services/desk/ticket-fields"
    deleted = c.post(f"/services/desk/ticket-fields/{mood.id}/delete", headers=hx).get_data(as_text=True)
    assert 'id="fields-table"' not in deleted  # the table's content, then the message out of band
    assert '<div id="flashes" class="flashes" role="status" hx-swap-oob="true">' in deleted
    assert "The field mood is deleted." in deleted
    assert "The field mood is deleted." not in c.get("/services/desk/tickets", headers=EN).get_data(as_text=True)


def test_a_field_of_another_service_is_not_found(desk, app, make):
    other = make.service(desk["org"], "other")
    with app.app_context():
        from portal.services.ticket_fields import fields_of

        foreign = fields_of(db.session.get(Service, other.id))[0].id
        db.session.commit()
    response = desk["client"].post(f"/services/desk/ticket-fields/{foreign}/move", data={
        "csrf_token": csrf_token(desk["client"], "/services/desk/ticket-fields"), "direction": "down"})
    assert response.status_code == 404


def test_the_ticket_list_filters_and_pages_newest_first(desk, app, make):
    agent = make.member(desk["org"], "agt", name="Agent A")
    make.place(desk["service"], agent)
    now = datetime.now(timezone.utc)
    with app.app_context():
        db.session.execute(insert(Ticket), [{
            "organization_id": desk["org"].id, "service_id": desk["service"].id, "number": i, "title": f"Ticket {i}",
            "status": "resolved" if i % 2 else "unassigned", "priority": "normal", "channel": "web",
            "assignee_id": agent.id if i % 3 == 0 else None, "created_at": now - timedelta(hours=i), "updated_at": now,
        } for i in range(1, 121)])
        db.session.commit()
    c = desk["client"]
    first = c.get("/services/desk/tickets").get_data(as_text=True)
    assert first.count("<tr>") - 1 == 50 and first.index("Ticket 1<") < first.index("Ticket 2<")
    nxt = first.split('rel="next" href="')[1].split('"')[0].replace("&amp;", "&")
    second = c.get(nxt).get_data(as_text=True)
    assert "Ticket 51<" in second and "Ticket 50<" not in second
    resolved = c.get("/services/desk/tickets?status=resolved").get_data(as_text=True)
    assert "Ticket 2<" not in resolved and "Ticket 1<" in resolved
    assigned = c.get(f"/services/desk/tickets?assignee={agent.id}").get_data(as_text=True)
    assert "Ticket 3<" in assigned and "Ticket 1<" not in assigned
    assert c.get("/services/desk/tickets?status=lost", headers=EN).status_code == 400
    assert c.get("/services/desk/tickets?from=yesterday", headers=EN).status_code == 400
