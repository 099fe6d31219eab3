"""Members and permissions: invitations over real SMTP, org admins, service members, personal settings."""
import re

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.models import Member, MemberStatus, Operation, PermissionChange, ServiceMember
from tests.conftest import Auth, csrf_token
from tests.factories import PASSWORD

EN = {"Accept-Language": "en"}
LINK = re.compile(r"https?://[^\s]+/invite/[A-Za-z0-9_\-]+")


@pytest.fixture
def org(make):
    return make.org(domain="acme")


@pytest.fixture
def admin(org, make, login_as):
    client = login_as(make.admin_of(org))
    client.member = make.admin_of(org)
    return client


def _log(app, org_id) -> list[PermissionChange]:
    with app.app_context():
        rows = db.session.scalars(select(PermissionChange).filter_by(organization_id=org_id).order_by(PermissionChange.seq)).all()
        for row in rows:
            db.session.expunge(row)
        return rows


def _invite(admin, **fields):
    data = {"csrf_token": csrf_token(admin, "/admin/org-admins"), "name": "New Hire", "login_id": "newhire",
            "email": "new.hire@example.com", **fields}
    return admin.post("/admin/org-admins/invite", data=data, headers=EN)


# -- invitations ------------------------------------------------------------------------------------------

def test_an_invitation_mail_arrives_and_its_link_activates_the_member(admin, app, smtp):
    response = _invite(admin)
    assert response.status_code == 303
    assert len(smtp.messages) == 1 and smtp.messages[0]["To"] == "new.hire@example.com"
    link = LINK.search(smtp.last_body()).group(0)
    path = "/invite/" + link.rsplit("/invite/", 1)[1]
    newcomer = app.test_client()
    page = newcomer.get(path, headers=EN)
    assert page.status_code == 200 and "New Hire" in page.get_data(as_text=True)
    done = newcomer.post(path, data={"csrf_token": csrf_token(newcomer, path), "password": "brand-new-pass-7",
                                     "confirm": "brand-new-pass-7"})
    assert done.status_code == 303
    assert newcomer.get("/me/settings").status_code == 200
    assert newcomer.get(path).status_code == 410  # single use
    with app.app_context():
        assert db.session.scalars(select(Member).filter_by(login_id="newhire")).one().status == MemberStatus.active


@pytest.mark.parametrize("fields, message", [
    ({"login_id": "admin"}, "The login ID admin is already in use."),
    ({"email": "not-an-email"}, "Enter a valid e-mail address."),
    ({"login_id": "bad id!"}, "A login ID is 2–64 letters"),
    ({"name": ""}, "This field is required."),
])
def test_a_bad_invitation_is_refused_and_nothing_is_sent(admin, app, smtp, fields, message):
    response = _invite(admin, **fields)
    assert response.status_code == 422 and message in response.get_data(as_text=True)
    assert smtp.messages == []
    with app.app_context():
        assert db.session.scalars(select(Member).filter_by(status=MemberStatus.invited)).first() is None


def test_a_duplicate_email_is_refused(admin, app, smtp, org, make):
    make.member(org, "first", email="taken@example.com")
    response = _invite(admin, email="Taken@Example.com")
    assert response.status_code == 422 and "already in use" in response.get_data(as_text=True)


def test_resend_replaces_the_link_and_revoke_kills_it(admin, app, smtp):
    _invite(admin)
    first = LINK.search(smtp.last_body()).group(0).rsplit("/invite/", 1)[1]
    with app.app_context():
        member_id = db.session.scalars(select(Member).filter_by(login_id="newhire")).one().id
    token = csrf_token(admin, "/admin/org-admins")
    assert admin.post(f"/admin/org-admins/invitations/{member_id}/resend", data={"csrf_token": token}).status_code == 303
    second = LINK.search(smtp.last_body()).group(0).rsplit("/invite/", 1)[1]
    assert len(smtp.messages) == 2 and first != second
    anyone = app.test_client()
    assert anyone.get(f"/invite/{first}").status_code == 410
    assert anyone.get(f"/invite/{second}").status_code == 200
    assert admin.post(f"/admin/org-admins/invitations/{member_id}/revoke", data={"csrf_token": token}).status_code == 303
    revoked = anyone.get(f"/invite/{second}", headers=EN)
    assert revoked.status_code == 410 and "revoked" in revoked.get_data(as_text=True)


def test_an_unreachable_mail_server_keeps_the_member_and_says_so(admin, app):
    app.config["MAIL_SERVER"] = "127.0.0.1"
    saved = app.extensions["mail"]
    from portal.extensions import mail

    app.extensions["mail"] = mail.init_mail({**app.config, "MAIL_PORT": 1, "MAIL_SUPPRESS_SEND": False}, False, False)
    try:
        response = _invite(admin)
        page = admin.get("/admin/org-admins", headers=EN).get_data(as_text=True)
    finally:
        app.extensions["mail"], app.config["MAIL_SERVER"] = saved, ""
    assert response.status_code == 303
    assert "could not be sent" in page and "newhire" in page


# -- org admins -------------------------------------------------------------------------------------------

def test_search_needs_a_criterion_and_finds_by_name_login_or_email(admin, org, make):
    make.member(org, "jdoe", name="Jane Doe")
    make.member(org, "rroe", name="Richard Roe")
    empty = admin.get("/admin/org-admins/search", headers={**EN, "HX-Request": "true"}).get_data(as_text=True)
    assert "Enter a name, login ID or e-mail to search." in empty
    by_name = admin.get("/admin/org-admins/search?name=jane", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "jdoe" in by_name and "rroe" not in by_name and "<html" not in by_name
    by_login = admin.get("/admin/org-admins/search?login_id=RRO").get_data(as_text=True)
    assert "rroe" in by_login and "jdoe" not in by_login
    assert "jdoe" in admin.get("/admin/org-admins/search?email=jdoe.").get_data(as_text=True)


def test_search_results_are_paginated(admin, org, make):
    for i in range(25):
        make.member(org, f"agent{i:02d}", name=f"Agent {i:02d}")
    first = admin.get("/admin/org-admins/search?name=agent", headers=EN).get_data(as_text=True)
    second = admin.get("/admin/org-admins/search?name=agent&page=2", headers=EN).get_data(as_text=True)
    assert "Page 1 of 2" in first and first.count("Make org admin") == 20
    assert second.count("Make org admin") == 5


def test_granting_and_revoking_org_admin_is_logged_with_before_and_after(admin, app, org, make):
    colleague = make.member(org, "colleague", name="Col League")
    token = csrf_token(admin, "/admin/org-admins")
    assert admin.post(f"/admin/org-admins/{colleague.id}/grant", data={"csrf_token": token}).status_code == 303
    assert "colleague" in admin.get("/admin/org-admins").get_data(as_text=True)
    assert admin.post(f"/admin/org-admins/{colleague.id}/revoke", data={"csrf_token": token}).status_code == 303
    rows = _log(app, org.id)
    assert [(r.operation, r.before, r.after, r.target_login, r.actor_login, r.service_id) for r in rows] == [
        (Operation.grant_org_admin, {"org_admin": False}, {"org_admin": True}, "colleague", "admin", None),
        (Operation.revoke_org_admin, {"org_admin": True}, {"org_admin": False}, "colleague", "admin", None),
    ]
    assert rows[0].ip == "127.0.0.1"


def test_the_last_org_admin_cannot_be_removed(admin, app, org):
    me = admin.member
    response = admin.post(f"/admin/org-admins/{me.id}/revoke", headers=EN,
                          data={"csrf_token": csrf_token(admin, "/admin/org-admins"), "confirm_self": "y"})
    assert response.status_code == 409
    assert "the last org admin" in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(Member, me.id).is_org_admin
    assert _log(app, org.id) == []


def test_removing_yourself_needs_confirmation(admin, app, org, make):
    make.member(org, "other", is_org_admin=True)
    me = admin.member
    token = csrf_token(admin, "/admin/org-admins")
    refused = admin.post(f"/admin/org-admins/{me.id}/revoke", data={"csrf_token": token}, headers=EN)
    assert refused.status_code == 409 and "Confirm that you want to remove your own" in refused.get_data(as_text=True)
    done = admin.post(f"/admin/org-admins/{me.id}/revoke", data={"csrf_token": token, "confirm_self": "y"})
    assert done.status_code == 303 and done.headers["Location"] == "/"
    assert admin.get("/admin/org-admins").status_code == 403


def test_a_member_of_another_organization_cannot_be_made_admin(admin, app, make):
    stranger = make.member(make.org(), "stranger")
    response = admin.post(f"/admin/org-admins/{stranger.id}/grant", data={"csrf_token": csrf_token(admin, "/admin/org-admins")})
    assert response.status_code == 404
    with app.app_context():
        assert not db.session.get(Member, stranger.id).is_org_admin


# -- service members --------------------------------------------------------------------------------------

@pytest.fixture
def desk(org, make):
    return make.service(org, "desk", name="Desk")


def test_a_manager_adds_an_agent_and_toggles_channels_in_place(org, desk, make, login_as, app):
    manager = make.member(org, "mgr", name="Manager")
    make.place(desk, manager, "manager")
    newbie = make.member(org, "newbie", name="New Bie")
    client = login_as(manager)
    token = csrf_token(client, "/services/desk/members")
    found = client.get("/services/desk/members/search?name=bie", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "newbie" in found and "mgr" not in found  # members already in the service are not offered
    added = client.post("/services/desk/members/add", data={"csrf_token": token, "member_id": newbie.id,
                                                            "role": "agent", "ticket": "on"})
    assert added.status_code == 303
    row = client.post(f"/services/desk/members/{newbie.id}/channel", data={"channel": "phone", "value": "on"},
                      headers={"HX-Request": "true", "X-CSRFToken": token}).get_data(as_text=True)
    assert row.lstrip().startswith(f'<tr id="member-{newbie.id}"') and row.count('aria-checked="true"') == 2
    client.post(f"/services/desk/members/{newbie.id}/role", data={"role": "manager"},
                headers={"HX-Request": "true", "X-CSRFToken": token})
    rows = _log(app, org.id)[-3:]
    assert [(r.operation, r.before, r.after, r.service_label) for r in rows] == [
        (Operation.add_service_member, None, {"role": "agent", "ticket": True, "chat": False, "phone": False}, "Desk (desk)"),
        (Operation.change_channel, {"role": "agent", "ticket": True, "chat": False, "phone": False},
         {"role": "agent", "ticket": True, "chat": False, "phone": True}, "Desk (desk)"),
        (Operation.change_role, {"role": "agent", "ticket": True, "chat": False, "phone": True},
         {"role": "manager", "ticket": True, "chat": False, "phone": True}, "Desk (desk)"),
    ]


def test_removing_a_member_asks_then_logs(org, desk, make, admin, app):
    agent = make.member(org, "agt")
    make.place(desk, agent)
    page = admin.get(f"/services/desk/members/{agent.id}/remove", headers={**EN, "HX-Request": "true"})
    assert "Remove" in page.get_data(as_text=True) and "<html" not in page.get_data(as_text=True)
    done = admin.post(f"/services/desk/members/{agent.id}/remove", data={"csrf_token": csrf_token(admin, "/admin/org-admins")})
    assert done.status_code == 303
    with app.app_context():
        assert db.session.scalars(select(ServiceMember).filter_by(member_id=agent.id)).first() is None
    assert _log(app, org.id)[-1].operation == Operation.remove_service_member


def test_org_admin_alone_has_no_service_access_but_manages_members(org, desk, admin):
    assert admin.get("/workspace/desk").status_code == 403
    assert admin.get("/services/desk/members").status_code == 200


def test_a_manager_cannot_change_or_remove_their_own_role(org, desk, make, login_as, app):
    manager = make.member(org, "mgr")
    make.place(desk, manager, "manager")
    client = login_as(manager)
    token = csrf_token(client, "/services/desk/members")
    response = client.post(f"/services/desk/members/{manager.id}/role", data={"role": "agent"},
                           headers={**EN, "HX-Request": "true", "X-CSRFToken": token})
    assert response.status_code == 409 and "your own role" in response.get_data(as_text=True)
    removal = client.post(f"/services/desk/members/{manager.id}/remove", data={"csrf_token": token}, headers=EN)
    assert removal.status_code == 409


@pytest.mark.parametrize("data, message", [
    ({"role": "owner"}, "Choose manager or agent."),
])
def test_bad_role_input_is_refused(org, desk, make, admin, app, data, message):
    agent = make.member(org, "agt")
    make.place(desk, agent)
    token = csrf_token(admin, "/services/desk/members")
    response = admin.post(f"/services/desk/members/{agent.id}/role", data=data,
                          headers={**EN, "HX-Request": "true", "X-CSRFToken": token})
    assert response.status_code == 409 and message in response.get_data(as_text=True)
    bad_channel = admin.post(f"/services/desk/members/{agent.id}/channel", data={"channel": "fax", "value": "on"},
                             headers={**EN, "HX-Request": "true", "X-CSRFToken": token})
    assert bad_channel.status_code == 409 and "Unknown channel: fax." in bad_channel.get_data(as_text=True)


def test_adding_a_member_of_another_organization_is_not_found(org, desk, make, admin, app):
    stranger = make.member(make.org(), "stranger")
    response = admin.post("/services/desk/members/add", data={
        "csrf_token": csrf_token(admin, "/services/desk/members"), "member_id": stranger.id, "role": "agent"})
    assert response.status_code == 404
    with app.app_context():
        assert db.session.scalars(select(ServiceMember)).first() is None


def test_adding_someone_twice_is_refused(org, desk, make, admin, app):
    agent = make.member(org, "agt")
    make.place(desk, agent)
    admin.post("/services/desk/members/add", headers=EN, data={
        "csrf_token": csrf_token(admin, "/services/desk/members"), "member_id": agent.id, "role": "manager"})
    page = admin.get("/services/desk/members", headers=EN).get_data(as_text=True)
    assert "is already in Desk" in page
    with app.app_context():
        assert db.session.scalars(select(ServiceMember)).one().role.value == "agent"


# -- personal settings ------------------------------------------------------------------------------------

def test_personal_settings_opens_as_a_dialog_fragment(admin):
    fragment = admin.get("/me/settings", headers={**EN, "HX-Request": "true"}).get_data(as_text=True)
    assert "<html" not in fragment and "Change password" in fragment and 'id="dialog-title"' in fragment


def test_profile_name_and_phone_are_saved_and_a_bad_phone_is_refused(admin, app):
    token = csrf_token(admin, "/me/settings")
    bad = admin.post("/me/settings/profile", data={"csrf_token": token, "name": "Boss", "phone": "call me"}, headers=EN)
    assert bad.status_code == 422 and "A phone number has digits" in bad.get_data(as_text=True)
    ok = admin.post("/me/settings/profile", data={"csrf_token": token, "name": "Boss", "phone": "+82 10-1234-5678"})
    assert ok.status_code == 303
    with app.app_context():
        me = db.session.get(Member, admin.member.id)
        assert (me.name, me.phone) == ("Boss", "+82 10-1234-5678")


@pytest.mark.parametrize("current, new, confirm, message", [
    ("wrong-password-9", "another-pass-42", "another-pass-42", "The current password is not correct."),
    (PASSWORD, "short1", "short1", "Use at least 10 characters."),
    (PASSWORD, "onlyletterslong", "onlyletterslong", "Mix letters with digits or symbols."),
    (PASSWORD, "admin-is-me-123", "admin-is-me-123", "must not contain your login ID"),
    (PASSWORD, "another-pass-42", "another-pass-43", "The two passwords differ."),
    (PASSWORD, PASSWORD, PASSWORD, "different from the current one"),
])
def test_a_bad_password_change_is_refused(admin, app, current, new, confirm, message):
    response = admin.post("/me/settings/password", headers=EN, data={
        "csrf_token": csrf_token(admin, "/me/settings"), "current": current, "new": new, "confirm": confirm})
    assert response.status_code == 422 and message in response.get_data(as_text=True)
    assert Auth(app.test_client()).login(admin.member).status_code == 303  # the old password still works


def test_a_changed_password_replaces_the_old_one(admin, app):
    response = admin.post("/me/settings/password", data={
        "csrf_token": csrf_token(admin, "/me/settings"), "current": PASSWORD, "new": "fresh-secret-77",
        "confirm": "fresh-secret-77"})
    assert response.status_code == 303
    assert Auth(app.test_client()).login(admin.member).status_code == 401
    assert Auth(app.test_client()).login(admin.member, password="fresh-secret-77").status_code == 303


def test_settings_forms_stay_in_the_dialog_on_error_and_reload_on_success(admin):
    token = csrf_token(admin, "/me/settings")
    hx = {**EN, "HX-Request": "true", "X-CSRFToken": token}
    wrong = admin.post("/me/settings/password", headers=hx, data={"current": "nope-nope-1", "new": "fresh-secret-77",
                                                                  "confirm": "fresh-secret-77"})
    body = wrong.get_data(as_text=True)
    assert wrong.status_code == 422 and "<html" not in body and 'id="settings-root"' in body
    assert "The current password is not correct." in body
    saved = admin.post("/me/settings/profile", headers=hx, data={"name": "Boss", "phone": ""})
    assert saved.status_code == 204 and saved.headers["HX-Redirect"] == "/me/settings"


def test_an_invitation_sent_from_the_dialog_reloads_the_list(admin, smtp):
    response = admin.post("/admin/org-admins/invite", headers={"HX-Request": "true", "X-CSRFToken": csrf_token(admin, "/admin/org-admins")},
                          data={"name": "New Hire", "login_id": "newhire", "email": "new.hire@example.com"})
    assert response.status_code == 204 and response.headers["HX-Redirect"] == "/admin/org-admins"


def test_service_member_search_results_are_paginated(org, desk, make, admin):
    for i in range(22):
        make.member(org, f"cand{i:02d}", name=f"Candidate {i:02d}")
    first = admin.get("/services/desk/members/search?name=cand", headers={**EN, "HX-Request": "true"}).get_data(as_text=True)
    assert "Page 1 of 2" in first and "/services/desk/members/search?page=2" in first.replace("&amp;", "&")
    second = admin.get("/services/desk/members/search?name=cand&page=2", headers={**EN, "HX-Request": "true"})
    assert second.get_data(as_text=True).count('name="member_id"') == 2
