from flask import Blueprint

bp = Blueprint("permission_log", __name__, url_prefix="/admin")

from portal.blueprints.permission_log import routes  # noqa: E402,F401
