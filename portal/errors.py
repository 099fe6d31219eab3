"""Error pages: a full page for browsers, a small fragment for htmx, in the member's language."""
from __future__ import annotations

from flask import Flask, current_app, jsonify, render_template, request
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError

from portal.extensions import db
from portal.htmx import is_htmx

PROBLEM = "application/problem+json"


def problem(status: int, code: str, detail: str, **extra):
    """An RFC 9457 problem document with a stable machine-readable `code` (the Open API's every error)."""
    body = {"type": f"https://portal.example/problems/{code}", "title": code.replace("_", " "), "status": status,
            "code": code, "detail": detail, **extra}
    response = jsonify(body)
    response.status_code = status
    response.mimetype = PROBLEM
    return response


def form_expired() -> str:
    """The message for a form whose CSRF token is missing, stale or forged."""
    return _("Your form expired or was sent from elsewhere. Reload the page and try again.")


def _messages() -> dict[int, tuple[str, str]]:
    return {
        400: (_("Bad request"), _("The request could not be understood. Check what you entered and try again.")),
        403: (_("No permission"), _("You do not have permission to open this page. Ask your organization admin.")),
        404: (_("Not found"), _("The page does not exist, or it belongs to another organization.")),
        405: (_("Not allowed"), _("This address does not accept that kind of request.")),
        413: (_("Too large"), _("The upload is too large. The limit is %(mb)d MB.", mb=_max_mb())),
        429: (_("Too many attempts"), _("Too many attempts. Wait a few minutes and try again.")),
        500: (_("Something went wrong"), _("An unexpected error occurred. Nothing was changed; try again shortly.")),
    }


def _max_mb() -> int:
    return current_app.config["MAX_UPLOAD_MB"]


def render_error(status: int, detail: str | None = None):
    title, message = _messages().get(status, (str(status), ""))
    if request.path.startswith("/api/"):  # API clients get a problem document, never a page
        return problem(status, {400: "bad_request", 404: "not_found", 405: "method_not_allowed", 413: "too_large",
                                429: "rate_limited", 500: "server_error"}.get(status, "error"), detail or message)
    if is_htmx() and _destroys_its_target():
        return render_template("errors/_flash.html", message=detail or message), status, {
            "HX-Retarget": "#flashes", "HX-Reswap": "innerHTML show:top"}
    template = "errors/_error.html" if is_htmx() else "errors/error.html"
    return render_template(template, status=status, title=title, message=detail or message), status


def _destroys_its_target() -> bool:
    """An htmx action (a toggle, an inline edit, a form) that failed would swap the error over the row or form it
    came from, so the error goes to the page's messages instead and the row stays as it was. A GET (a dialog, a
    search, a poll that should stop) and anything inside the dialog (`X-Dialog`, set on its host) keep the error
    box in place."""
    return request.method != "GET" and request.headers.get("X-Dialog") != "1"


def api_error(error: HTTPException):
    """Every HTTP error of the Open API as a problem document; a request that failed the schema (webargs)
    lists the messages per field."""
    messages = (getattr(error, "data", None) or {}).get("messages")
    if error.code == 422 and messages:
        return problem(422, "invalid_request", _("The request does not match the schema; see errors."),
                       errors=messages)
    if error.code == 400 and messages:
        return problem(400, "malformed_json", _("The body must be a JSON object."), errors=messages)
    if error.code in (400, 401, 403, 404, 405, 409, 413, 429):
        return render_error(error.code)
    return render_error(500) if (error.code or 500) >= 500 else render_error(400)


def register(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def csrf_error(error: CSRFError):
        return render_error(400, form_expired())

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        if request.path.startswith("/api/"):
            return api_error(error)
        if error.code in (400, 403, 404, 405, 413, 429):
            return render_error(error.code)
        return error

    @app.errorhandler(InternalServerError)
    def server_error(error):
        db.session.rollback()
        return render_error(500)
