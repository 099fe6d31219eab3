from flask import Blueprint

bp = Blueprint("helpcenter", __name__, url_prefix="/hc")

from portal.blueprints.helpcenter import routes  # noqa: E402,F401
