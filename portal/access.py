"""Who may call a view. Every view declares one level; `tests/test_access.py` walks the URL map against it.

Levels, lowest first: `public`, `member` (any logged-in member), `service_member` (a member of the
service in the URL, any role), `service_reader` (a member of that service or an org admin: read-only pages), `service_manager` (a manager
of that service, or an org admin),
`org_admin`. Org admin alone grants no counseling features (SPEC 1), so `service_member` does not
admit an org admin who is not in the service.
"""
from __future__ import annotations

from functools import wraps
from typing import Callable

from flask import abort, flash, g, redirect, request
from flask_login import current_user, login_required, login_url

from portal.extensions import login_manager
from portal.htmx import is_htmx
from portal.models import Service, ServiceRole
from portal.redirects import same_site_path
from portal.services.memberships import membership
from portal.tenancy import get_or_404

LEVELS = ("public", "member", "service_member", "service_reader", "service_manager", "org_admin")


def _mark(view: Callable, level: str) -> Callable:
    view.access_level = level  # type: ignore[attr-defined]
    return view


def public(view: Callable) -> Callable:
    return _mark(view, "public")


def log_in_first():
    """Flask-Login's answer to a request without a live session: the log-in page, then back. For htmx (a toggle,
    a poll, after the session ended on log-out or a password change elsewhere) the whole page goes there, not
    the row the request targets, and comes back to that page, not to the htmx endpoint."""
    flash(str(login_manager.login_message), login_manager.login_message_category)
    if is_htmx():
        back = same_site_path(request.headers.get("HX-Current-URL"))
        return "", 401, {"HX-Redirect": login_url(login_manager.login_view, next_url=back)}
    return redirect(login_url(login_manager.login_view, next_url=request.url))


def member_required(view: Callable) -> Callable:
    return _mark(login_required(view), "member")


def org_admin_required(view: Callable) -> Callable:
    @wraps(view)
    def wrapper(*args, **kwargs):
        if not current_user.is_org_admin:
            abort(403)
        return view(*args, **kwargs)

    return _mark(login_required(wrapper), "org_admin")


def service_role_required(role: str = "agent") -> Callable[[Callable], Callable]:
    """Load the service named by the `service_key` URL argument (404 outside the organization) into
    `g.service`, then require `role`: "agent" admits any member of the service, "reader" any member or an
    org admin (read-only pages such as the ticket list), "manager" a manager of it or an org admin."""
    if role not in ("agent", "reader", "manager"):
        raise ValueError(role)

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapper(*args, **kwargs):
            service = get_or_404(Service, service_key=kwargs["service_key"])
            link = membership(current_user.id, service.id)
            allowed = link is not None
            if role == "manager":
                allowed = current_user.is_org_admin or (link is not None and link.role == ServiceRole.manager)
            elif role == "reader":
                allowed = current_user.is_org_admin or link is not None
            if not allowed:
                abort(403)
            g.service, g.service_membership = service, link
            return view(*args, **kwargs)

        level = {"manager": "service_manager", "reader": "service_reader", "agent": "service_member"}[role]
        return _mark(login_required(wrapper), level)

    return decorator
