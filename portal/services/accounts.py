"""Log-in, members and invitations."""
from __future__ import annotations

import hashlib
import re
import secrets
from datetime import timedelta

from email_validator import EmailNotValidError, validate_email
from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import func, select

from portal.config import SUPPORTED_LOCALES
from portal.extensions import db
from portal.models import Invitation, Member, MemberStatus, Organization
from portal.models.base import utcnow
from portal.services import ServiceError, activity
from portal.services.passwords import check_strength, hash_password, verify_password

LOGIN_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{1,63}$")
PHONE_RE = re.compile(r"^\+?[0-9][0-9 \-]{2,31}$")


def normalise_login_id(login_id: str) -> str:
    return login_id.strip().lower()


def find_organization(domain: str) -> Organization | None:
    return db.session.scalars(select(Organization).where(Organization.domain == domain.strip().lower())).first()


def authenticate(org_domain: str, login_id: str, password: str) -> Member:
    """Return the active member with these credentials. Unknown organization, unknown login and wrong
    password give the same message, so the form never confirms that an account exists."""
    org = find_organization(org_domain)
    member = None
    if org is not None:
        member = db.session.scalars(
            select(Member).where(Member.organization_id == org.id, Member.login_id == normalise_login_id(login_id))
        ).first()
    if not verify_password(member.password_hash if member else None, password):
        raise ServiceError(_("The organization, login ID or password is incorrect."), "bad_credentials")
    if member.status == MemberStatus.disabled:
        raise ServiceError(_("This account is disabled. Ask your organization admin."), "disabled")
    if member.status != MemberStatus.active:
        raise ServiceError(_("This account is not activated yet. Use the link in your invitation e-mail."), "invited")
    member.last_login_at = utcnow()
    return member


SESSION_ID_RE = re.compile(r"^(\d{1,10})(?:\.(\d{1,10}))?$")


def member_for_session(session_id: str) -> Member | None:
    """The member a session (or remember cookie) belongs to, only while the generation stamped into it at
    log-in is still the member's: `end_sessions` raising it ends every earlier session for good, even a
    copied cookie. A bare id (a session from before generations) counts as generation 0."""
    match = SESSION_ID_RE.match(session_id or "")
    if match is None:
        return None
    member = db.session.get(Member, int(match.group(1)))
    if member is None or member.session_generation != int(match.group(2) or 0):
        return None
    return member


def end_sessions(member: Member) -> None:
    """Every session of the member ends, on every device: on log-out, on a password change (the changer's
    own session logs in again with the new generation) and when the member is disabled."""
    member.session_generation = Member.session_generation + 1  # in SQL: two requests at once both count
    db.session.flush()


def validate_new_member(organization_id: int, login_id: str, email: str) -> tuple[str, str]:
    login_id = normalise_login_id(login_id)
    if not LOGIN_ID_RE.match(login_id):
        raise ServiceError(
            _("A login ID is 2–64 letters, digits or . _ @ - and starts with a letter or digit."), "bad_login_id"
        )
    try:
        email = validate_email(email.strip(), check_deliverability=False).normalized
    except EmailNotValidError:
        raise ServiceError(_("Enter a valid e-mail address."), "bad_email") from None
    taken = db.session.scalars(
        select(Member).where(
            Member.organization_id == organization_id,
            (Member.login_id == login_id) | (func.lower(Member.email) == email.lower()),
        )
    ).first()
    if taken is not None:
        if taken.login_id == login_id:
            raise ServiceError(_("The login ID %(login)s is already in use.", login=login_id), "login_taken")
        raise ServiceError(_("The e-mail address %(email)s is already in use.", email=email), "email_taken")
    return login_id, email


def create_member(
    organization_id: int,
    *,
    login_id: str,
    name: str,
    email: str,
    password: str | None = None,
    is_org_admin: bool = False,
    phone: str | None = None,
) -> Member:
    """Create a member; with a password it is active at once, otherwise it waits for an invitation."""
    login_id, email = validate_new_member(organization_id, login_id, email)
    member = Member(
        organization_id=organization_id,
        login_id=login_id,
        name=name.strip(),
        email=email,
        phone=phone,
        is_org_admin=is_org_admin,
        status=MemberStatus.invited,
    )
    if password is not None:
        check_strength(password, login_id)
        member.password_hash = hash_password(password)
        member.status = MemberStatus.active
    db.session.add(member)
    db.session.flush()
    return member


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_invitation(member: Member) -> str:
    """Open a new invitation for an invited member, revoking earlier ones; returns the raw token (kept nowhere)."""
    if member.status != MemberStatus.invited:
        raise ServiceError(_("%(name)s has already activated the account.", name=member.name), "not_invited")
    now = utcnow()
    for old in db.session.scalars(
        select(Invitation).where(Invitation.member_id == member.id, Invitation.used_at.is_(None))
    ):
        old.revoked_at = old.revoked_at or now
    token = secrets.token_urlsafe(32)
    ttl = timedelta(hours=current_app.config["INVITATION_TTL_HOURS"])
    db.session.add(
        Invitation(
            organization_id=member.organization_id,
            member_id=member.id,
            token_hash=_token_hash(token),
            expires_at=now + ttl,
        )
    )
    db.session.flush()
    return token


def open_invitation(token: str) -> Invitation:
    """The invitation behind a link, if it can still be used; otherwise a message saying why not."""
    invitation = db.session.scalars(select(Invitation).where(Invitation.token_hash == _token_hash(token))).first()
    if invitation is None:
        raise ServiceError(_("This invitation link is not valid. Ask your organization admin for a new one."), "bad_token")
    if invitation.used_at is not None:
        raise ServiceError(_("This invitation link has already been used. Log in with your password."), "used")
    if invitation.revoked_at is not None:
        raise ServiceError(_("This invitation link was replaced or revoked. Use the newest e-mail."), "revoked")
    if invitation.expires_at <= utcnow():
        raise ServiceError(_("This invitation link has expired. Ask your organization admin to resend it."), "expired")
    return invitation


def accept_invitation(token: str, password: str) -> Member:
    """Set the password of an invited member and activate it; the link cannot be used again."""
    invitation = open_invitation(token)
    member = invitation.member
    check_strength(password, member.login_id)
    member.password_hash = hash_password(password)
    member.status = MemberStatus.active
    invitation.used_at = utcnow()
    db.session.flush()
    return member


def invitation_mail(member: Member, link: str) -> tuple[str, str]:
    """The invitation in the current language: mail is written in its recipient's language, and an invited member
    has chosen none yet, so it is the inviter's (who knows them; the CLI's: the home language)."""
    subject = _("You are invited to %(org)s", org=member.organization.name)
    body = _(
        "Hello %(name)s,\n\nYou have been invited to the contact center portal of %(org)s.\n"
        "Your login ID is %(login)s. Set your password here (the link works once and expires in %(hours)d hours):\n\n"
        "%(link)s\n",
        name=member.name,
        org=member.organization.name,
        login=member.login_id,
        hours=current_app.config["INVITATION_TTL_HOURS"],
        link=link,
    )
    return subject, body


def require_supported(code: str) -> str:
    """A UI language the portal has (ko, en), or a refusal naming the code asked for."""
    code = (code or "").strip().lower()
    if code not in SUPPORTED_LOCALES:
        raise ServiceError(_("The language %(code)s is not available.", code=code or "?"), "bad_language")
    return code


def set_ui_language(member: Member, code: str) -> None:
    member.ui_language = require_supported(code)


# -- inviting members -------------------------------------------------------------------------------------------

def invite_member(actor, *, name: str, login_id: str, email: str) -> tuple[Member, str]:
    """A new member in state invited, with a single-use link (returned as a raw token for the e-mail)."""
    name = (name or "").strip()
    if not name:
        raise ServiceError(_("Enter the name."), "bad_name")
    if len(name) > 100:
        raise ServiceError(_("The name is at most 100 characters."), "bad_name")
    member = create_member(actor.organization_id, login_id=login_id, name=name, email=email)
    token = create_invitation(member)
    activity.record(actor.organization_id, actor.member_id, "member.invited", subject_type="member",
                    subject_id=member.id, subject_label=f"{member.name} ({member.login_id})", ip=actor.ip)
    return member, token


def resend_invitation(actor, member: Member) -> str:
    """A fresh link; earlier links of this member stop working."""
    token = create_invitation(member)
    activity.record(actor.organization_id, actor.member_id, "member.invitation_resent", subject_type="member",
                    subject_id=member.id, subject_label=f"{member.name} ({member.login_id})", ip=actor.ip)
    return token


def revoke_invitation(actor, member: Member) -> None:
    """Every open link of the member stops working; the member stays invited and can be invited again."""
    if member.status != MemberStatus.invited:
        raise ServiceError(_("%(name)s has already activated the account.", name=member.name), "not_invited")
    now = utcnow()
    for invitation in db.session.scalars(
        select(Invitation).where(Invitation.member_id == member.id, Invitation.used_at.is_(None),
                                 Invitation.revoked_at.is_(None))
    ):
        invitation.revoked_at = now
    activity.record(actor.organization_id, actor.member_id, "member.invitation_revoked", subject_type="member",
                    subject_id=member.id, subject_label=f"{member.name} ({member.login_id})", ip=actor.ip)


def latest_invitation(member: Member) -> Invitation | None:
    return db.session.scalars(
        select(Invitation).where(Invitation.member_id == member.id).order_by(Invitation.id.desc()).limit(1)
    ).first()


# -- finding members --------------------------------------------------------------------------------------------

SEARCH_PAGE_SIZE = 20


def search_members(organization_id: int, *, name: str = "", login_id: str = "", email: str = "", page: int = 1,
                   exclude_ids=None, only_not_admin: bool = False) -> tuple[list[Member], int]:
    """Members matching every given criterion (substring, case-insensitive), by name. At least one is needed."""
    name, login_id, email = (name or "").strip(), (login_id or "").strip(), (email or "").strip()
    if not (name or login_id or email):
        raise ServiceError(_("Enter a name, login ID or e-mail to search."), "no_criterion")
    if len(name) > 100 or len(login_id) > 64 or len(email) > 254:
        return [], 0  # longer than the column: nothing matches (and SQLite refuses a LIKE pattern past 50 KB)
    query = select(Member).where(Member.organization_id == organization_id, Member.status != MemberStatus.disabled)
    for column, value in ((Member.name, name), (Member.login_id, login_id), (Member.email, email)):
        if value:
            query = query.where(func.lower(column).contains(value.lower(), autoescape=True))
    if exclude_ids is not None:
        query = query.where(Member.id.not_in(exclude_ids))
    if only_not_admin:
        query = query.where(Member.is_org_admin.is_(False))
    total = db.session.scalar(select(func.count()).select_from(query.subquery()))
    members = list(db.session.scalars(
        query.order_by(Member.name, Member.id).limit(SEARCH_PAGE_SIZE).offset((max(page, 1) - 1) * SEARCH_PAGE_SIZE)))
    return members, total


# -- personal settings ------------------------------------------------------------------------------------------

def update_profile(member: Member, *, name: str, phone: str) -> Member:
    name, phone = (name or "").strip(), (phone or "").strip()
    if not name:
        raise ServiceError(_("Enter the name."), "bad_name")
    if len(name) > 100:
        raise ServiceError(_("The name is at most 100 characters."), "bad_name")
    if phone and not PHONE_RE.match(phone):
        raise ServiceError(_("A phone number has digits, spaces, + and - only (at most 32)."), "bad_phone")
    member.name, member.phone = name, phone or None
    return member


def change_password(member: Member, *, current: str, new: str) -> Member:
    """The current password is required; the new one must pass the strength rule and differ from it. Every
    session of the member ends; the caller logs the changer's own session in again."""
    if not verify_password(member.password_hash, current or ""):
        raise ServiceError(_("The current password is not correct."), "wrong_password")
    if new == current:
        raise ServiceError(_("Choose a password different from the current one."), "same_password")
    check_strength(new or "", member.login_id, member.name)
    member.password_hash = hash_password(new)
    end_sessions(member)  # a stolen session must not outlive the password it was opened with
    return member
