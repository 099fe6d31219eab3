from flask import g, redirect, render_template, session, url_for
from flask_babel import gettext as _

from portal.access import service_role_required
from portal.blueprints.workspace import bp
from portal.errors import render_error
from portal.layout import SESSION_SERVICE_KEY


@bp.get("/workspace/<service_key>")
@service_role_required("agent")
def index(service_key: str):
    """The agent's workspace of one service (tickets, chat and phone arrive with later issues)."""
    if not g.service.is_usable:
        return render_error(403, _("%(name)s is not active, so it cannot be used now.", name=g.service.name))
    session[SESSION_SERVICE_KEY] = g.service.service_key
    return render_template("workspace/index.html", service=g.service, link=g.service_membership)


@bp.get("/services/<service_key>/")
@service_role_required("agent")
def moved(service_key: str):
    """The workspace's first address: bookmarks land on the one SPEC 12 names."""
    return redirect(url_for("workspace.index", service_key=service_key), code=301)
