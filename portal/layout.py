"""What every page's layout needs: the Global Management menu, the service switcher, the languages."""
from __future__ import annotations

from flask import Flask, current_app, g, request, session
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from portal.i18n import language_choices
from portal.models import Service, ServiceRole
from portal.models.base import utcnow
from portal.services.agent_states import current, touch
from portal.services.assignment import Switch, switch_of
from portal.services.cti_log import log_services
from portal.services.memberships import membership
from portal.services.service_setup import services_of, services_of_organization
from portal.services.softphone import AFTER_CALL_CHOICES, available, status

# SPEC order. (endpoint, label, endpoints that highlight the entry)
GLOBAL_MENU = [
    ("contracts.status", _l("Contracted services"), ("contracts.",)),
    ("org_admins.index", _l("Org admins"), ("org_admins.",)),
    ("company_info.index", _l("Company info"), ("company_info.",)),
    ("cti.settings", _l("CTI management"), ("cti.",)),
    ("permission_log.index", _l("Permission change log"), ("permission_log.",)),
    ("migrations.index", _l("Data migration"), ("migrations.",)),
]

# A service's own menus, SPEC 12 order: (endpoint, label, who may use it). "member": any member of the service;
# "reader": a member or an org admin; "manager": its manager or an org admin; "phone": a member with the phone
# permission, or an org admin.
SERVICE_MENU = [
    ("workspace.index", _l("Workspace"), "member"),
    ("tickets.index", _l("Tickets"), "reader"),
    ("calls.index", _l("Calls"), "phone"),
    ("service_members.index", _l("Members"), "manager"),
    ("ticket_fields.index", _l("Ticket fields"), "manager"),
    ("board.index", _l("Supervisor board"), "manager"),
]

SESSION_SERVICE_KEY = "service_key"
# What an agent can pick in the top bar (call states come from the telephony).
PHONE_CHOICES = ("ready", "ticket_work", "chat_work", "break", "meal", "training", "reporting", "meeting", "coaching",
                 "offline")
CHAT_CHOICES = ("waiting", "online", "break", "offline")


def my_services() -> list[Service]:
    """The services of the member, looked up once per request (the top bar and the page both ask)."""
    if not current_user.is_authenticated:
        return []
    if "my_services" not in g:
        g.my_services = services_of(current_user)
    return g.my_services


def current_service() -> Service | None:
    """The service the member is working in (kept in the session; agents work in one at a time)."""
    services = my_services()
    chosen = session.get(SESSION_SERVICE_KEY)
    for service in services:
        if service.service_key == chosen:
            return service
    return services[0] if services else None


def sidebar_services() -> list[tuple[Service, list[tuple[str, str]], bool]]:
    """The service menus of the sidebar: (service, [(endpoint, label)], open). A member sees the service they
    work in; an org admin every active service of the organization (the one in the address, or the current
    one, open), so every page of SPEC 12 is one or two clicks from where they land."""
    if not current_user.is_authenticated:
        return []
    shown = (request.view_args or {}).get("service_key") or session.get(SESSION_SERVICE_KEY)
    if current_user.is_org_admin:
        services = services_of_organization(current_user.organization_id)
    else:
        service = current_service()
        services = [service] if service is not None else []
    menus = []
    for service in services:
        link = membership(current_user.id, service.id)
        admin, manager = current_user.is_org_admin, link is not None and link.role == ServiceRole.manager
        allowed = {"member": link is not None, "reader": admin or link is not None,
                   "manager": admin or manager, "phone": admin or (link is not None and link.can_phone)}
        entries = [(endpoint, label) for endpoint, label, who in SERVICE_MENU if allowed[who]]
        menus.append((service, entries, service.service_key == shown or len(services) == 1))
    return menus


def cti_log_services() -> list[Service]:
    """The CTI services whose log the member may download, looked up once per request (the account menu offers
    the page only when there is one, and the page lists them)."""
    if not current_user.is_authenticated:
        return []
    if "cti_log_services" not in g:
        g.cti_log_services = log_services(current_user)
    return g.cti_log_services


def agent_link(service: Service | None):
    if service is None or not current_user.is_authenticated:
        return None
    return membership(current_user.id, service.id)


def agent_current_states():
    return current(current_user.id)


def phone_widget_agent(service: Service | None):
    """The member's CTI credentials when the phone widget applies in this service, else None."""
    return available(current_user, service) if current_user.is_authenticated else None


def phone_status(service: Service, agent):
    return status(current_user, service, agent)


def my_time_zone() -> str:
    """The time zone the member reads and types times in: members have none of their own, so the service they
    work in (their first one unless they chose another), else the portal's default. Always named beside a time."""
    service = current_service()
    return service.time_zone if service is not None else current_app.config["BABEL_DEFAULT_TIMEZONE"]


def my_assignment() -> Switch | None:
    """The member's assignment switch as it stands now, for members of a service (it means nothing to others).
    An "off until" that has passed shows as on: the scheduled job or the minute sweep turns it on in the
    database at the latest a minute later, and a page read does not write."""
    if not current_user.is_authenticated or not my_services():
        return None
    shown = switch_of(current_user)
    if not shown.on and shown.until is not None and shown.until <= utcnow():
        return Switch(True, None, None, None, shown.until)
    return shown


def record_activity(response):
    """Any request a member makes (not the panels that poll by themselves) counts as activity for the idle
    timeout; written at most once a minute, at the end of the request, with its changes."""
    if (response.status_code < 400 and current_user.is_authenticated and request.endpoint not in (None, "static")
            and not request.headers.get("X-Poll")):
        touch(current_user)
    return response


def register(app: Flask) -> None:
    app.after_request(record_activity)

    @app.template_filter("dict_without_none")
    def dict_without_none(attributes: dict) -> dict:
        return {k: v for k, v in attributes.items() if v is not None}

    @app.context_processor
    def layout_context():
        return {
            "global_menu": GLOBAL_MENU,
            "my_services": my_services,
            "sidebar_services": sidebar_services,
            "current_service": current_service,
            "cti_log_services": cti_log_services,
            "language_choices": language_choices(),
            "current_locale": str(get_locale()),
            "agent_link": agent_link,
            "agent_current_states": agent_current_states,
            "my_assignment": my_assignment,
            "my_time_zone": my_time_zone,
            "phone_widget_agent": phone_widget_agent,
            "phone_status": phone_status,
            "after_call_choices": AFTER_CALL_CHOICES,
            "phone_choices": PHONE_CHOICES,
            "chat_choices": CHAT_CHOICES,
        }
