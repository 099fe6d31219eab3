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
    batch, ready_batch, field, custom_field, company = _migration_world(make.app, a, service)
    members = {"admin": make.admin_of(a), "manager": manager, "agent": agent, "member": outsider}
    return {
        "service": service.service_key, "batch": batch, "ready_batch": ready_batch, "field": field,
        "custom_field": custom_field, "company": company, **_work_world(make.app, a, service, members),
        "a": members,
        "b": {"admin": make.admin_of(b), "manager": b_manager, "agent": b_agent},
    }


def _migration_world(app, org, service):
    """A CTI contract, a failed migration batch with an error report and one checked without errors, a system and
    a custom ticket field."""
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
        ready = MigrationBatch(organization_id=org.id, service_id=svc.id, file_id=upload.id,
                               filename=f"r {SECRET}.xlsx", status=BatchStatus.ready)
        db.session.add_all([batch, ready])
        db.session.commit()
        from portal.models import CompanyInfo

        company = CompanyInfo(organization_id=org.id, title=f"Info {SECRET}", language="ko", company_name="A Corp")
        db.session.add(company)
        db.session.commit()
        return batch.id, ready.id, fields[0].id, custom.id, company.id


def _work_world(app, org, service, members):
    """An invited member, a ticket and a missed call of the service, CTI credentials for its agent and manager,
    and a finished CTI log export of each member's own."""
    from datetime import timedelta

    from portal.extensions import db
    from portal.models import Call, CtiAgent, JobRun, JobState, Ticket, TicketChannel
    from portal.models.base import utcnow
    from portal.services import Actor, cti_log
    from portal.services.accounts import invite_member
    from portal.services.storage import store

    with app.app_context():
        invited, token = invite_member(Actor(org.id, None), name=f"Invited {SECRET}", login_id="invited",
                                       email="invited@example.com")
        ticket = Ticket(organization_id=org.id, service_id=service.id, number=1, title=f"Ticket {SECRET}",
                        channel=TicketChannel.web)
        missed = Call(organization_id=org.id, service_id=service.id, call_id="missed-1", direction="IB",
                      counterpart="01012345678", started_at=utcnow() - timedelta(minutes=5), outcome="abandoned")
        db.session.add_all([ticket, missed])
        for n, role in enumerate(("agent", "manager"), start=1):
            db.session.add(CtiAgent(organization_id=org.id, member_id=members[role].id, cti_id=f"{role}01",
                                    cti_number=f"700{n}"))
        exports = {}
        for role, member in members.items():
            stored = store(org.id, purpose=cti_log.EXPORT_PURPOSE, filename=f"cti-log-{role}.xlsx",
                           content_type="application/octet-stream", data=b"x")
            run = JobRun(kind=cti_log.EXPORT_KIND, organization_id=org.id, member_id=member.id,
                         state=JobState.succeeded, progress=100, result={"file_id": stored.id})
            db.session.add(run)
            db.session.flush()
            exports[role] = run.id
        db.session.commit()
        return {"invited": invited.id, "token": token, "ticket": ticket.id, "call": missed.id, "exports": exports}


# What the path names refer to; each belongs to organization A, so another organization must get 404 for it.
IN_ORGANIZATION_A = ("service", "member", "agent", "invited", "batch", "ready_batch", "field", "custom_field",
                     "ticket", "call", "company", "export")


def placeholders(world: dict, role: str = "admin") -> dict:
    """The values of a rule's `{names}` in `world` (`{export}`: the export of A's member in that role)."""
    return {"service": world["service"], "member": world["a"]["member"].id, "agent": world["a"]["agent"].id,
            "invited": world["invited"], "token": world["token"], "batch": world["batch"],
            "ready_batch": world["ready_batch"], "field": world["field"], "custom_field": world["custom_field"],
            "ticket": world["ticket"], "call": world["call"], "company": world["company"],
            "export": world["exports"].get(role, world["exports"]["admin"])}


def call(client, rule: Rule, world: dict, role: str = "admin", **headers):
    names = placeholders(world, role)
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
    response = call(client, rule, world, role)
    if role in rule.not_found_for:
        assert response.status_code == 404, response.status_code
    elif role in ALLOWED[rule.level]:
        assert response.status_code in rule.ok, response.status_code
        # A redirect with an error message is a refusal too: the row's path or data does not reach the real thing.
        errors = _error_flashes(client)
        assert bool(errors) == (role in rule.refused_for), f"{endpoint} as {role}: {errors}"
    else:
        assert response.status_code == (401 if rule.level == "api_key" else 403)


def _error_flashes(client) -> list[str]:
    """Error messages waiting in the session for the next page."""
    with client.session_transaction() as session:
        return [message for category, message in session.get("_flashes", []) if category == "error"]


# Public pages (log-in, help center) show what an organization publishes, to anyone; the rest must not leak.
@pytest.mark.parametrize("endpoint", sorted(e for e, r in ACCESS.items() if r.level != "public"))
@pytest.mark.parametrize("role", ["admin", "manager", "agent"])
def test_another_organization_never_sees_this_one(endpoint, role, world, login_as):
    rule = ACCESS[endpoint]
    client = login_as(world["b"][role])
    response = call(client, rule, world)
    if any("{%s}" % name in rule.path + str(rule.data) for name in IN_ORGANIZATION_A):
        # Someone who would be admitted in their own organization gets 404; someone lacking the role gets
        # 403 before anything is looked up, which tells nothing about the other organization either.
        expected = (404,) if role in ALLOWED[rule.level] else (403, 404)
        if rule.level == "api_key":  # a session is no key; another organization's key: tests/test_api.py
            expected = (401,)
        assert response.status_code in expected, f"{endpoint} as B's {role}: {response.status_code}"
    assert SECRET.encode() not in response.get_data()
