"""The member's own pages: personal settings, My performance, CTI log download, the current service."""
from flask import flash, redirect, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user

from portal.access import member_required
from portal.blueprints.me import bp
from portal.blueprints.me.forms import PasswordForm, ProfileForm
from portal.blueprints.placeholder import coming_soon
from portal.extensions import db
from portal.htmx import is_htmx, render
from portal.layout import SESSION_SERVICE_KEY, my_services
from portal.models import Service
from portal.services import ServiceError, accounts
from portal.tenancy import get_or_404


def _settings(profile=None, password=None, status=200):
    profile = profile or ProfileForm(obj=current_user)
    return render("me/settings.html", partial="me/_settings.html", profile=profile,
                  password=password or PasswordForm()), status


def _saved():
    """After a save, a whole page with the message (htmx is told to load it rather than fill the dialog)."""
    if is_htmx():
        return "", 204, {"HX-Redirect": url_for("me.settings")}
    return redirect(url_for("me.settings"), code=303)


@bp.get("/settings")
@member_required
def settings():
    return _settings()


@bp.post("/settings/profile")
@member_required
def profile():
    form = ProfileForm()
    if form.validate_on_submit():
        try:
            accounts.update_profile(current_user, name=form.name.data, phone=form.phone.data or "")
        except ServiceError as exc:
            db.session.rollback()
            (form.phone if exc.code == "bad_phone" else form.name).errors = [exc.message]
        else:
            db.session.commit()
            flash(_("Your profile is saved."), "success")
            return _saved()
    return _settings(profile=form, status=422)


@bp.post("/settings/password")
@member_required
def password():
    form = PasswordForm()
    if form.validate_on_submit():
        try:
            accounts.change_password(current_user, current=form.current.data, new=form.new.data)
        except ServiceError as exc:
            db.session.rollback()
            (form.current if exc.code == "wrong_password" else form.new).errors = [exc.message]
        else:
            db.session.commit()
            flash(_("Your password is changed."), "success")
            return _saved()
    return _settings(password=form, status=422)


@bp.get("/performance")
@member_required
def performance():
    return coming_soon(_("My performance"), admin=False)


@bp.get("/cti-logs")
@member_required
def cti_logs():
    return coming_soon(_("CTI log download"), admin=False)


@bp.post("/current-service")
@member_required
def switch_service():
    """Agents work in one service at a time; the choice lives in the session."""
    key = request.form.get("service_key", "")
    service = get_or_404(Service, service_key=key)
    if service not in my_services():
        flash(_("You are not a member of %(name)s, or it is not active.", name=service.name), "error")
        return redirect(url_for("home.index"), code=303)
    session[SESSION_SERVICE_KEY] = service.service_key
    return redirect(url_for("workspace.index", service_key=service.service_key), code=303)
