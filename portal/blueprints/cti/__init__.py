from flask import Blueprint

bp = Blueprint("cti", __name__, url_prefix="/admin/cti")

from portal.blueprints.cti import routes  # noqa: E402,F401
