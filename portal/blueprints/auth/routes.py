from flask import current_app, flash, make_response, redirect, render_template, request, session, url_for
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user

from portal.access import member_required, public
from portal.blueprints.auth import bp
from portal.blueprints.auth.forms import LanguageForm, LoginForm, SetPasswordForm
from portal.errors import render_error
from portal.extensions import limiter
from portal.htmx import is_htmx
from portal.i18n import LANGUAGE_COOKIE, language_choices
from portal.redirects import safe_next, safe_referrer
from portal.services import ServiceError
from portal.services.accounts import (
    accept_invitation,
    authenticate,
    end_sessions,
    open_invitation,
    require_supported,
    set_ui_language,
)
from portal.services.agent_states import go_offline

ORG_COOKIE = "portal_org"
YEAR = 365 * 24 * 3600


def organization_from_host() -> str | None:
    """`acme.portal.example` names the organization `acme` when PORTAL_BASE_DOMAIN is `portal.example`."""
    host = request.host.split(":")[0].lower()
    suffix = "." + current_app.config["PORTAL_BASE_DOMAIN"].lower()
    if host.endswith(suffix) and host != suffix[1:]:
        return host[: -len(suffix)]
    return None


def _account_key() -> str:
    return "login:{}:{}".format(
        request.form.get("organization", "").strip().lower(), request.form.get("login_id", "").strip().lower()
    )


def _failed(response) -> bool:
    return response.status_code != 303


def _login_form() -> LoginForm:
    form = LoginForm()
    if not form.is_submitted():
        form.organization.data = organization_from_host() or request.cookies.get(ORG_COOKIE, "")
        form.next.data = safe_next(request.args.get("next")) or ""
    return form


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["LOGIN_LIMIT_PER_IP"], methods=["POST"], deduct_when=_failed)
@limiter.limit(
    lambda: current_app.config["LOGIN_LIMIT_PER_ACCOUNT"], key_func=_account_key, methods=["POST"], deduct_when=_failed
)
@public
def login():
    if current_user.is_authenticated:
        return redirect(url_for("home.index"))
    form = _login_form()
    error = None
    if form.validate_on_submit():
        try:
            member = authenticate(form.organization.data, form.login_id.data, form.password.data)
        except ServiceError as exc:
            error = exc.message
        else:
            session.clear()  # no pre-login session state survives into the member's session
            login_user(member)
            response = redirect(safe_next(form.next.data) or url_for("home.index"), code=303)
            response.set_cookie(ORG_COOKIE, member.organization.domain, max_age=YEAR, httponly=True, samesite="Lax")
            return response
    elif form.is_submitted():
        error = _("Enter the organization, login ID and password.")
    status = 401 if error else 200
    return render_template("auth/login.html", form=form, error=error, host_org=organization_from_host()), status


@bp.errorhandler(429)
def login_throttled(_error=None):
    """Shown instead of the login page while an account or address is over its attempt limit (the log-in
    route's own 429 handler: the app's error pages know nothing of log-in)."""
    form = _login_form()
    error = _("Too many failed log-in attempts. Wait a few minutes and try again.")
    return render_template("auth/login.html", form=form, error=error, host_org=organization_from_host()), 429


@bp.route("/logout", methods=["GET", "POST"])
@member_required
def logout():
    if request.method == "GET":  # a link can't log anyone out; the confirm button posts with CSRF
        return render_template("auth/logout.html")

    go_offline(current_user)  # logging out closes every open state interval
    end_sessions(current_user)  # a copy of this session cookie must not log anyone back in
    logout_user()
    session.clear()
    flash(_("You have been logged out on every device."), "info")
    return redirect(url_for("auth.login"), code=303)


@bp.route("/invite/<token>", methods=["GET", "POST"])
@public
def invite(token: str):
    try:
        invitation = open_invitation(token)
    except ServiceError as exc:
        return render_template("auth/invite_invalid.html", message=exc.message), 410 if exc.code != "bad_token" else 404
    form = SetPasswordForm()
    error = None
    if form.validate_on_submit():
        try:
            member = accept_invitation(token, form.password.data)
        except ServiceError as exc:
            error = exc.message
        else:
            session.clear()
            login_user(member)
            flash(_("Welcome, %(name)s. Your account is active.", name=member.name), "success")
            return redirect(url_for("home.index"), code=303)
    status = 422 if (error or form.errors) else 200
    return render_template("auth/invite.html", form=form, member=invitation.member, error=error), status


@bp.post("/language")
@public
def language():
    """Switch the UI language: saved on the member when logged in, else in a cookie."""
    form = LanguageForm()
    target = safe_next(form.next.data) or safe_referrer() or "/"
    try:
        code = require_supported(form.code.data or "")
    except ServiceError as exc:
        return render_error(400, exc.message)
    if current_user.is_authenticated:
        set_ui_language(current_user, code)
    if form.announce.data == "1":
        with force_locale(code):  # said in the language just chosen
            flash(_("The portal is now shown in %(language)s.", language=dict(language_choices())[code]), "success")
    # htmx (the personal settings dialog): the page behind the dialog is loaded again, in the new language.
    response = make_response(("", 204, {"HX-Refresh": "true"}) if is_htmx() else redirect(target, code=303))
    response.set_cookie(LANGUAGE_COOKIE, code, max_age=YEAR, samesite="Lax")
    return response
