from flask import Blueprint

bp = Blueprint("calls", __name__, url_prefix="/services/<service_key>/calls")

from portal.blueprints.calls import routes  # noqa: E402,F401
