from flask import Blueprint

bp = Blueprint("org_admins", __name__, url_prefix="/admin/org-admins")

from portal.blueprints.org_admins import routes  # noqa: E402,F401
