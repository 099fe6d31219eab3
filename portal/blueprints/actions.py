"""How a handler acts: who acts (`current_actor`), one service call that a refusal undoes (`attempt`), and the
shape every confirm-button route shares (`act`). Handlers never commit: the request does (portal.transactions)."""
from __future__ import annotations

from typing import Callable, TypeVar

from flask import flash, g, redirect, request
from flask_login import current_user

from portal.errors import form_expired
from portal.forms import ConfirmForm
from portal.htmx import is_htmx
from portal.services import Actor, ServiceError
from portal.tenancy import current_org_id
from portal.transactions import savepoint

T = TypeVar("T")


def current_actor() -> Actor:
    """Who acts in this request, as services record it: the logged-in member and the address they act from, or
    for the Open API the organization whose key was sent."""
    if "api_org" in g:
        return Actor(current_org_id(), None)
    return Actor(current_org_id(), current_user.id, request.remote_addr)


def attempt(change: Callable[[], T]) -> tuple[T | None, ServiceError | None]:
    """Run one service call in a savepoint: a refusal (ServiceError) undoes what the call wrote, and only that,
    and comes back as the error; `(result, None)` otherwise."""
    try:
        with savepoint():
            return change(), None
    except ServiceError as exc:
        return None, exc


def leave_dialog(target: str):
    """After a form in a dialog succeeded: htmx is told to load `target` rather than fill the dialog with it; a
    plain form gets a 303 there."""
    if is_htmx():
        return "", 204, {"HX-Redirect": target}
    return redirect(target, code=303)


def act(change: Callable[[], T], success: str | Callable[[T], str | None] | None, back: str, *,
        refused_back: str | None = None, partial: Callable[[str | None], str] | None = None,
        refused_status: int = 409):
    """Check the confirm form, run `change` (one service call), say so, go back with 303. `success` is the
    message, or makes it from the call's result (None: say nothing). A refusal is flashed instead and goes to
    `refused_back` (else `back`). An htmx request given `partial` (the fragment the button sits in, rendered
    with the error or None) gets that back in place: 400 for an expired form, `refused_status` for a refusal."""
    result, error, status = None, None, 200
    if not ConfirmForm().validate_on_submit():
        error, status = form_expired(), 400
    else:
        result, refusal = attempt(change)
        if refusal is not None:
            error, status = refusal.message, refused_status
    if partial is not None and is_htmx():
        return partial(error), status
    if error:
        flash(error, "error")
        return redirect(refused_back if refused_back and status != 400 else back, code=303)
    message = success(result) if callable(success) else success
    if message:
        flash(message, "success")
    return redirect(back, code=303)
