"""Creating services, their basic-info rules, and which services a member works in."""
from __future__ import annotations

import re

from flask_babel import gettext as _
from sqlalchemy import select

from portal.extensions import db
from portal.models import (
    CtiSettings,
    EditorType,
    Member,
    Service,
    ServiceLanguage,
    ServiceMember,
    ServiceStatus,
    ServiceType,
)
from portal.services import ServiceError
from portal.services.catalog import is_time_zone, language_codes
from portal.services.ticket_fields import system_fields

SERVICE_KEY_RE = re.compile(r"^[A-Za-z]{1,40}$")


def basic_info_problems(name: str, languages: list[str], default_language: str, time_zone: str) -> list[ServiceError]:
    """Every rule of a service's basic info that the values break, each as its own refusal (a form shows them all
    at once, each at its field)."""
    problems = []
    name = (name or "").strip()
    if not name:
        problems.append(ServiceError(_("Enter the service name."), "bad_name"))
    elif len(name) > 100:
        problems.append(ServiceError(_("The service name is at most 100 characters."), "bad_name"))
    unknown = [code for code in languages if code not in language_codes()]
    if not languages:
        problems.append(ServiceError(_("Choose at least one help-center language."), "no_language"))
    elif unknown:
        problems.append(ServiceError(_("Unknown language code: %(codes)s.", codes=", ".join(unknown)), "bad_language"))
    elif default_language not in languages:
        problems.append(ServiceError(_("Mark exactly one of the chosen languages as the default."),
                                     "bad_default_language"))
    if not is_time_zone(time_zone):
        problems.append(ServiceError(_("Unknown time zone: %(tz)s.", tz=time_zone), "bad_time_zone"))
    return problems


def check_basic_info(name: str, languages: list[str], default_language: str, time_zone: str) -> str:
    """The rules every service's basic info follows (wizard, edit page and API alike); returns the name."""
    problems = basic_info_problems(name, languages, default_language, time_zone)
    if problems:
        raise problems[0]
    return (name or "").strip()


def service_key_problem(organization_id: int, service_key: str) -> ServiceError | None:
    """Why `service_key` cannot name a new service of the organization, or None: ASCII letters only, unique."""
    service_key = (service_key or "").strip()
    if not SERVICE_KEY_RE.match(service_key):
        return ServiceError(_("A service ID is 1–40 ASCII letters (A–Z, a–z)."), "bad_service_key")
    taken = db.session.scalars(
        select(Service.id).where(Service.organization_id == organization_id, Service.service_key == service_key)
    ).first()
    if taken is not None:
        return ServiceError(_("The service ID %(key)s is already used.", key=service_key), "service_key_taken")
    return None


def check_service_key(organization_id: int, service_key: str) -> str:
    """A service ID is ASCII letters only and unique in the organization."""
    problem = service_key_problem(organization_id, service_key)
    if problem is not None:
        raise problem
    return (service_key or "").strip()


def create_service(
    organization_id: int,
    *,
    service_key: str,
    name: str,
    type: ServiceType,
    languages: list[str],
    default_language: str,
    time_zone: str = "Asia/Seoul",
    editor_type: EditorType = EditorType.html,
    status: ServiceStatus = ServiceStatus.draft,
) -> Service:
    """Create a service (a draft until its contract is signed) with its CTI settings and system ticket fields."""
    name = check_basic_info(name, languages, default_language, time_zone)
    service_key = check_service_key(organization_id, service_key)
    service = Service(
        organization_id=organization_id,
        service_key=service_key,
        name=name,
        type=type,
        time_zone=time_zone,
        editor_type=editor_type,
        status=status,
    )
    set_languages(service, languages, default_language)
    db.session.add(service)
    db.session.flush()
    # What the service's pages read exists from the start: no page creates it on first view.
    db.session.add(CtiSettings(organization_id=organization_id, service_id=service.id))
    db.session.add_all(system_fields(service))
    db.session.flush()
    return service


def set_languages(service: Service, languages: list[str], default_language: str) -> None:
    """Make the service's languages exactly `languages`, in place: the old default and dropped languages go
    first, so the unique indexes (one row per code, one default) never see two rows at once."""
    wanted = list(dict.fromkeys(languages))
    existing = {lang.code: lang for lang in service.languages}
    for code, lang in existing.items():
        if code not in wanted:
            service.languages.remove(lang)
        elif lang.is_default and code != default_language:
            lang.is_default = False
    if service.id is not None:
        db.session.flush()
    for code in wanted:
        if code in existing:
            existing[code].is_default = code == default_language
        else:
            service.languages.append(ServiceLanguage(code=code, is_default=code == default_language))


def services_of(member: Member, *, usable_only: bool = True) -> list[Service]:
    """The services a member works in, by name; suspended and terminated ones are left out by default."""
    query = (
        select(Service)
        .join(ServiceMember, ServiceMember.service_id == Service.id)
        .where(ServiceMember.member_id == member.id, Service.organization_id == member.organization_id)
        .order_by(Service.name)
    )
    if usable_only:
        query = query.where(Service.status == ServiceStatus.active)
    return list(db.session.scalars(query))


def services_of_organization(organization_id: int) -> list[Service]:
    """The organization's active services, by name."""
    return list(db.session.scalars(select(Service).where(Service.organization_id == organization_id,
                                                         Service.status == ServiceStatus.active)
                                   .order_by(Service.name)))
