"""An htmx action that fails before its view (a stale CSRF token, no permission, a crash) reports in the page's
messages (`HX-Retarget: #flashes`): the row or form it came from stays as it was."""
import pytest

from portal.extensions import db
from portal.models import Service, ServiceStatus
from portal.services import Actor
from portal.services.contracts import sign_contract
from tests.conftest import csrf_token

EN = {"Accept-Language": "en"}
RELOAD = "Your form expired or was sent from elsewhere. Reload the page and try again."


@pytest.fixture
def admin_page(make, login_as, app):
    org = make.org(domain="acme")
    service = make.service(org, "desk", name="Desk")
    with app.app_context():
        sign_contract(Actor(org.id, None), db.session.get(Service, service.id), {"base.seat": 1}, base_version=None)
        db.session.commit()
    client = login_as(make.admin_of(org))
    # A token of another session: what a page keeps after its member logged in again in another tab.
    stale = csrf_token(login_as(make.admin_of(org)), "/admin/services")
    return {"client": client, "stale": stale, "service": service}


def _status(app, service_id):
    with app.app_context():
        return db.session.get(Service, service_id).status


def test_a_toggle_with_a_stale_token_says_to_reload_in_the_flash_area_and_leaves_the_row(admin_page, app):
    response = admin_page["client"].post("/admin/services/desk/status", data={"csrf_token": admin_page["stale"],
                                                                              "to": "suspended"},
                                         headers={"HX-Request": "true", "HX-Target": "service-desk",
                                                  "X-CSRFToken": admin_page["stale"], **EN})
    assert response.status_code == 400
    assert response.headers["HX-Retarget"] == "#flashes"
    assert response.headers["HX-Reswap"].startswith("innerHTML")
    html = response.get_data(as_text=True)
    assert RELOAD in html and "flash-error" in html
    assert "error-box" not in html and "<tr" not in html
    assert _status(app, admin_page["service"].id) == ServiceStatus.active


def test_the_stale_token_message_is_in_korean_by_default(admin_page):
    response = admin_page["client"].post("/admin/services/desk/status", data={"to": "suspended"},
                                         headers={"HX-Request": "true", "X-CSRFToken": admin_page["stale"]})
    assert response.headers["HX-Retarget"] == "#flashes"
    assert "양식이 만료" in response.get_data(as_text=True)


def test_any_error_page_of_an_htmx_action_goes_to_the_flash_area(make, login_as):
    org = make.org()
    agent = make.member(org, "agent")
    client = login_as(agent)
    response = client.post("/admin/services/nope/status", data={"to": "suspended"}, headers={
        "HX-Request": "true", "X-CSRFToken": csrf_token(client, "/me/settings"), **EN})
    assert response.status_code == 403 and response.headers["HX-Retarget"] == "#flashes"
    assert "You do not have permission" in response.get_data(as_text=True)


def test_an_error_inside_the_dialog_or_of_a_get_stays_in_place(admin_page):
    client = admin_page["client"]
    in_dialog = client.post("/me/settings/profile", data={"name": "X"}, headers={
        "HX-Request": "true", "X-Dialog": "1", "X-CSRFToken": admin_page["stale"]})
    assert in_dialog.status_code == 400 and "HX-Retarget" not in in_dialog.headers
    assert "error-box" in in_dialog.get_data(as_text=True)
    missing = client.get("/no/such/page", headers={"HX-Request": "true"})
    assert missing.status_code == 404 and "HX-Retarget" not in missing.headers


def test_a_plain_form_with_a_stale_token_still_gets_a_whole_page(admin_page):
    response = admin_page["client"].post("/admin/services/desk/status", data={"csrf_token": admin_page["stale"],
                                                                              "to": "suspended"})
    assert response.status_code == 400 and "<html" in response.get_data(as_text=True)
    assert "HX-Retarget" not in response.headers


def test_field_validation_is_still_swapped_in_place(admin_page):
    client = admin_page["client"]
    response = client.post("/me/settings/password", data={"current": "wrong-password-9", "new": "x",
                                                          "confirm": "x"},
                           headers={"HX-Request": "true", "X-Dialog": "1",
                                    "X-CSRFToken": csrf_token(client, "/me/settings")})
    assert response.status_code == 422 and "HX-Retarget" not in response.headers


def test_the_flash_area_is_on_every_page_even_without_messages(admin_page):
    html = admin_page["client"].get("/admin/services").get_data(as_text=True)
    assert '<div id="flashes" class="flashes" role="status"></div>' in html
