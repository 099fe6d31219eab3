from flask_babel import gettext as _

from portal.access import org_admin_required
from portal.blueprints.contracts import bp
from portal.blueprints.placeholder import coming_soon


@bp.get("/services")
@org_admin_required
def status():
    return coming_soon(_("Contract status"))


@bp.get("/services/new")
@org_admin_required
def new_service():
    return coming_soon(_("Add service"))


@bp.get("/billing")
@org_admin_required
def billing():
    return coming_soon(_("Billing"))


@bp.get("/organization")
@org_admin_required
def organization():
    return coming_soon(_("Organization info"))
