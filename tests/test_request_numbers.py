"""Numbers, days and search text from query strings and forms: past what the database holds they are not found
or refused with a message, never a 500 (SQLite raised OverflowError past 2^63, PostgreSQL past its integer)."""
import json
from datetime import datetime, timezone

import pytest

from tests.conftest import csrf_token

INT64_MAX = "9223372036854775807"
HUGE = "99999999999999999999"


@pytest.fixture
def desk(make, login_as):
    org = make.org(domain="acme")
    service = make.service(org, "desk")
    agent = make.member(org, "agt")
    make.place(service, agent, "agent")
    admin = login_as(make.admin_of(org))
    admin.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    return {"org": org, "service": service, "agent": agent, "admin": admin}


@pytest.mark.parametrize("path", ["/admin/services", "/admin/migrations", "/admin/cti/agents"])
def test_a_page_number_past_what_the_database_holds_is_not_found(path, desk):
    client = desk["admin"]
    assert client.get(f"{path}?page={INT64_MAX}").status_code == 404
    assert client.get(f"{path}?page=1.5").status_code == 404
    assert client.get(f"{path}?page=3").status_code == 200  # past the last page: an empty page, as before


def test_searching_members_with_a_page_past_the_limit_is_not_found(desk):
    client = desk["admin"]
    assert client.get(f"/admin/org-admins/search?name=a&page={HUGE}").status_code == 404
    assert client.get(f"/services/desk/members/search?name=a&page={HUGE}").status_code == 404


def test_calls_filtered_by_an_agent_id_no_one_can_have_say_so(desk):
    response = desk["admin"].get(f"/services/desk/calls?agent={HUGE}")
    assert response.status_code == 400 and "Unknown agent." in response.get_data(as_text=True)
    assert desk["admin"].get(f"/services/desk/calls?agent={desk['agent'].id}").status_code == 200


def test_tickets_filtered_by_an_assignee_id_no_one_can_have_say_so(desk):
    response = desk["admin"].get(f"/services/desk/tickets?assignee={HUGE}")
    assert response.status_code == 400 and "Unknown assignee." in response.get_data(as_text=True)


def test_adding_a_member_id_no_one_can_have_to_a_service_is_not_found(desk):
    client = desk["admin"]
    response = client.post("/services/desk/members/add", data={
        "csrf_token": csrf_token(client), "member_id": HUGE, "role": "agent"})
    assert response.status_code == 404


@pytest.mark.parametrize("entry_id", [HUGE, "²", "-1"])
def test_applying_company_info_with_an_id_no_one_can_have_is_not_found(desk, entry_id):
    client = desk["admin"]
    response = client.post("/admin/company-info/apply", data={
        "csrf_token": csrf_token(client), "service": "desk", "language": "ko", "company_info_id": entry_id})
    assert response.status_code == 404


def test_a_blank_company_info_id_still_clears_the_footer(desk):
    client = desk["admin"]
    response = client.post("/admin/company-info/apply", data={
        "csrf_token": csrf_token(client), "service": "desk", "language": "ko", "company_info_id": ""})
    assert response.status_code == 303


@pytest.mark.parametrize("path", ["/services/desk/calls?to=9999-12-31", "/services/desk/tickets?to=9999-12-31",
                                  "/services/desk/calls?from=0001-01-01&to=0001-01-01"])
def test_days_at_the_ends_of_the_calendar_are_refused_with_a_message(desk, path):
    response = desk["admin"].get(path)
    assert response.status_code == 400 and "YYYY-MM-DD" in response.get_data(as_text=True)


def test_a_performance_day_at_the_start_of_the_calendar_is_refused_with_a_message(desk, login_as):
    client = login_as(desk["agent"])
    response = client.get("/me/performance?day=0001-01-01", headers={"Accept-Language": "en"})
    assert response.status_code == 400 and "YYYY-MM-DD" in response.get_data(as_text=True)


@pytest.mark.parametrize("month", [f"{HUGE}-01", "2026-99999999999999999999", "0000-01"])
def test_billing_months_past_the_calendar_are_refused_with_a_message(desk, month):
    response = desk["admin"].get(f"/admin/billing?end={month}")
    assert response.status_code == 400 and "YYYY-MM" in response.get_data(as_text=True)
    assert desk["admin"].get(f"/admin/billing.xlsx?start={month}").status_code == 400


def test_the_api_refuses_charge_months_past_the_calendar(app, desk, client):
    from portal.extensions import db
    from portal.models import Organization
    from portal.services import Actor
    from portal.services.organizations import rotate_api_key

    with app.app_context():
        key = rotate_api_key(Actor(desk["org"].id, None), db.session.get(Organization, desk["org"].id))
        db.session.commit()
    for first in ("0000-01", "٢٠٢٦-٠١"):  # the schema's \d takes any script's digits
        response = client.get(f"/api/v1/charges?from={first}&to=2026-01", headers={"Authorization": f"Bearer {key}"})
        assert response.status_code == 422 and json.loads(response.get_data())["code"] == "bad_month"


def test_a_search_longer_than_any_name_finds_nobody(desk):
    client, text = desk["admin"], "a" * 100_000
    assert client.get(f"/admin/org-admins/search?name={text}").status_code == 200
    assert client.get(f"/services/desk/members/search?email={text}").status_code == 200
    assert client.get(f"/admin/cti/agents?q={text}").status_code == 200


@pytest.mark.parametrize("row_id", [10**30, 2**63, -1, 1.5])
def test_a_forged_cursor_is_ignored_or_refused_with_a_message(desk, row_id):
    import base64

    when = datetime(2026, 1, 1, tzinfo=timezone.utc).isoformat()
    cursor = base64.urlsafe_b64encode(json.dumps([when, row_id]).encode()).decode()
    for path in ("/services/desk/tickets", "/services/desk/calls"):
        assert desk["admin"].get(f"{path}?cursor={cursor}").status_code == 200, path
    refused = desk["admin"].get(f"/admin/permission-log?cursor={cursor}")
    assert refused.status_code == 400 and "The page link is not valid." in refused.get_data(as_text=True)


def test_a_cursor_at_the_start_of_the_calendar_is_ignored(desk):
    from portal.services.pagination import decode_cursor, encode_cursor

    cursor = encode_cursor(datetime.fromisoformat("0001-01-01T00:00:00+01:00"), 1)
    assert decode_cursor(cursor) is None
    assert desk["admin"].get(f"/services/desk/tickets?cursor={cursor}").status_code == 200


def test_a_contract_whose_hidden_version_is_no_number_asks_to_reload(desk):
    client = desk["admin"]
    response = client.post("/admin/services/desk/contract", data={
        "csrf_token": csrf_token(client), "base_version": "abc", "use.base.seat": "on", "qty.base.seat": "3"})
    assert response.status_code == 422
    assert "The form is incomplete. Reload the page and try again." in response.get_data(as_text=True)


def test_a_basic_info_edit_whose_hidden_revision_is_no_number_asks_to_reload(desk):
    client = desk["admin"]
    response = client.post("/admin/services/desk/edit", data={
        "csrf_token": csrf_token(client), "type": "counseling", "name": "Desk", "languages": "ko",
        "default_language": "ko", "time_zone": "Asia/Seoul", "editor_type": "HTML", "revision": HUGE})
    assert response.status_code == 422
    assert "The form is incomplete. Reload the page and try again." in response.get_data(as_text=True)


@pytest.mark.parametrize("grace", ["²", HUGE, "-1", "1.5"])
def test_an_api_key_grace_that_is_no_offered_number_is_refused(desk, grace):
    client = desk["admin"]
    response = client.post("/admin/organization/api-key", data={
        "csrf_token": csrf_token(client), "grace": grace, "confirm": "y"})
    assert response.status_code == 422 and "at once or after 1, 6 or 24 hours" in response.get_data(as_text=True)


def test_an_edit_row_id_that_is_no_number_is_not_found(desk):
    assert desk["admin"].get(f"/services/desk/ticket-fields?edit={HUGE}").status_code == 404


@pytest.mark.parametrize("raw, expected", [
    ("7", 7), (" 7 ", 7), ("+7", 7), (7, 7), ("0", None), (HUGE, None), (INT64_MAX, None), ("-1", None),
    ("1.5", None), ("1e3", None), ("1_000", None), ("²", None), ("٣", None), ("１２", None), ("1" * 5000, None),
    ("NaN", None), ("", None), (None, None), (True, None),
])
def test_one_rule_for_whole_numbers_from_a_request(raw, expected):
    from portal.services import MAX_ID, whole_number

    assert whole_number(raw, 1, MAX_ID) == expected


def test_the_whole_number_field_keeps_ids_within_the_database(app):
    from werkzeug.datastructures import MultiDict

    from portal.forms import Form, WholeNumberField

    class VersionForm(Form):
        version = WholeNumberField()

    with app.test_request_context(method="POST", headers={"Accept-Language": "en"}):
        for raw, data, valid in (("12", 12, True), ("", None, True), (HUGE, None, False), ("²", None, False)):
            form = VersionForm(MultiDict({"version": raw}), meta={"csrf": False})
            assert (form.validate(), form.version.data) == (valid, data), raw
        assert "Enter a whole number from 1 to 2147483647." in form.version.errors


def test_a_nul_in_a_query_string_or_a_form_is_refused_before_any_view(desk, client):
    """PostgreSQL stores no NUL: a search, a log-in or an API filter holding one was a 500 there."""
    response = desk["admin"].get("/services/desk/members/search?name=a%00b")
    assert response.status_code == 400 and "NUL" in response.get_data(as_text=True)
    applied = desk["admin"].post("/admin/company-info/apply", data={
        "csrf_token": csrf_token(desk["admin"]), "service": "desk", "language": "a\x00b", "company_info_id": ""})
    assert applied.status_code == 400
    assert desk["admin"].get("/admin/company-info/apply").status_code == 200  # nothing odd was flashed
    login = client.post("/login", data={"csrf_token": csrf_token(client), "organization": "acme\x00",
                                        "login_id": "admin", "password": "x"})
    assert login.status_code == 400
    api = client.get("/api/v1/charges?from=2026-01&to=2026-01&service_id=%00", headers={"Authorization": "Bearer x"})
    assert api.status_code == 400 and api.mimetype == "application/problem+json"
