"""Display names of service types and statuses, in the UI language."""
from flask_babel import format_currency
from flask_babel import gettext as _

from portal.models import ServiceStatus, ServiceType


def type_label(value: ServiceType) -> str:
    return {ServiceType.counseling: _("Counseling management"), ServiceType.issue: _("Issue management")}[value]


def status_label(value: ServiceStatus) -> str:
    return {
        ServiceStatus.draft: _("Draft"), ServiceStatus.active: _("In use"),
        ServiceStatus.suspended: _("Suspended"), ServiceStatus.terminated: _("Terminated"),
    }[value]


def won(amount: int) -> str:
    return format_currency(amount, "KRW")


def unit_label(unit: str) -> str:
    return {"per_agent_month": _("per agent / month"), "per_1000": _("per 1,000 / month"),
            "flat_month": _("per month")}[unit]


def quantity_label(unit: str) -> str:
    return {"per_agent_month": _("agents"), "per_1000": _("× 1,000 items"), "flat_month": ""}[unit]


def feature_name(key: str) -> str:
    from portal.services.price_list import feature

    try:
        return feature(key).name
    except KeyError:
        return key


def register(app) -> None:
    app.jinja_env.globals.update(status_label=status_label, type_label=type_label, unit_label=unit_label,
                                 quantity_label=quantity_label, feature_name=feature_name)
    app.jinja_env.filters["won"] = won
