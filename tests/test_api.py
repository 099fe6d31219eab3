"""The Open API: services and contracts through the organization key, with the UI's rules and messages,
problem documents, idempotency, rate limits, key rotation with grace, and isolation between organizations."""
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import Organization, Service
from portal.models.base import utcnow
from portal.services import Actor, ServiceError
from portal.services.organizations import rotate_api_key

NEW = {"service_id": "helpdesk", "name": "Help Desk", "type": "counseling", "languages": ["ko", "en"],
       "default_language": "ko", "time_zone": "Asia/Seoul"}
QUANTITIES = {"base.seat": 3}


@pytest.fixture
def keys(make, app):
    acme, other = make.org(domain="acme"), make.org(domain="other")
    with app.app_context():
        keys = {name: rotate_api_key(Actor(org.id, None), db.session.get(Organization, org.id))
                for name, org in (("acme", acme), ("other", other))}
        db.session.commit()
    return {**keys, "acme_org": acme, "other_org": other}


def call(client, key, method, path, json=None, **headers):
    return client.open(f"/api/v1{path}", method=method, json=json,
                       headers={"Authorization": f"Bearer {key}", "Accept-Language": "en", **headers})


def test_a_service_from_creation_to_termination(client, keys, app):
    key = keys["acme"]
    created = call(client, key, "POST", "/services", NEW)
    assert created.status_code == 201 and created.headers["Location"].endswith("/api/v1/services/helpdesk")
    assert created.json["status"] == "draft" and created.json["languages"] == ["ko", "en"]
    estimate = call(client, key, "POST", "/services/helpdesk/contract/estimate", {"quantities": QUANTITIES})
    assert estimate.status_code == 200 and estimate.json["total"] > 0 and estimate.json["difference"] is None
    signed = call(client, key, "PUT", "/services/helpdesk/contract", {"quantities": QUANTITIES, "base_version": None})
    assert signed.status_code == 200 and signed.json["version"] == 1
    assert call(client, key, "GET", "/services/helpdesk/contract").json["next_change_at"] is None  # 등록 ≠ 수정
    changed = call(client, key, "PUT", "/services/helpdesk/contract", {"quantities": {"base.seat": 4}, "base_version": 1})
    assert changed.status_code == 200 and changed.json["version"] == 2
    again = call(client, key, "PUT", "/services/helpdesk/contract", {"quantities": {"base.seat": 5}, "base_version": 2})
    assert again.status_code == 409 and again.json["code"] == "once_a_day"
    assert again.mimetype == "application/problem+json" and again.json["status"] == 409
    contract = call(client, key, "GET", "/services/helpdesk/contract").json
    assert contract["current"]["version"] == 2 and contract["next_change_at"] is not None
    assert call(client, key, "GET", "/services/helpdesk").json["status"] == "active"
    assert call(client, key, "POST", "/services/helpdesk/suspend").json["status"] == "suspended"
    assert call(client, key, "POST", "/services/helpdesk/resume").json["status"] == "active"
    refused = call(client, key, "POST", "/services/helpdesk/terminate", {"confirm_service_id": "helpdesk"})
    assert refused.status_code == 409 and refused.json["code"] == "not_suspended"
    call(client, key, "POST", "/services/helpdesk/suspend")
    wrong = call(client, key, "POST", "/services/helpdesk/terminate", {"confirm_service_id": "nope"})
    assert wrong.status_code == 422 and wrong.json["code"] == "confirm"
    ended = call(client, key, "POST", "/services/helpdesk/terminate", {"confirm_service_id": "helpdesk"})
    assert ended.status_code == 200 and ended.json["status"] == "terminated" and ended.json["terminated_on"]
    late = call(client, key, "POST", "/services/helpdesk/resume")
    assert late.status_code == 409 and late.json["code"] == "terminated"


def test_updates_follow_the_edit_pages_rules(client, keys):
    key = keys["acme"]
    revision = call(client, key, "POST", "/services", NEW).json["revision"]
    body = {k: v for k, v in NEW.items() if k != "service_id"} | {"name": "Help Desk 2", "revision": revision}
    assert call(client, key, "PATCH", "/services/helpdesk", body).json["name"] == "Help Desk 2"
    stale = call(client, key, "PATCH", "/services/helpdesk", body | {"name": "Late"})
    assert stale.status_code == 409 and stale.json["code"] == "stale"


@pytest.mark.parametrize("change, code, status", [
    ({"name": " "}, "bad_name", 422),
    ({"service_id": "help-desk"}, "bad_service_key", 422),
    ({"languages": ["xx"], "default_language": "xx"}, "bad_language", 422),
    ({"default_language": "ja"}, "bad_default_language", 422),
    ({"time_zone": "Mars/Olympus"}, "bad_time_zone", 422),
    ({"type": "party"}, "invalid_request", 422),
    ({"languages": "ko"}, "invalid_request", 422),
])
def test_bad_input_gets_the_uis_rules_as_problem_documents(client, keys, app, change, code, status):
    response = call(client, keys["acme"], "POST", "/services", NEW | change)
    assert response.status_code == status and response.json["code"] == code
    assert response.mimetype == "application/problem+json"
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Service)) == 0


def test_messages_follow_accept_language(client, keys):
    korean = call(client, keys["acme"], "POST", "/services", NEW | {"name": ""}, **{"Accept-Language": "ko"})
    assert korean.json["detail"] == "서비스 명을 입력하세요."
    english = call(client, keys["acme"], "POST", "/services", NEW | {"name": ""})
    assert english.json["detail"] == "Enter the service name."


def test_a_missing_field_and_a_broken_body(client, keys):
    missing = call(client, keys["acme"], "POST", "/services", {"name": "x"})
    assert missing.status_code == 422 and "service_id" in missing.json["errors"]["json"]
    broken = client.post("/api/v1/services", data="{nope", headers={"Authorization": f"Bearer {keys['acme']}",
                                                                   "Content-Type": "application/json"})
    assert broken.status_code == 400 and broken.json["code"] == "malformed_json"
    assert call(client, keys["acme"], "GET", "/services/nosuch").json["code"] == "not_found"


def test_listing_filters_and_pages_with_a_cursor(client, keys):
    for n, kind in enumerate(["counseling", "issue", "counseling", "issue", "counseling"]):
        call(client, keys["acme"], "POST", "/services", NEW | {"service_id": f"desk{'abcde'[n]}", "name": f"Desk {n}",
                                                              "type": kind})
    first = call(client, keys["acme"], "GET", "/services?limit=2").json
    second = call(client, keys["acme"], "GET", f"/services?limit=2&cursor={first['next_cursor']}").json
    third = call(client, keys["acme"], "GET", f"/services?limit=2&cursor={second['next_cursor']}").json
    seen = [s["service_id"] for page in (first, second, third) for s in page["items"]]
    assert sorted(seen) == ["deska", "deskb", "deskc", "deskd", "deske"] and third["next_cursor"] is None
    issues = call(client, keys["acme"], "GET", "/services?type=issue").json["items"]
    assert {s["service_id"] for s in issues} == {"deskb", "deskd"}
    assert call(client, keys["acme"], "GET", "/services?q=DESK 3").json["items"][0]["service_id"] == "deskd"
    assert call(client, keys["acme"], "GET", "/services?cursor=garbage").json["code"] == "bad_cursor"
    assert call(client, keys["acme"], "GET", "/services?limit=0").status_code == 422


def test_another_organizations_key_never_sees_or_changes_this_one(client, keys, app):
    call(client, keys["acme"], "POST", "/services", NEW)
    theirs = keys["other"]
    assert call(client, theirs, "GET", "/services").json["items"] == []
    for method, path, body in (("GET", "/services/helpdesk", None), ("POST", "/services/helpdesk/suspend", None),
                               ("GET", "/services/helpdesk/contract", None),
                               ("PUT", "/services/helpdesk/contract", {"quantities": QUANTITIES, "base_version": None}),
                               ("POST", "/services/helpdesk/terminate", {"confirm_service_id": "helpdesk"}),
                               ("GET", "/charges?from=2026-01&to=2026-02&service_id=helpdesk", None),
                               ("GET", "/permission-log?service_id=helpdesk", None)):
        response = call(client, theirs, method, path, body)
        assert response.status_code == 404, (method, path)
        assert b"Help Desk" not in response.data
    # The same service ID is free for the other organization.
    assert call(client, theirs, "POST", "/services", NEW).status_code == 201
    with app.app_context():
        acme = db.session.scalars(select(Service).where(Service.organization_id == keys["acme_org"].id)).one()
        assert acme.status.value == "draft"


def test_idempotency_key_replays_the_first_answer_and_does_nothing_again(client, keys, app):
    first = call(client, keys["acme"], "POST", "/services", NEW, **{"Idempotency-Key": "create-1"})
    again = call(client, keys["acme"], "POST", "/services", NEW, **{"Idempotency-Key": "create-1"})
    assert first.status_code == again.status_code == 201 and first.json == again.json
    assert again.headers["Idempotent-Replayed"] == "true" and again.headers["Location"] == first.headers["Location"]
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Service)) == 1
    other_body = call(client, keys["acme"], "POST", "/services", NEW | {"service_id": "other"},
                      **{"Idempotency-Key": "create-1"})
    assert other_body.status_code == 422 and other_body.json["code"] == "idempotency_key_reused"
    # A refused request is not stored: fixed and sent again with the same key, it runs.
    bad = call(client, keys["acme"], "POST", "/services", NEW | {"service_id": "second", "name": ""},
               **{"Idempotency-Key": "create-2"})
    assert bad.status_code == 422
    good = call(client, keys["acme"], "POST", "/services", NEW | {"service_id": "second"}, **{"Idempotency-Key": "create-2"})
    assert good.status_code == 201 and "Idempotent-Replayed" not in good.headers
    # Keys belong to one organization.
    theirs = call(client, keys["other"], "POST", "/services", NEW, **{"Idempotency-Key": "create-1"})
    assert theirs.status_code == 201 and "Idempotent-Replayed" not in theirs.headers
    assert call(client, keys["acme"], "POST", "/services", NEW, **{"Idempotency-Key": "x" * 101}).status_code == 400


def test_a_repeated_contract_change_with_the_same_key_is_not_a_second_change(client, keys):
    call(client, keys["acme"], "POST", "/services", NEW)
    body = {"quantities": QUANTITIES, "base_version": None}
    first = call(client, keys["acme"], "PUT", "/services/helpdesk/contract", body)
    assert first.status_code == 200
    call(client, keys["acme"], "POST", "/services/helpdesk/suspend", **{"Idempotency-Key": "s1"})
    call(client, keys["acme"], "POST", "/services/helpdesk/resume")
    replay = call(client, keys["acme"], "POST", "/services/helpdesk/suspend", **{"Idempotency-Key": "s1"})
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert call(client, keys["acme"], "GET", "/services/helpdesk").json["status"] == "active"  # not suspended again


def test_the_rate_limit_is_per_key_with_ratelimit_headers(client, keys, app, monkeypatch):
    monkeypatch.setitem(app.config, "API_RATE_LIMIT", "3 per minute")
    answers = [call(client, keys["acme"], "GET", "/services") for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert answers[0].headers["RateLimit-Limit"] == "3" and answers[1].headers["RateLimit-Remaining"] == "1"
    assert answers[3].json["code"] == "rate_limited" and int(answers[3].headers["Retry-After"]) > 0
    assert call(client, keys["other"], "GET", "/services").status_code == 200  # another key, another bucket


def test_rotation_with_a_grace_period_keeps_the_old_key_working_until_it_ends(client, keys, app):
    old = keys["acme"]
    with app.app_context():
        org = db.session.get(Organization, keys["acme_org"].id)
        new = rotate_api_key(Actor(org.id, None), org, grace_hours=1)
        db.session.commit()
    assert call(client, old, "GET", "/services").status_code == 200
    assert call(client, new, "GET", "/services").status_code == 200
    with app.app_context():
        org = db.session.get(Organization, keys["acme_org"].id)
        org.api_key_previous_until = utcnow() - timedelta(seconds=1)
        db.session.commit()
    assert call(client, old, "GET", "/services").status_code == 401
    with app.app_context():
        org = db.session.get(Organization, keys["acme_org"].id)
        newest = rotate_api_key(Actor(org.id, None), org)  # at once: every earlier key stops
        db.session.commit()
        assert org.api_key_previous_hash is None
    assert call(client, new, "GET", "/services").status_code == 401
    assert call(client, newest, "GET", "/services").status_code == 200
    with app.app_context():
        with pytest.raises(ServiceError):
            rotate_api_key(Actor(org.id, None), db.session.get(Organization, org.id), grace_hours=48)


def test_the_organization_page_rotates_with_grace_and_shows_the_last_use(client, keys, app, make, login_as):
    from tests.conftest import csrf_token

    admin = login_as(make.admin_of(keys["acme_org"]))
    page = admin.get("/admin/organization", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "Not used yet" in page
    call(client, keys["acme"], "GET", "/services")
    assert "Last used" in admin.get("/admin/organization", headers={"Accept-Language": "en"}).get_data(as_text=True)
    dialog = admin.get("/admin/organization/api-key", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "After 24 hours" in dialog and "At once" in dialog
    token = csrf_token(admin, "/admin/organization")
    bad = admin.post("/admin/organization/api-key", headers={"Accept-Language": "en"},
                     data={"csrf_token": token, "confirm": "y", "grace": "48"})
    assert bad.status_code == 422 and "at once or after 1, 6 or 24 hours" in bad.get_data(as_text=True)
    shown = admin.post("/admin/organization/api-key", data={"csrf_token": token, "confirm": "y", "grace": "6"})
    assert shown.status_code == 200
    assert call(client, keys["acme"], "GET", "/services").status_code == 200  # the old key, for 6 more hours
    page = admin.get("/admin/organization", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "The previous key works until" in page


def test_reports_charges_batches_and_permission_log(client, keys):
    key = keys["acme"]
    call(client, key, "POST", "/services", NEW)
    call(client, key, "PUT", "/services/helpdesk/contract", {"quantities": QUANTITIES, "base_version": None})
    month = f"{utcnow():%Y-%m}"
    charges = call(client, key, "GET", f"/charges?from={month}&to={month}").json
    assert charges["items"][0]["service_id"] == "helpdesk" and charges["total"] == charges["items"][0]["amount"]
    for query, code in (("from=2026-13&to=2026-14", "bad_month"), ("from=2026-05&to=2026-01", "reversed_range"),
                        ("from=2020-01&to=2026-01", "range_too_long"), ("from=2026&to=2026-01", "invalid_request")):
        response = call(client, key, "GET", f"/charges?{query}")
        assert response.status_code == 422 and response.json["code"] == code, query
    assert call(client, key, "GET", "/migration-batches").json == {"items": []}
    assert call(client, key, "GET", "/migration-batches/12345").status_code == 404
    log = call(client, key, "GET", "/permission-log")
    assert log.status_code == 200 and log.json["next_cursor"] is None
    reversed_ = call(client, key, "GET", "/permission-log?start=2026-05-01T00:00:00Z&end=2026-04-01T00:00:00Z")
    assert reversed_.status_code == 422 and reversed_.json["code"] == "reversed_range"
    assert call(client, key, "GET", "/permission-log?operation=teleport").json["code"] == "bad_operation"


def test_the_document_and_the_docs_page(client):
    spec = client.get("/api/v1/openapi.json").json
    assert spec["openapi"].startswith("3.") and "/api/v1/services/{service_id}/terminate" in spec["paths"]
    assert spec["components"]["securitySchemes"]["orgKey"]["scheme"] == "bearer"
    assert "/api/v1/cti/events" in spec["paths"]  # the CTI ingest is in the same document
    page = client.get("/api/v1/docs", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "<h1>" in page and "/api/v1/services/{service_id}/terminate" in page and 'id="schema-Service"' in page


def test_the_example_script_runs_a_service_through_its_life(app, keys):
    """examples/api_service_lifecycle.py against a real HTTP server."""
    import os
    import subprocess
    import sys
    import threading
    from pathlib import Path

    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        script = Path(__file__).resolve().parent.parent / "examples" / "api_service_lifecycle.py"
        done = subprocess.run([sys.executable, str(script), "exampledesk"], capture_output=True, text=True, timeout=60,
                              env={**os.environ, "PORTAL_URL": f"http://127.0.0.1:{server.server_port}",
                                   "PORTAL_API_KEY": keys["acme"]})
    finally:
        server.shutdown()
    assert done.returncode == 0, done.stdout + done.stderr
    assert "created exampledesk (draft)" in done.stdout and "status: terminated" in done.stdout
    with app.app_context():
        service = db.session.scalars(select(Service).filter_by(service_key="exampledesk")).one()
        assert service.status.value == "terminated"
