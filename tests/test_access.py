"""Every route, by the access table: anonymous, a lower role, and another organization."""
import pytest

from tests.access_table import ACCESS, Rule
from tests.conftest import csrf_token

SECRET = "Zyxwvut"  # a marker in organization A's names that organization B must never see


@pytest.fixture
def world(make):
    """Organization A with a service and one member per role; organization B with its own admin and manager."""
    a = make.org(domain="alpha", name=f"Alpha {SECRET} Org")
    service = make.service(a, "desk", name=f"Desk {SECRET}", banner=True)
    manager = make.member(a, "mgr", name=f"Manager {SECRET}")
    agent = make.member(a, "agt", name=f"Agent {SECRET}")
    outsider = make.member(a, "plain", name=f"Plain {SECRET}")
    make.place(service, manager, "manager")
    make.place(service, agent, "agent")

    b = make.org(domain="beta", name="Beta Org")
    b_service = make.service(b, "other", name="Beta Service")
    b_manager = make.member(b, "bmgr", name="Beta Manager")
    b_agent = make.member(b, "bagt", name="Beta Agent")
    make.place(b_service, b_manager, "manager")
    make.place(b_service, b_agent, "agent")
    batch, field, custom_field, company = _migration_world(make.app, a, service)
    return {
        "service": service.service_key, "batch": batch, "field": field, "custom_field": custom_field,
        "company": company,
        "a": {"admin": make.admin_of(a), "manager": manager, "agent": agent, "member": outsider},
        "b": {"admin": make.admin_of(b), "manager": b_manager, "agent": b_agent},
    }


def _migration_world(app, org, service):
    """A CTI contract, a failed migration batch with an error report, a system and a custom ticket field."""
    from portal.extensions import db
    from portal.models import BatchStatus, MigrationBatch, Service
    from portal.services import Actor, ticket_fields
    from portal.services.storage import store

    with app.app_context():
        svc = db.session.get(Service, service.id)
        fields = ticket_fields.fields_of(svc)
        custom = ticket_fields.add_custom_field(Actor(org.id, None), svc, key="mood", type="text", label_ko="기분",
                                                label_en="Mood")
        from portal.services.contracts import sign_contract

        sign_contract(Actor(org.id, None), svc, {"base.seat": 2, "ticket.phone_cti": 2}, base_version=None)
        upload = store(org.id, purpose="migration_upload", filename="f.xlsx", content_type="x", data=b"x")
        report = store(org.id, purpose="migration_errors", filename="e.xlsx", content_type="x", data=b"e")
        batch = MigrationBatch(organization_id=org.id, service_id=svc.id, file_id=upload.id, filename=f"f {SECRET}.xlsx",
                               status=BatchStatus.check_failed, error_report_file_id=report.id)
        db.session.add(batch)
        db.session.commit()
        from portal.models import CompanyInfo

        company = CompanyInfo(organization_id=org.id, title=f"Info {SECRET}", language="ko", company_name="A Corp")
        db.session.add(company)
        db.session.commit()
        return batch.id, fields[0].id, custom.id, company.id


def call(client, rule: Rule, world: dict, **headers):
    names = {"service": world["service"], "member": world["a"]["member"].id, "agent": world["a"]["agent"].id,
             "batch": world["batch"], "field": world["field"], "custom_field": world["custom_field"],
             "company": world["company"],
             "token": "not-a-real-token"}
    path = rule.path.format(**names)
    if rule.method == "GET":
        return client.get(path, headers=headers)
    data = {k: v.format(**names) for k, v in rule.data.items()}
    data["csrf_token"] = csrf_token(client)
    return client.open(path, method=rule.method, data=data, headers=headers)


def test_every_endpoint_is_in_the_access_table(app):
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()}
    assert endpoints - set(ACCESS) == set(), "add these endpoints to tests/access_table.py"
    assert set(ACCESS) - endpoints == set(), "these endpoints no longer exist"


def test_every_view_declares_the_level_the_table_expects(app):
    for endpoint, rule in ACCESS.items():
        if endpoint == "static":
            continue
        declared = getattr(app.view_functions[endpoint], "access_level", None)
        assert declared == rule.level, f"{endpoint} declares {declared}, table says {rule.level}"


@pytest.mark.parametrize("endpoint", sorted(ACCESS))
def test_anonymous_visitors_are_sent_to_log_in(endpoint, client, world):
    rule = ACCESS[endpoint]
    response = call(client, rule, world)
    if rule.level == "public":
        assert response.status_code < 500
        assert not response.headers.get("Location", "").startswith("/login")
    elif rule.level == "api_key":
        assert response.status_code == 401 and response.mimetype == "application/problem+json"
    else:
        assert response.status_code == 302
        assert response.headers["Location"].startswith("/login")


ROLE_ORDER = ["member", "agent", "manager", "admin"]
ALLOWED = {
    "public": {"member", "agent", "manager", "admin"},
    "member": {"member", "agent", "manager", "admin"},
    "service_member": {"agent", "manager"},
    "service_reader": {"agent", "manager", "admin"},
    "service_manager": {"manager", "admin"},
    "org_admin": {"admin"},
    "api_key": set(),  # a session is not a key: every member gets 401
}


@pytest.mark.parametrize("endpoint", sorted(ACCESS))
@pytest.mark.parametrize("role", ROLE_ORDER)
def test_each_role_is_admitted_or_refused_as_the_table_says(endpoint, role, world, login_as):
    rule = ACCESS[endpoint]
    client = login_as(world["a"][role])
    response = call(client, rule, world)
    if role in ALLOWED[rule.level]:
        assert response.status_code in rule.ok, response.status_code
    else:
        assert response.status_code == (401 if rule.level == "api_key" else 403)


# Public pages (log-in, help center) show what an organization publishes, to anyone; the rest must not leak.
@pytest.mark.parametrize("endpoint", sorted(e for e, r in ACCESS.items() if r.level != "public"))
@pytest.mark.parametrize("role", ["admin", "manager", "agent"])
def test_another_organization_never_sees_this_one(endpoint, role, world, login_as):
    rule = ACCESS[endpoint]
    client = login_as(world["b"][role])
    response = call(client, rule, world)
    if any(name in rule.path + str(rule.data) for name in ("{service}", "{member}", "{agent}", "{batch}", "{field}",
                                                           "{custom_field}", "{company}")):
        # Someone who would be admitted in their own organization gets 404; someone lacking the role gets
        # 403 before anything is looked up, which tells nothing about the other organization either.
        expected = (404,) if role in ALLOWED[rule.level] else (403, 404)
        if rule.level == "api_key":  # a session is no key; another organization's key: tests/test_api.py
            expected = (401,)
        assert response.status_code in expected, f"{endpoint} as B's {role}: {response.status_code}"
    assert SECRET.encode() not in response.get_data()
