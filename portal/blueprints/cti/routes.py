from flask_babel import gettext as _

from portal.access import org_admin_required
from portal.blueprints.cti import bp
from portal.blueprints.placeholder import coming_soon


@bp.get("")
@org_admin_required
def settings():
    return coming_soon(_("CTI settings"))


@bp.get("/agents")
@org_admin_required
def agents():
    return coming_soon(_("CTI agents"))
