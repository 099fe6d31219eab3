from flask import Blueprint

bp = Blueprint("service_members", __name__, url_prefix="/services/<service_key>/members")

from portal.blueprints.service_members import routes  # noqa: E402,F401
