from flask import Blueprint

bp = Blueprint("me", __name__, url_prefix="/me")

from portal.blueprints.me import routes  # noqa: E402,F401
