"""Invitation links: single use, expiring, and a clear page for every bad link."""
from datetime import timedelta

from portal.extensions import db
from portal.models import Invitation, Member, MemberStatus
from portal.models.base import utcnow
from portal.services.accounts import create_invitation
from tests.conftest import csrf_token


def _invite(app, make):
    org = make.org()
    member = make.member(org, "newbie", name="New Bie", password=None)
    with app.app_context():
        token = create_invitation(db.session.get(Member, member.id))
        db.session.commit()
    return member, token


def _accept(client, token, password="fresh-pass-123", confirm=None):
    return client.post(f"/invite/{token}", data={
        "csrf_token": csrf_token(client, f"/invite/{token}"), "password": password, "confirm": confirm or password,
    })


def test_following_the_link_and_setting_a_password_activates_and_logs_in(client, app, make):
    member, token = _invite(app, make)
    page = client.get(f"/invite/{token}")
    assert page.status_code == 200 and "New Bie" in page.get_data(as_text=True)
    response = _accept(client, token)
    assert response.status_code == 303
    assert client.get("/me/settings").status_code == 200
    with app.app_context():
        assert db.session.get(Member, member.id).status == MemberStatus.active


def test_a_used_link_cannot_be_used_again(client, app, make):
    _, token = _invite(app, make)
    _accept(client, token)
    other = app.test_client()
    response = other.get(f"/invite/{token}")
    assert response.status_code == 410
    assert "이미 사용된" in response.get_data(as_text=True)


def test_an_expired_link_says_so(client, app, make):
    member, token = _invite(app, make)
    with app.app_context():
        invitation = db.session.scalars(db.select(Invitation)).one()
        invitation.expires_at = utcnow() - timedelta(minutes=1)
        db.session.commit()
    response = client.get(f"/invite/{token}", headers={"Accept-Language": "en"})
    assert response.status_code == 410 and "expired" in response.get_data(as_text=True)


def test_a_forged_link_is_a_clear_404(client):
    response = client.get("/invite/forged-token", headers={"Accept-Language": "en"})
    assert response.status_code == 404
    assert "not valid" in response.get_data(as_text=True)


def test_a_new_invitation_replaces_the_old_link(client, app, make):
    member, old = _invite(app, make)
    with app.app_context():
        create_invitation(db.session.get(Member, member.id))
        db.session.commit()
    assert client.get(f"/invite/{old}").status_code == 410


def test_a_weak_or_mismatched_password_keeps_the_member_invited(client, app, make):
    member, token = _invite(app, make)
    weak = _accept(client, token, password="short")
    assert weak.status_code == 422
    mismatch = _accept(client, token, password="fresh-pass-123", confirm="fresh-pass-124")
    assert mismatch.status_code == 422
    with app.app_context():
        assert db.session.get(Member, member.id).status == MemberStatus.invited
