"""Contracted services through the routes: wizard, contract, status, termination, billing, org info."""
import io
import re
import threading
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from portal.extensions import db
from portal.models import Activity, Contract, Organization, Service, ServiceStatus
from portal.services import ServiceError
from portal.services.contracts import Actor, sign_contract
from portal.services.organizations import organization_for_api_key
from tests.conftest import csrf_token
from tests.factories import png_bytes
from tests.threads import run_together

EN = {"Accept-Language": "en"}


@pytest.fixture
def admin(make, login_as):
    org = make.org(domain="acme")
    client = login_as(make.admin_of(org))
    client.org = org
    return client


def _service(app, org_id, key) -> Service | None:
    with app.app_context():
        service = db.session.scalars(select(Service).filter_by(organization_id=org_id, service_key=key)).first()
        if service is not None:
            service.languages  # load before detaching
            db.session.expunge(service)
        return service


def _activities(app, org_id) -> list[str]:
    with app.app_context():
        return [a.action for a in db.session.scalars(select(Activity).filter_by(organization_id=org_id).order_by(Activity.id))]


def _new(client, **overrides):
    data = {"csrf_token": csrf_token(client, "/admin/services/new"), "type": "counseling", "name": "Help Desk",
            "service_key": "helpdesk", "languages": ["ko", "en"], "default_language": "en",
            "time_zone": "Asia/Seoul", "editor_type": "HTML"}
    data.update(overrides)
    return client.post("/admin/services/new", data={k: v for k, v in data.items() if v is not None},
                       headers=EN, content_type="multipart/form-data")


def _sign(client, key, quantities, base_version=""):
    data = {"csrf_token": csrf_token(client, f"/admin/services/{key}/contract"), "base_version": base_version}
    for feature, qty in quantities.items():
        data[f"use.{feature}"] = "on"
        data[f"qty.{feature}"] = str(qty)
    return client.post(f"/admin/services/{key}/contract", data=data, headers=EN)


# -- wizard -------------------------------------------------------------------------------------------------

def test_step_one_saves_a_draft_and_leads_to_the_contract(admin, app):
    response = _new(admin)
    assert response.status_code == 303
    assert response.headers["Location"] == "/admin/services/helpdesk/contract"
    service = _service(app, admin.org.id, "helpdesk")
    assert service.status == ServiceStatus.draft
    assert {(lang.code, lang.is_default) for lang in service.languages} == {("ko", False), ("en", True)}
    row = admin.get("/admin/services", headers=EN).get_data(as_text=True)
    assert "Register" in row and "helpdesk" in row
    assert _activities(app, admin.org.id) == ["service.created"]


def test_step_two_signs_the_contract_and_activates_the_service(admin, app):
    _new(admin)
    response = _sign(admin, "helpdesk", {"base.seat": 5, "ticket.management": 5})
    assert response.status_code == 303
    service = _service(app, admin.org.id, "helpdesk")
    assert service.status == ServiceStatus.active
    with app.app_context():
        contract = db.session.scalars(select(Contract).filter_by(service_id=service.id)).one()
        assert contract.monthly_total == 175_000 and contract.version == 1 and contract.effective_to is None
    assert _activities(app, admin.org.id) == ["service.created", "contract.signed"]
    listing = admin.get("/admin/services", headers=EN).get_data(as_text=True)
    assert "₩175,000" in listing


def test_the_live_estimate_prices_each_line_and_the_total(admin, app):
    _new(admin)
    response = admin.post("/admin/services/helpdesk/contract/estimate", headers={**EN, "HX-Request": "true",
                          "X-CSRFToken": csrf_token(admin, "/admin/services/helpdesk/contract")},
                          data={"use.base.seat": "on", "qty.base.seat": "3", "use.sms": "on", "qty.sms": "2",
                                "use.helpcenter": "on"})
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" not in html
    assert "₩60,000" in html and "₩18,000" in html and "₩50,000" in html
    assert 'id="estimate-total">₩128,000<' in html


@pytest.mark.parametrize("key", ["help desk", "desk2", "상담", "", "a" * 41, "help-desk"])
def test_a_bad_service_id_is_refused_in_place(admin, app, key):
    response = _new(admin, service_key=key)
    assert response.status_code == 422
    assert "A service ID is 1–40 ASCII letters" in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalars(select(Service)).first() is None


def test_a_service_id_already_used_is_refused(admin, app, make):
    make.service(admin.org, "helpdesk")
    response = _new(admin)
    assert response.status_code == 422
    assert "The service ID helpdesk is already used." in response.get_data(as_text=True)


def test_the_same_service_id_in_another_organization_is_fine(admin, make):
    make.service(make.org(), "helpdesk")
    assert _new(admin).status_code == 303


@pytest.mark.parametrize("overrides, message", [
    ({"languages": None, "default_language": None}, "Choose at least one help-center language."),
    ({"languages": ["ko", "xx"]}, "Unknown language code: xx."),
    ({"languages": ["ko"], "default_language": "en"}, "Mark exactly one of the chosen languages as the default."),
    ({"default_language": ["ko", "en"]}, "Mark exactly one of the chosen languages as the default."),
    ({"time_zone": "Mars/Olympus"}, "Unknown time zone: Mars/Olympus."),
    ({"name": "   "}, "This field is required."),
])
def test_bad_basic_info_is_refused_with_the_reason(admin, app, overrides, message):
    response = _new(admin, **overrides)
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalars(select(Service)).first() is None


def test_a_banner_is_checked_by_content_and_reencoded(admin, app):
    response = _new(admin, banner=(io.BytesIO(png_bytes((900, 300), fmt="JPEG")), "logo.jpg"))
    assert response.status_code == 303
    banner = admin.get("/admin/services/helpdesk/banner")
    assert banner.status_code == 200 and banner.mimetype == "image/png"
    from PIL import Image

    with Image.open(io.BytesIO(banner.data)) as image:
        assert image.format == "PNG" and max(image.size) == 512
    assert admin.get("/admin/services/helpdesk/banner", headers={"If-None-Match": banner.headers["ETag"]}).status_code == 304


@pytest.mark.parametrize("upload, message", [
    ((b"MZ\x90\x00" + b"\x00" * 200, "banner.png"), "The banner must be a PNG, JPEG, GIF or WebP image."),
    ((b"just some text", "banner.gif"), "The banner must be a PNG, JPEG, GIF or WebP image."),
    ((png_bytes(fmt="BMP"), "banner.png"), "The banner must be a PNG, JPEG, GIF or WebP image."),
    ((b"\x89PNG\r\n\x1a\n" + b"\x00" * (1024 * 1024), "big.png"), "The banner is larger than 1 MB."),
])
def test_a_bad_banner_is_refused_and_nothing_is_saved(admin, app, upload, message):
    data, name = upload
    response = _new(admin, banner=(io.BytesIO(data), name))
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalars(select(Service)).first() is None


def test_step_one_reports_every_refused_field_at_once(admin, app):
    response = _new(admin, name="", service_key="help desk", languages=[], time_zone="Mars/Olympus")
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    for message in ("A service ID is 1–40 ASCII letters (A–Z, a–z).", "Choose at least one help-center language.",
                    "Unknown time zone: Mars/Olympus."):
        assert message in page
    assert 'aria-invalid="true"' in re.search(r'<input[^>]*id="name"[^>]*>', page).group(0)  # and the name too
    with app.app_context():
        assert db.session.scalars(select(Service)).first() is None


def test_an_accepted_banner_is_kept_across_a_refused_submit(admin, app, make):
    from portal.models import StoredFile

    refused = _new(admin, service_key="taken one", banner=(io.BytesIO(png_bytes((64, 16))), "wide.png"))
    assert refused.status_code == 422
    page = refused.get_data(as_text=True)
    assert "wide.png is kept" in page
    pending = re.search(r'name="pending_banner" value="(\d+)"', page).group(1)

    other = make.org(domain="other")  # another organization's pending banner is never taken
    with app.app_context():
        foreign = StoredFile(organization_id=other.id, purpose="pending_banner", filename="x.png",
                             content_type="image/png", size=1, sha256="0" * 64, data=b"x")
        db.session.add(foreign)
        db.session.commit()
        foreign_id = foreign.id
    assert _new(admin, service_key="elsewhere", pending_banner=str(foreign_id)).status_code == 303
    assert _service(app, admin.org.id, "elsewhere").banner_file_id is None

    assert _new(admin, pending_banner=pending).status_code == 303
    service = _service(app, admin.org.id, "helpdesk")
    assert service.banner_file_id == int(pending)
    with app.app_context():
        assert db.session.get(StoredFile, int(pending)).purpose == "service_banner"
    assert admin.get("/admin/services/helpdesk/banner").status_code == 200


# -- contract ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("quantities, message", [
    ({"base.seat": -3}, "Enter a number from 1 to 10,000."),
    ({"base.seat": 99999999}, "Enter a number from 1 to 10,000."),
    ({"base.seat": "many"}, "Enter a whole number."),
    ({"base.seat": 2, "sms": 0}, "Enter a number from 1 to 100,000."),
])
def test_bad_quantities_are_refused_on_their_row(admin, app, quantities, message):
    _new(admin)
    response = _sign(admin, "helpdesk", quantities)
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert _service(app, admin.org.id, "helpdesk").status == ServiceStatus.draft


def _tomorrow_midnight(zone: str) -> str:
    return (datetime.now(ZoneInfo(zone)) + timedelta(days=1)).strftime("%Y-%m-%d 00:00")


@pytest.mark.parametrize("zone", ["UTC", "Asia/Seoul", "America/New_York"])
def test_registering_is_not_a_modification_and_a_second_modification_the_same_day_is_refused(admin, app, zone):
    _new(admin, time_zone=zone)
    assert _sign(admin, "helpdesk", {"base.seat": 2}).status_code == 303  # registered (등록)
    page = admin.get("/admin/services/helpdesk/contract", headers=EN).get_data(as_text=True)
    assert "alert-warn" not in page and "is possible from" not in page  # still modifiable today
    assert "a contract registered today can still be modified once today" in page
    assert _sign(admin, "helpdesk", {"base.seat": 3}, base_version="1").status_code == 303  # modified (수정)

    # The notice and the refusal name the same moment: the next midnight where the service is, zone named.
    when = f"The next modification is possible from {_tomorrow_midnight(zone)} ({zone})."
    page = admin.get("/admin/services/helpdesk/contract", headers=EN).get_data(as_text=True)
    assert when in page
    response = _sign(admin, "helpdesk", {"base.seat": 4}, base_version="2")
    assert response.status_code == 409
    assert when in response.get_data(as_text=True)
    assert response.get_data(as_text=True).count(when) == 1  # said once, not as notice and refusal both
    with app.app_context():
        versions = db.session.scalars(select(Contract).order_by(Contract.version)).all()
        assert [(v.version, v.monthly_total, v.effective_to) for v in versions] == [
            (1, 40_000, versions[1].effective_from), (2, 60_000, None)]  # the registration was in force no day


def test_a_contract_registered_and_modified_the_same_day_bills_the_modification(app, make):
    from portal.services.billing import charge_for_month, days_in_month, first_of_month, spans_of

    org = make.org()
    service = make.service(org, "desk", status=ServiceStatus.draft)
    with app.app_context():
        s = db.session.get(Service, service.id)
        v1 = sign_contract(Actor(org.id, None), s, {"base.seat": 2}, base_version=None)
        sign_contract(Actor(org.id, None), s, {"base.seat": 3}, base_version=v1.version)
        db.session.commit()
        month = first_of_month(v1.effective_from)
        charge = charge_for_month(spans_of(s.id), month, through=v1.effective_from)
        assert charge.billed_days == 1
        assert charge.amount == round(60_000 / days_in_month(month))  # the modification's price, for its one day


def test_a_change_on_a_later_day_keeps_every_version_for_billing(admin, app):
    _new(admin)
    service = _service(app, admin.org.id, "helpdesk")
    with app.app_context():
        s = db.session.get(Service, service.id)
        sign_contract(Actor(admin.org.id, None), s, {"base.seat": 2}, base_version=None,
                      now=datetime.now(timezone.utc) - timedelta(days=3))
        db.session.commit()
    page = admin.get("/admin/services/helpdesk/contract", headers=EN)
    assert "alert-warn" not in page.get_data(as_text=True)
    difference = admin.post("/admin/services/helpdesk/contract/estimate", headers={
        **EN, "X-CSRFToken": csrf_token(admin, "/admin/services/helpdesk/contract")},
        data={"use.base.seat": "on", "qty.base.seat": "5"}).get_data(as_text=True)
    assert 'id="estimate-difference">+₩60,000<' in difference
    assert _sign(admin, "helpdesk", {"base.seat": 5}, base_version="1").status_code == 303
    with app.app_context():
        versions = db.session.scalars(select(Contract).order_by(Contract.version)).all()
        assert [(v.version, v.monthly_total) for v in versions] == [(1, 40_000), (2, 100_000)]
        assert versions[0].effective_to == versions[1].effective_from


def test_a_stale_contract_form_is_refused(admin, app):
    _new(admin)
    service = _service(app, admin.org.id, "helpdesk")
    with app.app_context():
        s = db.session.get(Service, service.id)
        sign_contract(Actor(admin.org.id, None), s, {"base.seat": 2}, base_version=None,
                      now=datetime.now(timezone.utc) - timedelta(days=3))
        db.session.commit()
    response = _sign(admin, "helpdesk", {"base.seat": 9}, base_version="")  # opened while it was a draft
    assert response.status_code == 409
    assert "The contract changed after you opened this page" in response.get_data(as_text=True)


def test_two_concurrent_contract_changes_cannot_both_pass(app, make):
    org = make.org()
    service = make.service(org, "race", status=ServiceStatus.draft)
    barrier = threading.Barrier(2)
    outcomes = []

    def change(seats):
        with app.test_request_context():
            s = db.session.get(Service, service.id)
            s.languages  # read before the race, like a request that rendered the page
            barrier.wait()
            try:
                sign_contract(Actor(org.id, None), s, {"base.seat": seats}, base_version=None)
                db.session.commit()
                outcomes.append("signed")
            except ServiceError as exc:
                db.session.rollback()
                outcomes.append(exc.code)
            finally:
                db.session.remove()

    run_together(change, (2,), (3,), barrier=barrier)
    assert sorted(outcomes) == ["signed", "stale"]  # the other registered first: this page is out of date
    with app.app_context():
        assert len(db.session.scalars(select(Contract).filter_by(service_id=service.id)).all()) == 1


def test_two_concurrent_modifications_the_same_day_cannot_both_pass(app, make):
    org = make.org()
    service = make.service(org, "race", status=ServiceStatus.draft)
    with app.app_context():
        sign_contract(Actor(org.id, None), db.session.get(Service, service.id), {"base.seat": 1}, base_version=None,
                      now=datetime.now(timezone.utc) - timedelta(days=3))
        db.session.commit()
    barrier = threading.Barrier(2)
    outcomes = []

    def change(seats):
        with app.test_request_context():
            s = db.session.get(Service, service.id)
            s.languages
            barrier.wait()
            try:
                sign_contract(Actor(org.id, None), s, {"base.seat": seats}, base_version=1)
                db.session.commit()
                outcomes.append("signed")
            except ServiceError as exc:
                db.session.rollback()
                outcomes.append(exc.code)
            finally:
                db.session.remove()

    run_together(change, (2,), (3,), barrier=barrier)
    assert sorted(outcomes) == ["once_a_day", "signed"]
    with app.app_context():
        assert len(db.session.scalars(select(Contract).filter_by(service_id=service.id)).all()) == 2


# -- status and termination ---------------------------------------------------------------------------------

def test_the_status_toggle_re_renders_its_row(admin, app, make):
    make.service(admin.org, "desk", name="Desk")
    token = csrf_token(admin, "/admin/services")
    response = admin.post("/admin/services/desk/status", data={"to": "suspended"},
                          headers={**EN, "HX-Request": "true", "X-CSRFToken": token})
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and html.lstrip().startswith('<tr id="service-desk"')
    assert 'aria-checked="false"' in html
    assert _service(app, admin.org.id, "desk").status == ServiceStatus.suspended
    again = admin.post("/admin/services/desk/status", data={"to": "suspended"},
                       headers={**EN, "HX-Request": "true", "X-CSRFToken": token})
    assert again.status_code == 200  # a double click changes nothing
    assert _activities(app, admin.org.id) == ["service.suspended"]


def test_the_status_toggle_works_without_javascript(admin, app, make):
    make.service(admin.org, "desk", name="Desk", status=ServiceStatus.suspended)
    response = admin.post("/admin/services/desk/status", data={"to": "active", "csrf_token": csrf_token(admin, "/admin/services")})
    assert response.status_code == 303
    assert _service(app, admin.org.id, "desk").status == ServiceStatus.active


@pytest.mark.parametrize("status", [ServiceStatus.draft, ServiceStatus.terminated])
def test_draft_and_terminated_services_cannot_be_toggled(admin, app, make, status):
    make.service(admin.org, "desk", status=status)
    response = admin.post("/admin/services/desk/status", data={"to": "active"},
                          headers={**EN, "HX-Request": "true", "X-CSRFToken": csrf_token(admin, "/admin/services")})
    assert response.status_code == 409
    assert _service(app, admin.org.id, "desk").status == status


def test_an_active_service_cannot_be_terminated(admin, app, make):
    make.service(admin.org, "desk", name="Desk")
    response = admin.post("/admin/services/desk/terminate", headers=EN,
                          data={"csrf_token": csrf_token(admin, "/admin/services"), "confirm_key": "desk"})
    assert response.status_code == 422
    assert "Suspend Desk before terminating it." in response.get_data(as_text=True)
    assert _service(app, admin.org.id, "desk").status == ServiceStatus.active


def test_termination_needs_the_service_id_typed_and_then_makes_it_read_only(admin, app, make):
    make.service(admin.org, "desk", name="Desk", status=ServiceStatus.suspended)
    page = admin.get("/admin/services/desk/terminate", headers={**EN, "HX-Request": "true"})
    assert "Terminate Desk?" in page.get_data(as_text=True) and "<html" not in page.get_data(as_text=True)
    token = csrf_token(admin, "/admin/services")
    wrong = admin.post("/admin/services/desk/terminate", headers=EN, data={"csrf_token": token, "confirm_key": "Desk"})
    assert wrong.status_code == 422 and _service(app, admin.org.id, "desk").status == ServiceStatus.suspended
    done = admin.post("/admin/services/desk/terminate", headers=EN, data={"csrf_token": token, "confirm_key": "desk"})
    assert done.status_code == 303
    service = _service(app, admin.org.id, "desk")
    assert service.status == ServiceStatus.terminated and service.terminated_on is not None
    edit = admin.post("/admin/services/desk/edit", headers=EN, data={
        "csrf_token": token, "type": "counseling", "name": "Renamed", "languages": ["ko"], "default_language": "ko",
        "time_zone": "Asia/Seoul", "editor_type": "HTML", "revision": str(service.revision)})
    assert edit.status_code == 409 and _service(app, admin.org.id, "desk").name == "Desk"
    assert _sign(admin, "desk", {"base.seat": 2}).status_code == 409
    again = admin.post("/admin/services/desk/terminate", headers=EN, data={"csrf_token": token, "confirm_key": "desk"})
    assert again.status_code == 409
    assert _activities(app, admin.org.id) == ["service.terminated"]


# -- basic-info edit ----------------------------------------------------------------------------------------

def test_basic_info_edit_changes_everything_but_the_id(admin, app, make):
    service = make.service(admin.org, "desk", name="Desk", languages=("ko",))
    response = admin.post("/admin/services/desk/edit", headers=EN, content_type="multipart/form-data", data={
        "csrf_token": csrf_token(admin, "/admin/services"), "type": "issue", "name": "Bug Desk",
        "service_key": "hijack", "languages": ["ko", "ja"], "default_language": "ja", "time_zone": "Asia/Tokyo",
        "editor_type": "TEXT", "revision": str(service.revision)})
    assert response.status_code == 303
    edited = _service(app, admin.org.id, "desk")
    assert (edited.name, edited.type.value, edited.time_zone, edited.editor_type.value, edited.default_language) == (
        "Bug Desk", "issue", "Asia/Tokyo", "TEXT", "ja")
    assert _service(app, admin.org.id, "hijack") is None
    with app.app_context():
        trail = db.session.scalars(select(Activity)).one()
        assert trail.action == "service.updated" and trail.details["name"] == {"from": "Desk", "to": "Bug Desk"}


def test_a_stale_basic_info_form_is_refused(admin, app, make):
    make.service(admin.org, "desk", name="Desk")
    data = {"csrf_token": csrf_token(admin, "/admin/services"), "type": "counseling", "languages": ["ko"],
            "default_language": "ko", "time_zone": "Asia/Seoul", "editor_type": "HTML", "revision": "1"}
    assert admin.post("/admin/services/desk/edit", data={**data, "name": "First"}).status_code == 303
    stale = admin.post("/admin/services/desk/edit", data={**data, "name": "Second"}, headers=EN)
    assert stale.status_code == 409
    assert "Someone changed this service after you opened the form" in stale.get_data(as_text=True)
    assert _service(app, admin.org.id, "desk").name == "First"


# -- list ---------------------------------------------------------------------------------------------------

def test_the_list_is_sorted_by_name_and_filters_by_type_and_status(admin, make):
    make.service(admin.org, "zeta", name="Zeta")
    make.service(admin.org, "alpha", name="alpha", status=ServiceStatus.suspended)
    make.service(admin.org, "mid", name="Mid", status=ServiceStatus.draft)
    html = admin.get("/admin/services").get_data(as_text=True)
    assert html.index('id="service-alpha"') < html.index('id="service-mid"') < html.index('id="service-zeta"')
    suspended = admin.get("/admin/services?status=suspended").get_data(as_text=True)
    assert 'id="service-alpha"' in suspended and 'id="service-zeta"' not in suspended
    assert 'id="service-' not in admin.get("/admin/services?type=issue").get_data(as_text=True)


# -- billing ------------------------------------------------------------------------------------------------

def _billed(app, org, make, key="desk", seats=31, days_ago=70):
    service = make.service(org, key, name=key.title())
    with app.app_context():
        s = db.session.get(Service, service.id)
        sign_contract(Actor(org.id, None), s, {"base.seat": seats}, base_version=None,
                      now=datetime.now(timezone.utc) - timedelta(days=days_ago))
        db.session.commit()
    return service


def test_billing_shows_the_months_and_exports_exactly_the_rows_shown(admin, app, make):
    _billed(app, admin.org, make)
    _billed(app, admin.org, make, key="other", seats=3)
    page = admin.get("/admin/billing?scope=service:desk", headers=EN)
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "<svg" in html and "rect" in html and "Current status" in html
    shown = html.count("<tr>") - 1  # header row
    export = admin.get("/admin/billing.xlsx?scope=service:desk")
    assert export.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    sheet = load_workbook(io.BytesIO(export.data), read_only=True).worksheets[0]
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][0] in ("Month", "월")
    data_rows = rows[1:-1]
    assert len(data_rows) == shown and all(r[2] == "desk" for r in data_rows)
    assert rows[-1][6] == sum(r[6] for r in data_rows)


@pytest.mark.parametrize("query", ["start=2026-13", "start=yesterday", "start=2026-06&end=2026-01", "start=2020-01&end=2026-01"])
def test_bad_billing_ranges_get_a_message(admin, query):
    response = admin.get(f"/admin/billing?{query}", headers=EN)
    assert response.status_code == 400
    assert "alert-error" in response.get_data(as_text=True)


def test_billing_of_another_organizations_service_is_not_found(admin, make):
    make.service(make.org(), "theirs")
    assert admin.get("/admin/billing?scope=service:theirs").status_code == 404


# -- organization info ------------------------------------------------------------------------------------

def test_org_admin_renames_the_organization_and_the_oc_url_follows(admin, app):
    response = admin.post("/admin/organization", data={"csrf_token": csrf_token(admin, "/admin/organization"),
                                                       "name": "Acme Korea", "domain": "acme-kr"})
    assert response.status_code == 303
    page = admin.get("/admin/organization").get_data(as_text=True)
    assert "https://acme-kr.localhost" in page
    assert _activities(app, admin.org.id) == ["organization.updated"]


@pytest.mark.parametrize("domain, message", [("Bad Domain", "A domain is 1–63"), ("taken", "already taken"), ("-x", "A domain is 1–63")])
def test_a_bad_or_taken_domain_is_refused(admin, app, make, domain, message):
    make.org(domain="taken")
    response = admin.post("/admin/organization", headers=EN, data={
        "csrf_token": csrf_token(admin, "/admin/organization"), "name": "Acme", "domain": domain})
    assert response.status_code == 422 and message in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(Organization, admin.org.id).domain == "acme"


def test_a_new_api_key_is_shown_once_and_the_old_one_stops_at_once(admin, app):
    token = csrf_token(admin, "/admin/organization")
    refused = admin.post("/admin/organization/api-key", data={"csrf_token": token}, headers=EN)
    assert refused.status_code == 422
    first = admin.post("/admin/organization/api-key", data={"csrf_token": token, "confirm": "y"})
    old_key = first.get_data(as_text=True).split('id="new-api-key" type="text" readonly value="')[1].split('"')[0]
    assert old_key.startswith("oc_") and first.headers["Cache-Control"] == "no-store"
    second = admin.post("/admin/organization/api-key", data={"csrf_token": token, "confirm": "y"})
    new_key = second.get_data(as_text=True).split('readonly value="')[1].split('"')[0]
    page = admin.get("/admin/organization").get_data(as_text=True)
    assert new_key not in page and old_key not in page and new_key[:8] + "•" in page
    with app.app_context():
        assert organization_for_api_key(old_key) is None
        assert organization_for_api_key(new_key).id == admin.org.id
        org = db.session.get(Organization, admin.org.id)
        assert new_key not in (org.api_key_hash or "")
    assert _activities(app, admin.org.id) == ["organization.api_key_rotated"] * 2


def test_two_concurrent_toggles_record_one_change(app, make):
    from portal.services.contracts import set_status

    org = make.org()
    service = make.service(org, "flip")
    barrier = threading.Barrier(2)

    def toggle():
        with app.test_request_context():
            s = db.session.get(Service, service.id)
            s.status  # both read "active" before either writes
            barrier.wait()
            set_status(Actor(org.id, None), s, ServiceStatus.suspended)
            db.session.commit()
            db.session.remove()

    run_together(toggle, (), (), barrier=barrier)
    with app.app_context():
        assert db.session.get(Service, service.id).status == ServiceStatus.suspended
        assert [a.action for a in db.session.scalars(select(Activity))] == ["service.suspended"]
