"""Logging in and out, and what a wrong attempt shows."""
from sqlalchemy import select

from portal.extensions import db
from portal.models import Member, MemberStatus
from tests.conftest import csrf_token
from tests.factories import PASSWORD


def test_admin_logs_in_and_lands_on_global_management(client, auth, make):
    org = make.org(domain="acme")
    admin = make.admin_of(org)
    response = auth.login(admin)
    assert response.status_code == 303
    page = client.get(response.headers["Location"], follow_redirects=True)
    assert page.request.path == "/admin/services"
    assert admin.name in page.get_data(as_text=True)


def test_agent_lands_in_the_workspace_of_its_service(client, auth, make):
    org = make.org()
    service = make.service(org, "helpdesk", name="Help Desk")
    agent = make.member(org, "agent")
    make.place(service, agent, "agent")
    auth.login(agent)
    page = client.get("/", follow_redirects=True)
    assert page.request.path == "/workspace/helpdesk"
    assert "Help Desk" in page.get_data(as_text=True)


def test_member_without_service_sees_a_clear_empty_state(client, auth, make):
    org = make.org()
    lonely = make.member(org, "lonely")
    auth.login(lonely)
    page = client.get("/", follow_redirects=True, headers={"Accept-Language": "en"})
    assert "You are not in any active service yet" in page.get_data(as_text=True)


def test_wrong_password_is_refused_with_a_message_and_no_session(client, auth, make):
    org = make.org()
    admin = make.admin_of(org)
    response = auth.login(admin, password="wrong-password-1")
    assert response.status_code == 401
    assert "조직, 로그인 ID 또는 비밀번호가 올바르지 않습니다" in response.get_data(as_text=True)
    assert client.get("/admin/services").status_code == 302


def test_unknown_login_and_unknown_organization_get_the_same_message(client, auth, make):
    org = make.org()
    admin = make.admin_of(org)
    wrong_password = auth.login(admin, password="wrong-password-1").get_data(as_text=True)
    ghost = type("Ghost", (), {"login_id": "ghost", "organization_id": org.id})
    unknown_login = auth.login(ghost, password=PASSWORD).get_data(as_text=True)
    unknown_org = auth.login(admin, domain="no-such-org").get_data(as_text=True)
    message = "조직, 로그인 ID 또는 비밀번호가 올바르지 않습니다"
    assert message in wrong_password and message in unknown_login and message in unknown_org


def test_disabled_member_cannot_log_in(client, auth, make, app):
    org = make.org()
    member = make.member(org, "gone", status=MemberStatus.disabled)
    response = auth.login(member)
    assert response.status_code == 401
    assert "비활성화된 계정" in response.get_data(as_text=True)


def test_disabled_member_loses_an_open_session(client, auth, make, app):
    org = make.org()
    member = make.member(org, "soon-gone")
    auth.login(member)
    assert client.get("/me/settings").status_code == 200
    with app.app_context():
        db.session.get(Member, member.id).status = MemberStatus.disabled
        db.session.commit()
    assert client.get("/me/settings").status_code == 302


def test_login_without_csrf_token_is_refused_and_changes_nothing(client, make, app):
    org = make.org()
    admin = make.admin_of(org)
    response = client.post("/login", data={"organization": org.domain, "login_id": admin.login_id, "password": PASSWORD})
    assert response.status_code == 400
    assert "양식이 만료" in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(Member, admin.id).last_login_at is None


def test_login_with_a_forged_csrf_token_is_refused(client, make):
    org = make.org()
    admin = make.admin_of(org)
    response = client.post("/login", data={
        "csrf_token": "forged", "organization": org.domain, "login_id": admin.login_id, "password": PASSWORD,
    })
    assert response.status_code == 400


def test_empty_login_form_says_what_is_missing(client):
    response = client.post("/login", data={"csrf_token": csrf_token(client)}, headers={"Accept-Language": "en"})
    assert response.status_code == 401
    assert "Enter the organization, login ID and password." in response.get_data(as_text=True)


def test_login_records_the_time_and_sets_a_safe_session_cookie(client, auth, make, app):
    org = make.org()
    admin = make.admin_of(org)
    response = auth.login(admin)
    cookie = next(h for h in response.headers.getlist("Set-Cookie") if h.startswith("session="))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    with app.app_context():
        assert db.session.get(Member, admin.id).last_login_at is not None


def test_login_redirects_to_next_but_never_off_site(client, make):
    org = make.org()
    admin = make.admin_of(org)
    for target, expected in (("/me/settings", "/me/settings"), ("https://evil.example/", "/"), ("//evil.example", "/")):
        c = client.application.test_client()
        token = csrf_token(c)
        response = c.post("/login", data={
            "csrf_token": token, "organization": org.domain, "login_id": admin.login_id,
            "password": PASSWORD, "next": target,
        })
        assert response.headers["Location"] == expected


def test_anonymous_member_page_redirects_to_login_with_next(client):
    response = client.get("/admin/org-admins")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")


def test_logout_ends_the_session(client, auth, make):
    org = make.org()
    auth.login(make.admin_of(org))
    assert client.get("/admin/services").status_code == 200
    response = auth.logout()
    assert response.status_code == 303
    assert client.get("/admin/services").status_code == 302


def test_logout_by_plain_link_only_asks_for_confirmation(client, auth, make):
    org = make.org()
    auth.login(make.admin_of(org))
    assert client.get("/logout").status_code == 200
    assert client.get("/admin/services").status_code == 200


def test_repeated_failed_logins_for_one_account_are_throttled(client, auth, make):
    org = make.org()
    admin = make.admin_of(org)
    statuses = [auth.login(admin, password=f"wrong-password-{i}").status_code for i in range(6)]
    assert statuses[:5] == [401] * 5
    assert statuses[5] == 429
    # Even the right password waits until the window passes.
    blocked = auth.login(admin)
    assert blocked.status_code == 429
    assert "로그인 시도가 너무 많습니다" in blocked.get_data(as_text=True)


def test_throttling_one_account_leaves_other_accounts_alone(client, auth, make):
    org = make.org()
    admin = make.admin_of(org)
    other = make.member(org, "other")
    for i in range(6):
        auth.login(admin, password=f"wrong-password-{i}")
    assert auth.login(other).status_code == 303


def test_successful_logins_do_not_count_toward_the_limit(app, make):
    org = make.org()
    admin = make.admin_of(org)
    from tests.conftest import Auth

    for _ in range(7):
        c = app.test_client()
        assert Auth(c).login(admin).status_code == 303


def test_one_address_trying_many_accounts_is_throttled(app, client, auth, make):
    org = make.org()
    app.config["LOGIN_LIMIT_PER_IP"] = "3 per minute"
    try:
        ghosts = [type("G", (), {"login_id": f"ghost{i}", "organization_id": org.id}) for i in range(4)]
        statuses = [auth.login(g, domain=org.domain).status_code for g in ghosts]
    finally:
        app.config["LOGIN_LIMIT_PER_IP"] = "30 per 5 minutes"
    assert statuses == [401, 401, 401, 429]


def test_login_ids_are_case_insensitive(client, auth, make, app):
    org = make.org()
    member = make.member(org, "mixed")
    member.login_id = "MiXeD"
    assert auth.login(member).status_code == 303


def test_organization_is_taken_from_the_host_name(app, make):
    org = make.org(domain="acme")
    admin = make.admin_of(org)
    c = app.test_client()
    page = c.get("/login", base_url="http://acme.localhost")
    html = page.get_data(as_text=True)
    assert 'name="organization" value="acme"' in html
    assert 'id="organization"' not in html  # no field to fill in


def test_same_login_id_in_two_organizations_logs_into_the_right_one(app, make):
    one, two = make.org(domain="one"), make.org(domain="two")
    m1 = make.member(one, "sam", name="Sam One")
    m2 = make.member(two, "sam", name="Sam Two")
    from tests.conftest import Auth

    c = app.test_client()
    Auth(c).login(m2)
    assert "Sam Two" in c.get("/me/settings").get_data(as_text=True)
    with app.app_context():
        assert db.session.scalars(select(Member).filter_by(login_id="sam")).all().__len__() == 2
