"""A session lives until log-out or a password change: the member's session generation, stamped at log-in."""
import pytest
from flask_login.utils import encode_cookie

from portal.extensions import db
from portal.models import Member
from tests.conftest import csrf_token
from tests.factories import PASSWORD

NEW_PASSWORD = "brand-new-pass-42"


def _copy_session(source, app):
    """A second browser holding a copy of `source`'s session cookie (as a thief would)."""
    thief = app.test_client()
    thief.set_cookie("session", source.get_cookie("session").value)
    return thief


def test_a_session_cookie_copied_before_log_out_is_dead_after_it(client, auth, make, app):
    member = make.member(make.org(), "leaky")
    auth.login(member)
    thief = _copy_session(client, app)
    assert thief.get("/me/settings").status_code == 200
    response = auth.logout()
    assert response.status_code == 303
    assert thief.get("/me/settings").status_code == 302
    assert auth.login(member).status_code == 303  # logging in again works, with a new session
    assert client.get("/me/settings").status_code == 200
    assert thief.get("/me/settings").status_code == 302


@pytest.mark.parametrize("language, message", [("en", "You have been logged out on every device."),
                                               ("ko", "모든 기기에서 로그아웃되었습니다.")])
def test_log_out_says_it_ends_every_device(client, auth, make, language, message):
    auth.login(make.member(make.org(), "bye"))
    response = client.post("/logout", data={"csrf_token": csrf_token(client, "/logout")},
                           headers={"Accept-Language": language})
    assert message in client.get(response.headers["Location"]).get_data(as_text=True)


def test_a_password_change_ends_the_other_sessions_and_keeps_this_one(login_as, make, app):
    member = make.member(make.org(), "mover")
    laptop, phone = login_as(member), login_as(member)
    response = laptop.post("/me/settings/password", data={
        "csrf_token": csrf_token(laptop, "/me/settings"), "current": PASSWORD, "new": NEW_PASSWORD,
        "confirm": NEW_PASSWORD,
    }, headers={"Accept-Language": "en"})
    assert response.status_code == 303
    page = laptop.get("/me/settings", headers={"Accept-Language": "en"})
    assert page.status_code == 200
    assert "You stay logged in here; other devices are logged out." in page.get_data(as_text=True)
    assert phone.get("/me/settings").status_code == 302


def test_a_refused_password_change_ends_no_session(login_as, make):
    member = make.member(make.org(), "clumsy")
    laptop, phone = login_as(member), login_as(member)
    response = laptop.post("/me/settings/password", data={
        "csrf_token": csrf_token(laptop, "/me/settings"), "current": "not-my-password-1", "new": NEW_PASSWORD,
        "confirm": NEW_PASSWORD,
    })
    assert response.status_code == 422
    assert laptop.get("/me/settings").status_code == 200 and phone.get("/me/settings").status_code == 200


def test_a_remember_cookie_obeys_the_generation_too(make, app):
    from portal.services.accounts import end_sessions

    member = make.member(make.org(), "remembered")
    with app.test_request_context():
        cookie = encode_cookie(db.session.get(Member, member.id).get_id())
    browser = app.test_client()
    browser.set_cookie(app.config.get("REMEMBER_COOKIE_NAME", "remember_token"), cookie)
    assert browser.get("/me/settings").status_code == 200  # a valid remember cookie logs in
    with app.app_context():
        end_sessions(db.session.get(Member, member.id))
        db.session.commit()
    browser = app.test_client()
    browser.set_cookie(app.config.get("REMEMBER_COOKIE_NAME", "remember_token"), cookie)
    assert browser.get("/me/settings").status_code == 302


def test_session_ids_that_are_not_a_member_and_generation_load_nobody(make, app):
    from portal.services.accounts import member_for_session

    member = make.member(make.org(), "odd")
    with app.app_context():
        assert member_for_session(f"{member.id}.0").id == member.id
        assert member_for_session(str(member.id)).id == member.id  # a session from before generations
        for odd in (f"{member.id}.1", f"{member.id}.", "", "x", f"{member.id}.0.0", "9" * 30, f"{member.id}.-1"):
            assert member_for_session(odd) is None, odd


def test_an_htmx_request_of_an_ended_session_takes_the_whole_page_to_log_in_and_back(login_as, make, app):
    member = make.member(make.org(), "polled")
    laptop, phone = login_as(member), login_as(member)
    token = csrf_token(phone, "/me/settings")
    laptop.post("/logout", data={"csrf_token": csrf_token(laptop, "/logout")})
    response = phone.post("/agent/state", data={"channel": "phone", "state": "ready"}, headers={
        "HX-Request": "true", "X-CSRFToken": token, "HX-Current-URL": "http://localhost/me/settings?tab=1"})
    assert response.status_code == 401  # not the log-in page swapped into the top bar
    assert response.headers["HX-Redirect"] == "/login?next=%2Fme%2Fsettings%3Ftab%3D1"
    off_site = phone.get("/agent/phone", headers={"HX-Request": "true", "HX-Current-URL": "https://evil.example/x"})
    assert off_site.status_code == 401 and off_site.headers["HX-Redirect"] == "/login"
    plain = phone.get("/me/settings")
    assert plain.status_code == 302 and plain.headers["Location"] == "/login?next=%2Fme%2Fsettings"
