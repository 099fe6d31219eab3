from flask import Blueprint

bp = Blueprint("workspace", __name__, url_prefix="/services/<service_key>")

from portal.blueprints.workspace import routes  # noqa: E402,F401
