from flask_babel import gettext as _

from portal.access import org_admin_required
from portal.blueprints.migrations import bp
from portal.blueprints.placeholder import coming_soon


@bp.get("")
@org_admin_required
def index():
    return coming_soon(_("Data migration"))
