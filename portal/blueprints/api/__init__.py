"""The Open API (/api/v1): JSON, authenticated with the organization key, described by an OpenAPI 3 document
generated from the code by flask-smorest (chosen over APIFlask because it plugs into our plain Flask app and
blueprints as an extension, with marshmallow schemas, instead of replacing the app class).

`bp` serves the document and its readable docs page; the resource blueprints are registered on `api`."""
from flask import Blueprint
from flask_smorest import Api

bp = Blueprint("api", __name__, url_prefix="/api/v1")


class PortalApi(Api):
    """No docs blueprint of flask-smorest (its UIs load scripts from CDNs): `docs.py` serves the document
    and a server-rendered page."""

    def _register_doc_blueprint(self):
        return None

    def _register_error_handlers(self):
        return None  # portal.errors answers problem documents for every /api/ path


api = PortalApi(spec_kwargs={
    "info": {"description": "Manage an organization's services, contracts and more with its organization key "
                            "(`Authorization: Bearer <key>`). Errors are RFC 9457 problem documents with a stable "
                            "`code`, in the language of `Accept-Language` (ko, en)."},
    "servers": [{"url": "/"}],
})


def register(app) -> None:
    # Here, not at the top: the resource modules import `api` and `bp` from this package.
    from portal.blueprints.api import cti, reports, services, tickets
    from portal.extensions import csrf

    api.init_app(app)
    api.spec.components.security_scheme("orgKey", {"type": "http", "scheme": "bearer",
                                                   "description": "The organization API key"})
    for blueprint in (services.blp, tickets.blp, reports.blp, cti.blp):
        csrf.exempt(blueprint)
        api.register_blueprint(blueprint)


from portal.blueprints.api import docs  # noqa: E402,F401
