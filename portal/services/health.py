"""Reachability of what the portal depends on, for load balancers and operators."""
from __future__ import annotations

from sqlalchemy import text

from portal.extensions import db
from portal.queue import get_redis


def check_health() -> dict[str, str]:
    report = {"database": "ok", "redis": "ok"}
    try:
        db.session.execute(text("SELECT 1"))
    except Exception as exc:  # any failure means "not reachable" to the caller
        db.session.rollback()
        report["database"] = f"error: {type(exc).__name__}"
    try:
        get_redis().ping()
    except Exception as exc:
        report["redis"] = f"error: {type(exc).__name__}"
    report["status"] = "ok" if all(v == "ok" for v in report.values()) else "error"
    return report
