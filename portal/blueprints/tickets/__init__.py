from flask import Blueprint

bp = Blueprint("tickets", __name__, url_prefix="/services/<service_key>/tickets")

from portal.blueprints.tickets import routes  # noqa: E402,F401
