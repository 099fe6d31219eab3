"""Org admins (조직관리자): the list, inviting members, adding and removing org admins."""
from flask import current_app, flash, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from portal.access import org_admin_required
from portal.blueprints.actions import act, attempt, current_actor, leave_dialog
from portal.blueprints.org_admins import bp
from portal.blueprints.org_admins.forms import InviteForm, RevokeForm
from portal.forms import ConfirmForm
from portal.extensions import db
from portal.htmx import render
from portal.models import Member, MemberStatus
from portal.params import page_arg
from portal.services import ServiceError
from portal.services import accounts, permissions
from portal.services.mail import send_mail
from portal.tenancy import get_or_404, scoped
from portal.transactions import after_commit

INVITE_ERROR_FIELDS = {"bad_login_id": "login_id", "login_taken": "login_id", "bad_email": "email",
                       "email_taken": "email", "bad_name": "name"}


def _mail_invitation(member: Member, token: str, sent: str, failed: str) -> None:
    """Mail the link once the invitation is committed (never one rolled back) and say whether it went: a mail
    failure is reported, not hidden, and the invitation can be resent."""
    to, (subject, body) = member.email, accounts.invitation_mail(member, url_for("auth.invite", token=token,
                                                                                 _external=True))

    def send() -> None:
        try:
            send_mail(to, subject, body)
        except Exception:  # SMTP trouble of any kind: the invitation exists and can be resent
            current_app.logger.exception("invitation mail to %s failed", to)
            flash(failed, "error")
        else:
            flash(sent, "success")

    after_commit(send)


@bp.get("")
@org_admin_required
def index():
    admins = list(db.session.scalars(scoped(Member).where(Member.is_org_admin.is_(True)).order_by(Member.name)))
    invited = list(db.session.scalars(scoped(Member).where(Member.status == MemberStatus.invited).order_by(Member.name)))
    invitations = {m.id: accounts.latest_invitation(m) for m in invited}
    return render_template("org_admins/index.html", admins=admins, invited=invited, invitations=invitations,
                           form=ConfirmForm())


@bp.route("/invite", methods=["GET", "POST"])
@org_admin_required
def invite():
    form = InviteForm()
    if form.validate_on_submit():
        invited, refusal = attempt(lambda: accounts.invite_member(current_actor(), name=form.name.data,
                                                                  login_id=form.login_id.data, email=form.email.data))
        if refusal:
            field = getattr(form, INVITE_ERROR_FIELDS.get(refusal.code, "name"))
            field.errors = [refusal.message]
        else:
            member, token = invited
            _mail_invitation(member, token, _("An invitation was sent to %(email)s.", email=member.email),
                             _("%(name)s was added, but the invitation mail could not be sent. Try Resend.",
                               name=member.name))
            return leave_dialog(url_for("org_admins.index"))
    status = 422 if form.is_submitted() else 200
    return render("org_admins/invite.html", partial="org_admins/_invite.html", form=form), status


@bp.post("/invitations/<int:member_id>/resend")
@org_admin_required
def resend(member_id: int):
    member = get_or_404(Member, id=member_id)

    def resend_and_mail() -> None:
        token = accounts.resend_invitation(current_actor(), member)
        _mail_invitation(member, token,
                         _("A new invitation was sent to %(email)s. Earlier links no longer work.", email=member.email),
                         _("The invitation mail to %(email)s could not be sent. Try again later.", email=member.email))

    return act(resend_and_mail, None, url_for("org_admins.index"))


@bp.post("/invitations/<int:member_id>/revoke")
@org_admin_required
def revoke_invitation(member_id: int):
    member = get_or_404(Member, id=member_id)
    return act(lambda: accounts.revoke_invitation(current_actor(), member),
               _("The invitation of %(name)s is revoked. Its link no longer works.", name=member.name),
               url_for("org_admins.index"))


@bp.get("/add")
@org_admin_required
def add():
    """Add org admin: search members (HTMX live search), pick one."""
    return _search_page("org_admins/add.html")


@bp.get("/search")
@org_admin_required
def search():
    return _search_page("org_admins/add.html", partial="org_admins/_search_results.html")


def _search_page(template: str, partial: str | None = None):
    criteria = {k: request.args.get(k, "") for k in ("name", "login_id", "email")}
    page = page_arg()
    members, total, error = [], 0, None
    searched = any(v.strip() for v in criteria.values())
    if searched or partial:
        try:
            members, total = accounts.search_members(current_user.organization_id, page=page, only_not_admin=True,
                                                     **criteria)
        except ServiceError as exc:
            error = exc.message
    pages = max(1, -(-total // accounts.SEARCH_PAGE_SIZE))
    status = 400 if error and request.args.get("strict") else 200
    return render(template, partial=partial, members=members, total=total, page=page, pages=pages,
                  criteria=criteria, error=error, searched=searched, form=ConfirmForm()), status


@bp.post("/<int:member_id>/grant")
@org_admin_required
def grant(member_id: int):
    member = get_or_404(Member, id=member_id)
    return act(lambda: permissions.grant_org_admin(current_actor(), member),
               _("%(name)s is now an org admin.", name=member.name), url_for("org_admins.index"),
               refused_back=url_for("org_admins.add"))


@bp.route("/<int:member_id>/revoke", methods=["GET", "POST"])
@org_admin_required
def revoke(member_id: int):
    member = get_or_404(Member, id=member_id)
    form = RevokeForm()
    error = None
    if form.validate_on_submit():
        _revoked, refusal = attempt(lambda: permissions.revoke_org_admin(current_actor(), member,
                                                                         confirm_self=form.confirm_self.data))
        if refusal:
            error = refusal.message
        else:
            flash(_("%(name)s is no longer an org admin.", name=member.name), "success")
            return leave_dialog(url_for("org_admins.index") if member.id != current_user.id else url_for("home.index"))
    last = permissions.org_admin_count(current_user.organization_id) <= 1
    status = (409 if error and not form.confirm_self.errors else 422) if form.is_submitted() else 200
    return render("org_admins/revoke.html", partial="org_admins/_revoke.html", member=member, form=form,
                  error=error, last=last, is_self=member.id == current_user.id), status
