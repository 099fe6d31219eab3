"""A redirect goes back to a page of this site only: an off-site Referer or `next` never becomes the target."""
import pytest

from portal.extensions import db
from portal.models import CtiAgent, Service, Ticket, TicketChannel
from portal.services import Actor
from portal.services.contracts import sign_contract
from tests.conftest import csrf_token

OFF_SITE = ("https://evil.example/services/phone/calls", "//evil.example/x", "http://evil.example")
# Browsers read `\` as `/` and drop tabs, so these name another host as well.
SNEAKY_NEXT = ("/\\evil.example", "/\\/evil.example", "/\t/evil.example", "/\n/evil.example", "https://evil.example/")


@pytest.fixture
def desk(make, app, login_as):
    org = make.org(domain="acme")
    service = make.service(org, "phone", name="Phone Desk")
    ann = make.member(org, "ann", name="Ann")
    make.place(service, ann, phone=True, chat=True)
    with app.app_context():
        svc = db.session.get(Service, service.id)
        sign_contract(Actor(org.id, None), svc, {"base.seat": 2, "ticket.phone_cti": 2}, base_version=None)
        db.session.add(CtiAgent(organization_id=org.id, member_id=ann.id, cti_id="ann01", cti_number="7001"))
        ticket = Ticket(organization_id=org.id, service_id=service.id, number=7, title="Refund",
                        channel=TicketChannel.phone_ib)
        db.session.add(ticket)
        db.session.commit()
        ticket_id = ticket.id
    client = login_as(ann)
    client.get("/workspace/phone")  # the current service of the session
    return {"client": client, "token": csrf_token(client, "/me/settings"), "ticket": ticket_id}


@pytest.mark.parametrize("referrer", OFF_SITE)
def test_marking_a_call_never_redirects_to_an_off_site_referrer(desk, referrer):
    response = desk["client"].post("/services/phone/calls/1/called-back", data={"csrf_token": desk["token"]},
                                   headers={"Referer": referrer})
    assert response.status_code == 303 and response.headers["Location"] == "/services/phone/calls"


def test_marking_a_call_goes_back_to_the_filtered_list_it_came_from(desk):
    back = "http://localhost/services/phone/calls?missed=1&from=2026-11-01"
    response = desk["client"].post("/services/phone/calls/1/called-back", data={"csrf_token": desk["token"]},
                                   headers={"Referer": back})
    assert response.headers["Location"] == "/services/phone/calls?missed=1&from=2026-11-01"


@pytest.mark.parametrize("referrer", OFF_SITE)
def test_a_state_change_never_redirects_to_an_off_site_referrer(desk, referrer):
    response = desk["client"].post("/agent/state", data={"csrf_token": desk["token"], "channel": "phone",
                                                         "state": "ready"}, headers={"Referer": referrer})
    assert response.status_code == 303 and response.headers["Location"] == "/"


def test_a_state_change_goes_back_to_the_page_it_came_from(desk):
    response = desk["client"].post("/agent/state", data={"csrf_token": desk["token"], "channel": "phone",
                                                         "state": "ready"},
                                   headers={"Referer": "http://localhost/services/phone/tickets?status=open"})
    assert response.headers["Location"] == "/services/phone/tickets?status=open"


@pytest.mark.parametrize("referrer", OFF_SITE)
def test_a_phone_action_never_redirects_to_an_off_site_referrer(desk, referrer):
    response = desk["client"].post("/agent/phone/login", data={"csrf_token": desk["token"]},
                                   headers={"Referer": referrer})
    assert response.status_code == 303 and response.headers["Location"] == "/"


@pytest.mark.parametrize("referrer", OFF_SITE + ("http://localhost/\\evil.example",))
def test_a_language_switch_never_redirects_off_site(client, referrer):
    response = client.post("/language", data={"csrf_token": csrf_token(client), "code": "en"},
                           headers={"Referer": referrer})
    assert response.headers["Location"] == "/"


@pytest.mark.parametrize("target", SNEAKY_NEXT)
def test_no_next_that_a_browser_reads_as_another_host_is_followed(desk, client, make, target):
    from tests.factories import PASSWORD

    response = desk["client"].post(f"/services/phone/tickets/{desk['ticket']}/assign",
                                   data={"csrf_token": desk["token"], "assignee": "", "next": target})
    assert response.headers["Location"] == "/services/phone/tickets"
    org = make.org()
    admin = make.admin_of(org)
    response = client.post("/login", data={"csrf_token": csrf_token(client), "organization": org.domain,
                                           "login_id": admin.login_id, "password": PASSWORD, "next": target})
    assert response.headers["Location"] == "/"
