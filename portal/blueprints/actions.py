"""The shape every confirm-button route shares: check the form, run one service call, commit, say so, go back."""
from __future__ import annotations

from typing import Callable

from flask import flash, redirect

from portal.forms import ConfirmForm
from portal.errors import form_expired
from portal.extensions import db
from portal.services import ServiceError


def act(change: Callable[[], object], success: Callable[[], str], back: str, *, refused_back: str | None = None):
    """Run `change` (a service call) for a plain POST form: a refusal is rolled back and flashed, a success is
    committed and flashed; either way the browser goes back with 303."""
    if not ConfirmForm().validate_on_submit():
        flash(form_expired(), "error")
        return redirect(back, code=303)
    try:
        change()
    except ServiceError as exc:
        db.session.rollback()
        flash(exc.message, "error")
        return redirect(refused_back or back, code=303)
    db.session.commit()
    flash(success(), "success")
    return redirect(back, code=303)
