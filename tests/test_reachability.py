"""Every page of SPEC 12 is at most two clicks from where its user lands (issue 16, item 11), for each role
that may use it: links are followed as a person would (an <a href> or an htmx hx-get), from the landing page
and from every page one click away."""
import re

import pytest

from portal.extensions import db
from portal.models import Service
from portal.services import Actor
from portal.services.contracts import sign_contract

LINK = re.compile(r'(?:href|hx-get)="(/[^"#?]*)')


def reachable(client, start: str = "/") -> tuple[str, set[str]]:
    """The landing path, and every path within two clicks of it."""
    landing = client.get(start, follow_redirects=True)
    assert landing.status_code == 200
    first = set(LINK.findall(landing.get_data(as_text=True))) - {"/logout"}
    seen = set(first)
    for path in first:
        if path.startswith("/static/"):
            continue
        page = client.get(path, headers={"Accept-Language": "en"})
        if page.status_code == 200 and page.mimetype == "text/html":
            seen |= set(LINK.findall(page.get_data(as_text=True)))
    return landing.request.path, seen


@pytest.fixture
def office(make, app, login_as):
    org = make.org(domain="acme")
    service = make.service(org, "desk", name="Desk")
    manager, agent = make.member(org, "mia", name="Mia"), make.member(org, "ann", name="Ann")
    make.place(service, manager, "manager")
    make.place(service, agent)
    with app.app_context():
        sign_contract(Actor(org.id, None), db.session.get(Service, service.id), {"base.seat": 2}, base_version=None)
        db.session.commit()
    admin = make.member(org, "boss", name="Boss", is_org_admin=True)
    return {"admin": login_as(admin), "manager": login_as(manager), "agent": login_as(agent)}


SERVICE_PAGES = ["/services/desk/members", "/services/desk/ticket-fields", "/services/desk/tickets",
                 "/services/desk/board"]
PAGES = {
    "admin": ["/admin/services", "/admin/services/new", "/admin/billing", "/admin/organization", "/admin/org-admins",
              "/admin/company-info", "/admin/cti", "/admin/cti/agents", "/admin/permission-log", "/admin/migrations",
              *SERVICE_PAGES, "/me/performance", "/me/settings"],
    "manager": ["/workspace/desk", *SERVICE_PAGES, "/me/performance", "/me/settings"],
    "agent": ["/workspace/desk", "/services/desk/tickets", "/me/performance", "/me/settings"],
}


@pytest.mark.parametrize("role", PAGES)
def test_every_page_of_spec_12_is_two_clicks_from_where_its_user_lands(office, role):
    landing, seen = reachable(office[role])
    missing = [page for page in PAGES[role] if page != landing and page not in seen]
    assert missing == [], f"{role} lands on {landing}"


def test_an_agent_is_not_shown_the_managers_menus(office):
    _landing, seen = reachable(office["agent"])
    assert not {"/services/desk/members", "/services/desk/ticket-fields", "/services/desk/board"} & seen
