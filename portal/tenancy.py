"""The one place tenant queries are scoped, for the UI and the Open API alike. A record of another organization is
simply not found (404)."""
from __future__ import annotations

from typing import TypeVar

from flask import abort, g
from flask_login import current_user
from sqlalchemy import Select, select

from portal.extensions import db

T = TypeVar("T")


def current_org_id() -> int:
    """The organization this request acts for: the one whose Open API key was sent, else the logged-in member's."""
    if "api_org" in g:
        return g.api_org.id
    if not current_user.is_authenticated:
        abort(404)
    return current_user.organization_id


def scoped(model: type[T], organization_id: int | None = None) -> Select[tuple[T]]:
    """`select(model)` limited to one organization (the current one unless given)."""
    org_id = current_org_id() if organization_id is None else organization_id
    return select(model).where(model.organization_id == org_id)  # type: ignore[attr-defined]


def get_or_404(model: type[T], organization_id: int | None = None, **filters) -> T:
    """Load one row of the current organization by `filters`, or answer 404."""
    row = db.session.scalars(scoped(model, organization_id).filter_by(**filters).limit(1)).first()
    if row is None:
        abort(404)
    return row
