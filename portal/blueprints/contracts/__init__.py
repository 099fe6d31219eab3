from flask import Blueprint

bp = Blueprint("contracts", __name__, url_prefix="/admin")

from portal.blueprints.contracts import billing, contract, organization, routes  # noqa: E402,F401
