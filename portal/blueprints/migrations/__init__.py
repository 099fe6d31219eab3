from flask import Blueprint

bp = Blueprint("migrations", __name__, url_prefix="/admin/migrations")

from portal.blueprints.migrations import routes  # noqa: E402,F401
