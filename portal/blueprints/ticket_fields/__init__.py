from flask import Blueprint

bp = Blueprint("ticket_fields", __name__, url_prefix="/services/<service_key>/ticket-fields")

from portal.blueprints.ticket_fields import routes  # noqa: E402,F401
