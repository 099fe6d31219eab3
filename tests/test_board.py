"""Supervisor board: every agent's live state, calls today and eligibility, for managers and org admins only;
setting an agent's state needs a reason, recorded in the agent's intervals."""
from datetime import timedelta

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.models import AgentStateInterval, Call, Member, Service
from portal.models.base import utcnow
from portal.services import Actor, agent_states
from tests.conftest import csrf_token

EN = {"Accept-Language": "en"}


@pytest.fixture
def floor(make, app, login_as):
    org = make.org(domain="acme")
    service = make.service(org, "desk", name="Desk")
    other = make.service(org, "other", name="Other")
    boss = make.member(org, "boss", name="Boss")
    make.place(service, boss, "manager")
    ann, bob, cal = (make.member(org, login, name=login.title()) for login in ("ann", "bob", "cal"))
    make.place(service, ann, phone=True, chat=True)
    make.place(service, bob, phone=True, chat=False)
    make.place(service, cal, phone=True, chat=True)
    make.place(other, cal, phone=True, chat=True)
    with app.app_context():
        svc, oth = db.session.get(Service, service.id), db.session.get(Service, other.id)
        m = lambda x: db.session.get(Member, x.id)
        agent_states.change(Actor(org.id, ann.id), m(ann), svc, "phone", "ready")
        agent_states.change(Actor(org.id, ann.id), m(ann), svc, "chat", "online")
        agent_states.change(Actor(org.id, bob.id), m(bob), svc, "phone", "break", at=utcnow() - timedelta(minutes=7))
        agent_states.change(Actor(org.id, cal.id), m(cal), oth, "phone", "ready")
        for n in range(3):
            db.session.add(Call(organization_id=org.id, service_id=svc.id, call_id=f"c{n}", direction="IB",
                                member_id=ann.id, started_at=utcnow() - timedelta(minutes=n)))
        db.session.commit()
    return {"org": org, "service": service, "boss": boss, "ann": ann, "bob": bob, "cal": cal,
            "client": login_as(boss)}


def row(html, member):
    start = html.index(f'id="agent-{member.id}"')
    return html[start:html.index("</tr>", start)]


def test_the_board_shows_states_calls_and_eligibility(floor):
    html = floor["client"].get("/services/desk/board", headers=EN).get_data(as_text=True)
    ann, bob, cal = row(html, floor["ann"]), row(html, floor["bob"]), row(html, floor["cal"])
    assert "Ready" in ann and "Online" in ann and '<td class="num">3</td>' in ann and "Yes · Phone" in ann
    assert "Break" in bob and ">7:0" in bob and ">No<" in bob
    assert "In another service" in cal and ">No<" in cal  # ready, but in Other: not eligible here
    assert 'hx-trigger="every 5s"' in html and 'X-Poll' in html
    rows = floor["client"].get("/services/desk/board?part=rows", headers=EN).get_data(as_text=True)
    assert "<html" not in rows and f'id="agent-{floor["ann"].id}"' in rows


def test_the_board_filters(floor):
    eligible = floor["client"].get("/services/desk/board?state=eligible", headers=EN).get_data(as_text=True)
    assert f'id="agent-{floor["ann"].id}"' in eligible and f'id="agent-{floor["bob"].id}"' not in eligible
    working = floor["client"].get("/services/desk/board?state=working", headers=EN).get_data(as_text=True)
    assert f'id="agent-{floor["bob"].id}"' in working and f'id="agent-{floor["cal"].id}"' not in working


def test_agents_cannot_see_the_board(floor, login_as):
    assert login_as(floor["ann"]).get("/services/desk/board").status_code == 403


def test_a_supervisor_sets_a_state_from_the_board_with_a_reason(floor, app):
    c = floor["client"]
    form = c.get(f"/services/desk/board/members/{floor['bob'].id}/state", headers={**EN, "HX-Request": "true"}).get_data(as_text=True)
    assert "Set the state of Bob" in form and 'value="phone:ready"' in form and "phone:inbound_call" not in form
    token = csrf_token(c, "/services/desk/board")
    refused = c.post(f"/services/desk/board/members/{floor['bob'].id}/state", headers={**EN, "HX-Request": "true"},
                     data={"csrf_token": token, "channel_state": "phone:ready", "reason": "  "})
    assert refused.status_code == 422 and "Give a reason" in refused.get_data(as_text=True)
    assert 'aria-invalid="true"' in refused.get_data(as_text=True)  # the message sits at the reason field
    done = c.post(f"/services/desk/board/members/{floor['bob'].id}/state", headers={**EN, "HX-Request": "true"},
                  data={"csrf_token": token, "channel_state": "phone:ready", "reason": "queue is long"})
    assert done.status_code == 204 and done.headers["HX-Redirect"] == "/services/desk/board"
    with app.app_context():
        interval = db.session.scalars(select(AgentStateInterval).where(
            AgentStateInterval.member_id == floor["bob"].id, AgentStateInterval.ended_at.is_(None))).one()
        assert (interval.state, interval.reason, interval.changed_by_id) == ("ready", "queue is long", floor["boss"].id)
    assert "queue is long" in row(c.get("/services/desk/board", headers=EN).get_data(as_text=True), floor["bob"])


@pytest.mark.parametrize("value", ["phone:inbound_call", "phone:napping", "fax:ready", "", "chat:waiting"])
def test_bad_states_are_refused(floor, value):
    """Call states come from the telephony; unknown states and channels are refused; Bob has no chat."""
    c = floor["client"]
    response = c.post(f"/services/desk/board/members/{floor['bob'].id}/state", headers=EN,
                      data={"csrf_token": csrf_token(c, "/services/desk/board"), "channel_state": value, "reason": "x"})
    assert response.status_code == 422


def test_a_member_outside_the_service_is_404(floor, make):
    stranger = make.member(floor["org"], "stranger")
    assert floor["client"].get(f"/services/desk/board/members/{stranger.id}/state").status_code == 404


def test_setting_the_state_an_agent_already_has_says_so(floor):
    c = floor["client"]
    c.post(f"/services/desk/board/members/{floor['bob'].id}/state", headers=EN, data={
        "csrf_token": csrf_token(c, "/services/desk/board"), "channel_state": "phone:break", "reason": "again"})
    page = c.get("/services/desk/board", headers=EN).get_data(as_text=True)
    assert "Bob is already in that state; nothing changed." in page


def test_the_board_lives_where_spec_12_says_and_the_old_address_redirects(floor, login_as):
    """SPEC 12: /services/<service ID>/board. Bookmarks of /agent/<service ID>/board land there, query kept."""
    c = floor["client"]
    assert c.get("/services/desk/board", headers=EN).status_code == 200
    moved = c.get("/agent/desk/board?state=eligible")
    assert moved.status_code == 301 and moved.headers["Location"] == "/services/desk/board?state=eligible"
    form = c.get(f"/agent/desk/members/{floor['bob'].id}/state")
    assert form.status_code == 301 and form.headers["Location"] == f"/services/desk/board/members/{floor['bob'].id}/state"
    token = csrf_token(c, "/services/desk/board")
    assert c.post(f"/agent/desk/members/{floor['bob'].id}/state", data={"csrf_token": token}).status_code == 308
    assert login_as(floor["ann"]).get("/agent/desk/board").status_code == 403  # the old address admits no one new


# -- the poll sends only what changed (issue 18) -----------------------------------------------------------------

POLL = {**EN, "HX-Request": "true", "X-Poll": "1"}


def version_of(page: str) -> str:
    start = page.index('data-version="') + len('data-version="')
    return page[start:page.index('"', start)]


def poll(client, version, query=""):
    return client.get(f"/services/desk/board?part=rows{query}", headers={**POLL, "If-None-Match": f'"{version}"'})


def rows_in(html: str) -> set[str]:
    return {part.split('"', 1)[0] for part in html.split('<tr id="agent-')[1:]}


def test_a_poll_when_nothing_changed_is_304_with_no_rows(floor):
    c = floor["client"]
    version = version_of(c.get("/services/desk/board", headers=EN).get_data(as_text=True))
    answer = poll(c, version)
    assert answer.status_code == 304 and answer.get_data() == b"" and answer.headers["ETag"] == f'"{version}"'
    assert poll(c, version).status_code == 304  # time passing (timers tick in the browser) changes nothing


def test_a_poll_after_one_state_change_sends_only_that_row_out_of_band(floor, app):
    c = floor["client"]
    version = version_of(c.get("/services/desk/board", headers=EN).get_data(as_text=True))
    with app.app_context():
        agent_states.change(Actor(floor["org"].id, floor["bob"].id), db.session.get(Member, floor["bob"].id),
                            db.session.get(Service, floor["service"].id), "phone", "ready")
        db.session.commit()
    answer = poll(c, version)
    html = answer.get_data(as_text=True)
    assert answer.status_code == 200 and answer.headers["HX-Reswap"] == "none"
    assert rows_in(html) == {str(floor["bob"].id)} and 'hx-swap-oob="true"' in html
    assert "Ready" in row(html, floor["bob"]) and "Yes · Phone" in row(html, floor["bob"])
    newer = answer.headers["ETag"].strip('"')
    assert newer != version and poll(c, newer).status_code == 304  # the browser keeps the new version
    # The full rows say the same as page + out-of-band answer.
    assert newer == version_of(c.get("/services/desk/board", headers=EN).get_data(as_text=True))


def test_the_poll_keeps_the_filters(floor, app):
    c = floor["client"]
    version = version_of(c.get("/services/desk/board?state=working", headers=EN).get_data(as_text=True))
    assert poll(c, version, "&state=working").status_code == 304
    with app.app_context():  # Ann, shown, changes; Cal works only elsewhere and stays out
        agent_states.change(Actor(floor["org"].id, floor["ann"].id), db.session.get(Member, floor["ann"].id),
                            db.session.get(Service, floor["service"].id), "chat", "break")
        db.session.commit()
    html = poll(c, version, "&state=working").get_data(as_text=True)
    assert rows_in(html) == {str(floor["ann"].id)} and "Break" in row(html, floor["ann"])
    # Asked with the version of another filter, the answer still leaves exactly this filter's rows: Ann (ready on
    # the phone) stays and is sent again, Bob (on a break) goes.
    other = poll(c, version, "&state=eligible").get_data(as_text=True)
    assert f'<tr id="agent-{floor["bob"].id}" hx-swap-oob="delete">' in other and "Yes · Phone" in row(other, floor["ann"])


def test_an_agent_who_leaves_the_filter_is_removed_and_a_new_one_brings_every_row(floor, app, make):
    c = floor["client"]
    version = version_of(c.get("/services/desk/board?state=working", headers=EN).get_data(as_text=True))
    with app.app_context():  # Bob logs off: he leaves "Logged in"
        agent_states.change(Actor(floor["org"].id, floor["bob"].id), db.session.get(Member, floor["bob"].id),
                            db.session.get(Service, floor["service"].id), "phone", "offline")
        db.session.commit()
    gone = poll(c, version, "&state=working")
    html = gone.get_data(as_text=True)
    assert gone.headers["HX-Reswap"] == "none" and f'<tr id="agent-{floor["bob"].id}" hx-swap-oob="delete">' in html
    assert rows_in(html) == {str(floor["bob"].id)}
    version = gone.headers["ETag"].strip('"')
    dee = make.member(floor["org"], "dee", name="Dee")  # a new agent of the service: the order changes
    make.place(floor["service"], dee, phone=True)
    with app.app_context():
        agent_states.change(Actor(floor["org"].id, dee.id), db.session.get(Member, dee.id),
                            db.session.get(Service, floor["service"].id), "phone", "ready")
        db.session.commit()
    every = poll(c, version, "&state=working")
    assert every.status_code == 200 and "HX-Reswap" not in every.headers
    assert rows_in(every.get_data(as_text=True)) == {str(floor["ann"].id), str(dee.id)}
    assert "hx-swap-oob" not in every.get_data(as_text=True)


def test_an_unknown_or_hostile_version_gets_every_row(floor):
    c = floor["client"]
    every = rows_in(c.get("/services/desk/board?part=rows", headers=POLL).get_data(as_text=True))
    assert {str(floor[who].id) for who in ("ann", "bob", "cal")} <= every
    for tag in ("nope", "x" * 500, "", "ab:cd,12", "*"):
        answer = c.get("/services/desk/board?part=rows", headers={**POLL, "If-None-Match": f'"{tag}"'})
        assert answer.status_code == 200 and "HX-Reswap" not in answer.headers
        assert rows_in(answer.get_data(as_text=True)) == every
