from flask import Blueprint

bp = Blueprint("company_info", __name__, url_prefix="/admin/company-info")

from portal.blueprints.company_info import routes  # noqa: E402,F401
