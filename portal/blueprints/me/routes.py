from flask import flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user

from portal.access import member_required
from portal.blueprints.me import bp
from portal.blueprints.placeholder import coming_soon
from portal.layout import SESSION_SERVICE_KEY, my_services
from portal.tenancy import get_or_404
from portal.models import Service


@bp.get("/settings")
@member_required
def settings():
    return render_template("me/settings.html")


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
