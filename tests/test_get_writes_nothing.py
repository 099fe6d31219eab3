"""No GET request writes to the database: opening a page changes nothing. Rows a page needs (CTI settings, the
system ticket fields) exist from the moment their service does, so no page creates them on first view."""
import re

import pytest
from sqlalchemy import event

from portal.extensions import db
from portal.models import Member, Organization
from portal.services import Actor, cti
from portal.services.organizations import rotate_api_key
from tests.access_table import ACCESS
from tests.test_access import ALLOWED, call, world  # noqa: F401  (world: the fixture of the access tests)

WRITE = re.compile(r"\s*(INSERT|UPDATE|DELETE|REPLACE|MERGE)\b", re.IGNORECASE)
# The only writes a GET may make, each with its reason.
EXPECTED_WRITES = {
    # The idle timeout's heartbeat: a member's request is activity (at most one write a minute).
    None: re.compile(r"\s*UPDATE member SET last_seen_at=", re.IGNORECASE),
    # When the organization key was last used, shown beside the key (at most one write a minute).
    "api_key": re.compile(r"\s*UPDATE organization SET api_key_last_used_at=", re.IGNORECASE),
    # Taking a copy of the permission change log is itself on the audit trail.
    "permission_log.export": re.compile(r"\s*INSERT INTO activity\b", re.IGNORECASE),
}
GETS = sorted(endpoint for endpoint, rule in ACCESS.items() if rule.method == "GET")


def _writes_during(app, request):
    """(the response, the write statements the database saw while it was made)"""
    seen = []

    def record(_conn, _cursor, statement, _parameters, _context, _executemany):
        if WRITE.match(statement):
            seen.append(statement.split(" WHERE ")[0][:120])

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        response = request()
        response.get_data()  # a streamed body is written while it is read
        response.close()
    finally:
        event.remove(engine, "before_cursor_execute", record)
    return response, seen


def _unexpected(endpoint: str, writes: list[str]) -> list[str]:
    allowed = [EXPECTED_WRITES[None], EXPECTED_WRITES["api_key"], EXPECTED_WRITES.get(endpoint)]
    return [w for w in writes if not any(p and p.match(w) for p in allowed)]


def _give_phones(app, world) -> None:
    """CTI credentials for the agent and the manager, so their pages carry the phone widget."""
    with app.app_context():
        for n, role in enumerate(("agent", "manager")):
            member = db.session.get(Member, world["a"][role].id)
            cti.set_credentials(Actor(member.organization_id, None), member, cti_id=f"desk{n}", cti_number=f"70{n}")
        db.session.commit()


@pytest.mark.parametrize("role", ["admin", "manager", "agent", "member"])
def test_no_page_writes_when_a_member_opens_it(role, world, login_as, app):  # noqa: F811
    _give_phones(app, world)
    client = login_as(world["a"][role])
    offenders = {}
    for endpoint in GETS:
        rule = ACCESS[endpoint]
        if rule.level == "api_key" or role not in ALLOWED[rule.level]:
            continue
        for headers in ({}, {"HX-Request": "true"}):
            response, writes = _writes_during(app, lambda: call(client, rule, world, **headers))
            if _unexpected(endpoint, writes):
                offenders[f"{endpoint} {headers}"] = (response.status_code, _unexpected(endpoint, writes))
    assert offenders == {}


def test_no_api_read_writes(world, client, app):  # noqa: F811
    with app.app_context():
        org_id = world["a"]["admin"].organization_id
        key = rotate_api_key(Actor(org_id, None), db.session.get(Organization, org_id))
        db.session.commit()
    offenders = {}
    for endpoint in GETS:
        rule = ACCESS[endpoint]
        if rule.level != "api_key":
            continue
        response, writes = _writes_during(app, lambda: call(client, rule, world, Authorization=f"Bearer {key}"))
        assert response.status_code == 200, (endpoint, response.get_data(as_text=True)[:300])
        if _unexpected(endpoint, writes):
            offenders[endpoint] = _unexpected(endpoint, writes)
    assert offenders == {}


def test_the_check_sees_a_write(app, client):
    """The listener is not blind: a write made while it listens is reported; only the expected ones pass."""
    def write_then_get():
        with app.app_context():
            db.session.execute(db.update(Organization).where(Organization.id == -1).values(name="x"))
            db.session.commit()
        return client.get("/login")

    _response, writes = _writes_during(app, write_then_get)
    assert [w.split(" SET ")[0] for w in _unexpected("home.index", writes)] == ["UPDATE organization"]
