from flask import jsonify, redirect, render_template, url_for
from flask_login import current_user

from portal.access import member_required, public
from portal.blueprints.home import bp
from portal.layout import current_service
from portal.services.health import check_health


@bp.get("/")
@member_required
def index():
    """Org admins land on Global Management; everyone else in the workspace of their current service."""
    if current_user.is_org_admin:
        return redirect(url_for("contracts.status"))
    service = current_service()
    if service is not None:
        return redirect(url_for("workspace.index", service_key=service.service_key))
    return render_template("home/no_service.html")


@bp.get("/healthz")
@public
def healthz():
    report = check_health()
    return jsonify(report), 200 if report["status"] == "ok" else 503
