"""The UI language: member's choice, else cookie, else Accept-Language, else Korean."""
from portal.extensions import db
from portal.models import Member
from tests.conftest import csrf_token


def test_korean_is_the_default(client):
    assert "로그인" in client.get("/login").get_data(as_text=True)


def test_accept_language_picks_english(client):
    html = client.get("/login", headers={"Accept-Language": "en-US,en;q=0.9"}).get_data(as_text=True)
    assert '<html lang="en">' in html and "Log in" in html


def test_anonymous_visitor_switches_language_with_a_cookie(client):
    response = client.post("/language", data={"csrf_token": csrf_token(client), "code": "en", "next": "/login"})
    assert response.status_code == 303 and response.headers["Location"] == "/login"
    assert '<html lang="en">' in client.get("/login").get_data(as_text=True)


def test_member_language_wins_over_the_browser_and_is_saved(client, auth, make, app):
    org = make.org()
    member = make.member(org, "eng")
    auth.login(member)
    client.post("/language", data={"csrf_token": csrf_token(client), "code": "en"})
    with app.app_context():
        assert db.session.get(Member, member.id).ui_language == "en"
    html = client.get("/me/settings", headers={"Accept-Language": "ko"}).get_data(as_text=True)
    assert '<html lang="en">' in html and "Personal settings" in html
    client.post("/language", data={"csrf_token": csrf_token(client), "code": "ko"})
    assert "개인정보설정" in client.get("/me/settings", headers={"Accept-Language": "en"}).get_data(as_text=True)


def test_unknown_language_code_is_refused_in_the_current_language(client, auth, make, app):
    org = make.org()
    member = make.member(org, "picky", ui_language="en")
    auth.login(member)
    response = client.post("/language", data={"csrf_token": csrf_token(client), "code": "xx"})
    assert response.status_code == 400
    assert "The language xx is not available." in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(Member, member.id).ui_language == "en"


def test_language_switch_never_redirects_off_site(client):
    response = client.post("/language", data={"csrf_token": csrf_token(client), "code": "en",
                                              "next": "https://evil.example/"})
    assert response.headers["Location"] == "/"
